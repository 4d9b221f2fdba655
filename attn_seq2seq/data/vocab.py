"""Vocabularies: token <-> id maps with reserved pad/bos/eos/unk ids, saved as JSON.

Three kinds share one interface: character- and word-level vocabularies built from a training
split (`TokenVocabulary`), and a SentencePiece model for translation (`SentencePieceVocabulary`).
`Vocabulary.load(path)` restores either from its JSON file, so a trained run decodes without the
data that built it. `encode` never fails: a symbol outside the vocabulary becomes `UNK_ID`.
"""

from __future__ import annotations

import abc
import base64
import collections
import io
import itertools
import json
import re
from collections.abc import Iterable, Sequence

import numpy as np
import sentencepiece as spm
from etils import epath

from attn_seq2seq.choices import check_choice, unknown_choice
from attn_seq2seq.tokens import BOS_ID, EOS_ID, PAD_ID, RESERVED_TOKENS, UNK_ID

TOKEN_LEVELS = ("char", "word")


def _codepoints(text: str) -> np.ndarray:
  """[len(text)] uint32 code points; lone surrogates (undecodable input bytes) pass through."""
  return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)


def _without_surrogates(text: str) -> str:
  """`text` with each lone surrogate (an undecodable input byte) as '⁇', SentencePiece's own
  rendering of unk: SentencePiece rejects surrogates, and would silently drop U+FFFD."""
  return _SURROGATES.sub("\u2047", text)


_SURROGATES = re.compile("[\ud800-\udfff]")


class Vocabulary(abc.ABC):
  """Maps text to ids (no BOS/EOS added) and ids back to text (up to the first EOS)."""

  kind: str  # 'char', 'word' or 'sentencepiece': the JSON tag `load` dispatches on.

  @property
  @abc.abstractmethod
  def size(self) -> int:
    """Number of ids, reserved ones included: valid ids are 0 .. size - 1."""

  @abc.abstractmethod
  def tokenize(self, text: str) -> list[str]:
    """Splits `text` into the token strings `encode` maps to ids, one for one."""

  @abc.abstractmethod
  def encode(self, text: str) -> list[int]:
    """Ids of `text`'s tokens; symbols outside the vocabulary map to UNK_ID."""

  @abc.abstractmethod
  def encode_batch(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Encodes many texts at once: (flat ids [sum of lengths] int32, lengths [len(texts)] int32)."""

  @abc.abstractmethod
  def tokens(self, ids: Iterable[int]) -> list[str]:
    """The token string of every id, one for one, specials included (for plot axes)."""

  @abc.abstractmethod
  def decode(self, ids: Iterable[int]) -> str:
    """Text of `ids` up to the first EOS, skipping PAD and BOS."""

  @abc.abstractmethod
  def to_json(self) -> dict:
    """A JSON-serialisable description `Vocabulary.from_json` restores."""

  def save(self, path: epath.PathLike) -> None:
    """Writes the vocabulary to `path` as JSON (local or remote path)."""
    epath.Path(path).write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=0))

  @staticmethod
  def from_json(obj: dict) -> Vocabulary:
    kind = obj.get("kind")
    if kind in TOKEN_LEVELS:
      return TokenVocabulary(obj["tokens"][len(RESERVED_TOKENS) :], level=kind)
    if kind == SentencePieceVocabulary.kind:
      return SentencePieceVocabulary(base64.b64decode(obj["model_proto"]))
    raise ValueError(unknown_choice("vocabulary kind", kind, (*TOKEN_LEVELS, "sentencepiece")))

  @staticmethod
  def load(path: epath.PathLike) -> Vocabulary:
    """Reads a vocabulary written by `save`, whatever its kind."""
    return Vocabulary.from_json(json.loads(epath.Path(path).read_text()))

  @staticmethod
  def _until_eos(ids: Iterable[int]) -> list[int]:
    """`ids` up to the first EOS, without PAD and BOS."""
    ids = itertools.takewhile(lambda i: i != EOS_ID, (int(i) for i in ids))
    return [i for i in ids if i not in (PAD_ID, BOS_ID)]


class TokenVocabulary(Vocabulary):
  """A character- or word-level vocabulary (words are whitespace-separated).

  Ids 0-3 are the reserved tokens; the others follow in the order given to the constructor
  (`build` sorts by descending training count, ties alphabetically, so it is deterministic).
  """

  def __init__(self, tokens: Sequence[str], level: str):
    check_choice("tokenizer level", level, TOKEN_LEVELS)
    tokens = list(tokens)
    if set(tokens) & set(RESERVED_TOKENS) or len(set(tokens)) != len(tokens):
      raise ValueError("vocabulary tokens must be distinct and exclude the reserved tokens")
    if level == "char" and any(len(t) != 1 for t in tokens):
      raise ValueError("a char-level vocabulary holds single characters only")
    self.kind = level
    self._tokens = [*RESERVED_TOKENS, *tokens]
    self._ids = {t: i for i, t in enumerate(self._tokens) if i >= len(RESERVED_TOKENS)}
    # Sorted code points -> ids, for vectorised char-level encoding (`_encode_chars`).
    codepoints = np.array([ord(t) for t in tokens] if level == "char" else [], np.uint32)
    order = np.argsort(codepoints)
    self._sorted_codepoints = codepoints[order]
    self._codepoint_ids = (order + len(RESERVED_TOKENS)).astype(np.int32)

  @classmethod
  def build(cls, texts: Iterable[str], level: str) -> TokenVocabulary:
    """A vocabulary of every token in `texts`, most frequent first (ties alphabetically)."""
    if level == "char":
      codepoints = _codepoints("".join(texts))
      unique, unique_counts = np.unique(codepoints, return_counts=True)
      counts = dict(zip(map(chr, unique.tolist()), unique_counts.tolist(), strict=True))
    elif level == "word":
      counts = collections.Counter(itertools.chain.from_iterable(t.split() for t in texts))
    else:
      raise ValueError(unknown_choice("tokenizer level", level, TOKEN_LEVELS))
    tokens = sorted((t for t in counts if t not in RESERVED_TOKENS), key=lambda t: (-counts[t], t))
    return cls(tokens, level)

  @property
  def size(self) -> int:
    return len(self._tokens)

  def tokenize(self, text: str) -> list[str]:
    return list(text) if self.kind == "char" else text.split()

  def encode(self, text: str) -> list[int]:
    return [self._ids.get(t, UNK_ID) for t in self.tokenize(text)]

  def encode_batch(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    if self.kind == "char":
      lengths = np.fromiter(map(len, texts), np.int32, len(texts))
      return self._encode_chars("".join(texts)), lengths
    words = [text.split() for text in texts]
    lengths = np.fromiter(map(len, words), np.int32, len(words))
    flat = itertools.chain.from_iterable(words)  # map() with two iterables stays in C:
    ids = map(self._ids.get, flat, itertools.repeat(UNK_ID))  # get(word, UNK_ID) per word.
    return np.fromiter(ids, np.int32, int(lengths.sum())), lengths

  def _encode_chars(self, text: str) -> np.ndarray:
    """Ids [len(text)] of every character: a binary search over the code points, no Python loop."""
    codepoints = _codepoints(text)
    if not self._sorted_codepoints.size:
      return np.full(codepoints.shape, UNK_ID, np.int32)
    last = self._sorted_codepoints.size - 1
    pos = np.searchsorted(self._sorted_codepoints, codepoints).clip(max=last)
    found = self._sorted_codepoints[pos] == codepoints
    return np.where(found, self._codepoint_ids[pos], UNK_ID).astype(np.int32)

  def tokens(self, ids: Iterable[int]) -> list[str]:
    return [self._tokens[int(i)] for i in ids]

  def decode(self, ids: Iterable[int]) -> str:
    separator = "" if self.kind == "char" else " "
    return separator.join(self._tokens[i] for i in self._until_eos(ids))

  def to_json(self) -> dict:
    return {"kind": self.kind, "tokens": self._tokens}


class SentencePieceVocabulary(Vocabulary):
  """A SentencePiece model whose reserved ids equal PAD_ID, BOS_ID, EOS_ID and UNK_ID."""

  kind = "sentencepiece"

  def __init__(self, model_proto: bytes):
    self._model_proto = model_proto
    self._sp = spm.SentencePieceProcessor(model_proto=model_proto)
    reserved = (self._sp.pad_id(), self._sp.bos_id(), self._sp.eos_id(), self._sp.unk_id())
    if reserved != (PAD_ID, BOS_ID, EOS_ID, UNK_ID):
      raise ValueError(f"SentencePiece model has pad/bos/eos/unk ids {reserved}, need 0/1/2/3")

  @classmethod
  def train(cls, sentences: Iterable[str], vocab_size: int) -> SentencePieceVocabulary:
    """Trains a unigram model on `sentences` (smaller than `vocab_size` if the text is tiny)."""
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
      sentence_iterator=iter(sentences),
      model_writer=model,
      vocab_size=vocab_size,
      model_type="unigram",
      character_coverage=0.9995,
      hard_vocab_limit=False,
      pad_id=PAD_ID,
      bos_id=BOS_ID,
      eos_id=EOS_ID,
      unk_id=UNK_ID,
      pad_piece=RESERVED_TOKENS[PAD_ID],
      bos_piece=RESERVED_TOKENS[BOS_ID],
      eos_piece=RESERVED_TOKENS[EOS_ID],
      unk_piece=RESERVED_TOKENS[UNK_ID],
      num_threads=1,
      minloglevel=2,
    )  # One thread: the same sentences give the same model.
    return cls(model.getvalue())

  @property
  def size(self) -> int:
    return self._sp.get_piece_size()

  def tokenize(self, text: str) -> list[str]:
    return self._sp.encode(_without_surrogates(text), out_type=str)

  def encode(self, text: str) -> list[int]:
    return self._sp.encode(_without_surrogates(text))

  def encode_batch(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    pieces = self._sp.encode([_without_surrogates(text) for text in texts])
    lengths = np.fromiter(map(len, pieces), np.int32, len(pieces))
    ids = np.fromiter(itertools.chain.from_iterable(pieces), np.int32, int(lengths.sum()))
    return ids, lengths

  def tokens(self, ids: Iterable[int]) -> list[str]:
    return [self._sp.id_to_piece(int(i)) for i in ids]

  def decode(self, ids: Iterable[int]) -> str:
    return self._sp.decode(self._until_eos(ids))

  def to_json(self) -> dict:
    return {"kind": self.kind, "model_proto": base64.b64encode(self._model_proto).decode("ascii")}
