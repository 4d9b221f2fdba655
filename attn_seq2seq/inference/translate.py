r"""Translating raw text lines with a trained run: `Translator` and `translate_stream` (the
library behind `python -m attn_seq2seq.translate`, whose docstring is the command's usage).

    translator = Translator(load_run("runs/dates"), beam_size=5, alpha=0.6)
    [t.text for t in translator.translate(["monday 14 august 1995", ""])]

Lines are tokenised with the run's saved source vocabulary; a symbol outside it becomes `<unk>`.
An empty line (no tokens, or only whitespace) gives an empty output; a line longer than
`max_src_len` tokens is not translated (`Translation.too_long`). The search is the run's
(`SearchSpec.of_experiment`: its output length limit) with the options given.

Batching, and why outputs never depend on how lines are grouped: each group of lines is sorted by
length and decoded, then returned in input order. The search itself always runs on the same
shapes: `DECODE_ROWS` rows (the last call of a length bucket is filled with dummy rows) by a
source length rounded up to a fixed grid (8, 12, 16, 24, 32, 48, ..., `max_src_len`). A
sentence's row is computed from its own data only, whatever its neighbours and its position; but
XLA:CPU matmuls of a different batch size or source length can differ in the last bit, which
could flip a near-tie. Fixed shapes make every output bitwise identical for any grouping. Each
bucket shape compiles once. Decoding runs on the first device.
"""

import dataclasses
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, TextIO

import numpy as np

from attn_seq2seq import search
from attn_seq2seq.errors import ConfigError, UserError
from attn_seq2seq.inference import trained_run
from attn_seq2seq.models.model_config import ATTENTION_DECODERS

DECODE_ROWS = 64  # rows of every search call (the reference benchmark's batch size)
_SMALLEST_BUCKET = 8  # the shortest padded source length


class InputError(UserError):
  """Input that cannot be read; the message is one line naming the line or file."""


@dataclasses.dataclass(frozen=True)
class Translation:
  """The result for one input line.

  text:         the output line ('' for an empty or over-long input).
  src_tokens:   the source token strings (as in the input, before mapping to `<unk>`).
  tgt_tokens:   the output token strings, `</s>` included ([] if not translated).
  attn_weights: `[len(tgt_tokens), len(src_tokens)]` attention weights (None if not translated).
  too_long:     the line has more than `max_src_len` tokens and was not translated.
  """

  text: str
  src_tokens: list[str]
  tgt_tokens: list[str]
  attn_weights: np.ndarray | None
  too_long: bool = False


def length_grid(max_src_len: int, smallest: int = _SMALLEST_BUCKET) -> tuple[int, ...]:
  """Padded source lengths: powers of two and 1.5 times powers of two from `smallest`, cut at
  `max_src_len`, which is always the last (at most 1/3 of a padded row is padding beyond
  `smallest`). E.g. 40 -> (8, 12, 16, 24, 32, 40)."""
  grid, length = [], smallest
  while length < max_src_len:
    grid.append(length)
    length = length * 3 // 2 if length & (length - 1) == 0 else length * 4 // 3
  return (*grid, max_src_len)


def default_max_src_len(run: trained_run.Run) -> int:
  """The location scorer's addressable positions; otherwise twice the longest training source."""
  addressable = _addressable_positions(run)
  if addressable is not None:
    return addressable
  return 2 * max(int(src_len) for src_len, _ in run.record["task"]["bucket_shapes"])


def _addressable_positions(run: trained_run.Run) -> int | None:
  """How many source positions the model can attend to: the location scorer's `max_src_len`;
  None (any number) for the other scorers and the fixed-vector decoders."""
  config = run.model.config
  if config.decoder in ATTENTION_DECODERS and config.scorer == "location":
    return config.max_src_len
  return None


class Translator:
  """Decodes lists of sentences with a loaded run (see the module docstring for the shapes).

  translator = Translator(load_run("runs/dates"), beam_size=5, alpha=0.6)
  [t.text for t in translator.translate(["monday 14 august 1995", ""])]
  """

  def __init__(
    self,
    run: trained_run.Run,
    *,
    max_src_len: int | None = None,
    decode_rows: int = DECODE_ROWS,
    **search_options,
  ):
    """`search_options`: `SearchSpec` fields (`beam_size`, `alpha`, ...) over the run's own
    (`SearchSpec.of_experiment(run.config)`: greedy search, the run's output length limit); the
    spec is `self.spec`."""
    self.spec = search.SearchSpec.of_experiment(run.config, **search_options)
    max_src_len = default_max_src_len(run) if max_src_len is None else max_src_len
    addressable = _addressable_positions(run)
    if addressable is not None and max_src_len > addressable:
      raise ConfigError(
        f"max_src_len={max_src_len} is beyond the {addressable} source positions "
        f"the location scorer of this run can address"
      )
    self.run, self.max_src_len, self._rows = run, max_src_len, decode_rows
    self._grid = np.array(length_grid(max_src_len))

  def _search(self, src_ids: np.ndarray, src_lengths: np.ndarray) -> search.Best:
    """The best hypothesis of each row (dispatched, not waited for)."""
    return search.decode(self.run.model, self.run.variables, src_ids, src_lengths, self.spec).best()

  def translate(self, lines: Sequence[str]) -> list[Translation]:
    """Translates `lines` (see `Translation`); the result does not depend on how lines are
    grouped into calls."""
    src_vocab, tgt_vocab = self.run.src_vocab, self.run.tgt_vocab
    flat_ids, lengths = src_vocab.encode_batch(lines)
    ids = np.split(flat_ids, np.cumsum(lengths)[:-1])
    todo = [
      i for i, n in enumerate(lengths) if 0 < n <= self.max_src_len and lines[i].strip()
    ]  # whitespace only: empty
    outputs = dict(zip(todo, self._decode([ids[i] for i in todo]), strict=True))
    translations = []
    for i, line in enumerate(lines):
      src_tokens = src_vocab.tokenize(line)
      if i not in outputs:
        translations.append(
          Translation("", src_tokens, [], None, bool(lengths[i] > self.max_src_len))
        )
        continue
      tokens, attn = outputs[i]
      translations.append(
        Translation(tgt_vocab.decode(tokens), src_tokens, tgt_vocab.tokens(tokens), attn)
      )
    return translations

  def _decode(self, sentences: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per sentence (1 <= length <= max_src_len): output ids with EOS, and attention
    `[output length, source length]`. Searches on fixed `[rows, grid length]` shapes."""
    lengths = np.array([len(s) for s in sentences], np.int32)
    padded_lengths = self._grid[np.searchsorted(self._grid, lengths)]
    order = np.lexsort((lengths, padded_lengths))  # by bucket, then length
    calls = []  # (sentence indices, search output on device)
    for padded in np.unique(padded_lengths):
      in_bucket = order[padded_lengths[order] == padded]
      for start in range(0, len(in_bucket), self._rows):
        chunk = in_bucket[start : start + self._rows]
        src_ids = np.zeros((self._rows, padded), np.int32)  # dummy rows: one PAD token
        src_lengths = np.ones(self._rows, np.int32)
        for row, i in enumerate(chunk):
          src_ids[row, : lengths[i]] = sentences[i]
        src_lengths[: len(chunk)] = lengths[chunk]
        calls.append((chunk, self._search(src_ids, src_lengths)))
    results = [None] * len(sentences)
    for chunk, best in calls:  # dispatch all calls, then wait for each
      tokens, out_lengths = np.asarray(best.tokens), np.asarray(best.lengths)
      attn = np.asarray(best.attn_weights)
      for row, i in enumerate(chunk):
        n = out_lengths[row]
        results[i] = (tokens[row, :n], attn[row, :n, : lengths[i]])
    return results


def read_lines(source: BinaryIO) -> Iterator[tuple[int, str]]:
  """`(line number from 1, text without its line ending)` for each line of a binary stream;
  `InputError` naming the line if it is not valid UTF-8."""
  for number, raw in enumerate(source, start=1):
    try:
      text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
      raise InputError(f"line {number} is not valid UTF-8 ({e.reason} at byte {e.start})") from None
    yield number, text.removesuffix("\n").removesuffix("\r")


def translate_stream(
  translator: Translator,
  source: BinaryIO,
  sink: TextIO,
  *,
  batch_size: int,
  attention_dir: str | Path | None = None,
  warn: Callable[[str], None] = lambda message: print(message, file=sys.stderr),
) -> None:
  """Translates every line of `source` into `sink`, `batch_size` lines at a time (see the
  module docstring); reports over-long lines through `warn`."""
  if attention_dir is not None:
    from attn_seq2seq.metrics.plots import plot_attention  # noqa: PLC0415  (matplotlib)
  for group in _groups(read_lines(source), batch_size):
    numbers, lines = zip(*group, strict=True)
    for number, result in zip(numbers, translator.translate(lines), strict=True):
      if result.too_long:
        warn(
          f"warning: line {number} has {len(result.src_tokens)} tokens, more than the "
          f"{translator.max_src_len} this model takes (--max_src_len); output left empty"
        )
      sink.write(result.text + "\n")
      if attention_dir is not None and result.attn_weights is not None:
        plot_attention(
          result.attn_weights,
          result.src_tokens,
          result.tgt_tokens,
          Path(attention_dir) / f"line_{number:06d}.png",
          title=f"line {number}",
        )
    sink.flush()


def _groups(items: Iterable, size: int) -> Iterator[list]:
  group = []
  for item in items:
    group.append(item)
    if len(group) == size:
      yield group
      group = []
  if group:
    yield group
