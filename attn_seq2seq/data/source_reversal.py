"""`data.reverse_source`: every source sequence read in reverse (Sutskever et al. 2014, §3.3).

The reversal lives in the source vocabulary, the one place where text becomes source ids for
training, evaluation and `translate` alike: `ReversedSourceVocabulary` wraps a vocabulary and
reverses the tokens of every text it encodes or tokenizes (so attention plots label each source
position with the token the model read there). `load_task` wraps the source vocabulary when its
data config says `reverse_source`, and `task.load_vocabs(workdir)` when the run's `config.json`
says so: a run's vocabulary files are the plain vocabulary, the option is the config's.

The gold alignment of the algorithmic tasks maps through the reversal: reversing a source within
its length sends position j to len - 1 - j, so output i of `copy` reads reversed position
len - 1 - i (the `reverse` alignment) and output i of `reverse` reads reversed position i (the
`copy` alignment).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from attn_seq2seq.data.vocab import Vocabulary

_REVERSED_ALIGNMENT = {"copy": "reverse", "reverse": "copy", None: None}


def reverse_flat_within_lengths(flat_ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
  """`flat_ids [sum(lengths)]`, sequence after sequence -> each sequence reversed in place."""
  lengths = np.asarray(lengths, np.int64)
  starts = np.repeat(np.cumsum(lengths) - lengths, lengths)  # [sum] start of each token's seq
  offsets = np.arange(len(flat_ids)) - starts  # [sum] position within its sequence
  ends = np.repeat(lengths, lengths)  # [sum] length of each token's sequence
  return np.asarray(flat_ids)[starts + ends - 1 - offsets]


def reversed_gold_alignment(gold_alignment: str | None) -> str | None:
  """The gold alignment of a task after its sources are reversed (copy <-> reverse)."""
  return _REVERSED_ALIGNMENT[gold_alignment]


class ReversedSourceVocabulary(Vocabulary):
  """`vocabulary`, reading every text's tokens in reverse order; ids map to the same tokens.

  `to_json` (and so `save`) writes the wrapped vocabulary: the reversal is a data option recorded
  in the run's config, not part of the vocabulary file."""

  def __init__(self, vocabulary: Vocabulary):
    self.vocabulary = vocabulary
    self.kind = vocabulary.kind

  @property
  def size(self) -> int:
    return self.vocabulary.size

  def tokenize(self, text: str) -> list[str]:
    return self.vocabulary.tokenize(text)[::-1]

  def encode(self, text: str) -> list[int]:
    return self.vocabulary.encode(text)[::-1]

  def encode_batch(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    flat_ids, lengths = self.vocabulary.encode_batch(texts)
    return reverse_flat_within_lengths(flat_ids, lengths).astype(flat_ids.dtype), lengths

  def tokens(self, ids: Iterable[int]) -> list[str]:
    return self.vocabulary.tokens(ids)

  def decode(self, ids: Iterable[int]) -> str:
    return self.vocabulary.decode(ids)

  def to_json(self) -> dict:
    return self.vocabulary.to_json()


def source_vocabulary(vocabulary: Vocabulary, reverse_source: bool) -> Vocabulary:
  """`vocabulary` (unwrapped if it already reverses), reversing sources iff `reverse_source`."""
  if isinstance(vocabulary, ReversedSourceVocabulary):
    vocabulary = vocabulary.vocabulary
  return ReversedSourceVocabulary(vocabulary) if reverse_source else vocabulary
