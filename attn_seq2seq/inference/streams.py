r"""Text streams in and out of a `Translator`: lines read as UTF-8, translations written as plain
text, n-best lists or JSON lines, attention saved as arrays (`translate_stream`).

* `text`, n_best 1: the best output, one line per input line (an empty line for an empty or
  over-long input).
* `text`, n_best K > 1: K tab-separated lines per translated input line, best first:
  `<line number>\t<rank from 1>\t<score>\t<log_prob>\t<length>\t<text>` (scores to 6 decimals,
  length in tokens with EOS); nothing for an empty or over-long input.
* `jsonl`: one JSON object per input line:
  `{"line": 3, "source": "...", "src_tokens": [...], "too_long": false, "hypotheses":
  [{"text": "...", "tokens": [..., "</s>"], "log_prob": -1.2, "score": -0.9, "length": 5,
  "attention": [[...], ...]}, ...]}`, best first; `attention` (with `with_attention`) is the
  hypothesis' `[output tokens incl. EOS, source tokens]` matrix, each row summing to 1 over the
  source (rows of zeros for the fixed-vector decoders). A non-finite number is written as null.
* `write_attention_npz`: one `.npz` per group of input lines, `lines_<first>-<last>.npz`, with
  one array per hypothesis, `line_<number>_hyp_<rank>`: `[output tokens incl. EOS, source
  tokens]` float32.
"""

import dataclasses
import json
import math
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, TextIO

import numpy as np

from attn_seq2seq.errors import UserError
from attn_seq2seq.inference.translate import Hypothesis, Translation, Translator

OUTPUT_FORMATS = ("text", "jsonl")


@dataclasses.dataclass(frozen=True)
class LineFormat:
  """How the result of each input line is written, by `translate_stream` and by pair scoring's
  `score_stream` (see the module docstrings)."""

  kind: str = "text"  # OUTPUT_FORMATS: text | jsonl (one JSON object per input line)
  with_attention: bool = False  # jsonl: each hypothesis (or scored pair) carries its attention

  def attention(self, attn_weights: np.ndarray) -> dict:
    """`{"attention": rows}` for a JSON record with `with_attention`, else `{}`."""
    return {"attention": attention_rows(attn_weights)} if self.with_attention else {}


def json_line(record: dict) -> str:
  """`record` as one line of JSON (UTF-8 as is; a non-finite number is an error: write null)."""
  return json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n"


def format_translation(
  number: int, line: str, translation: Translation, line_format: LineFormat, n_best: int
) -> str:
  """What input line `number` (`line`, translated as `translation`) writes: whole lines, each
  ending with a newline (possibly none; see the module docstring)."""
  if line_format.kind == "jsonl":
    return json_line(
      {
        "line": number,
        "source": line,
        "src_tokens": translation.src_tokens,
        "too_long": translation.too_long,
        "hypotheses": [_hypothesis_record(h, line_format) for h in translation.hypotheses],
      }
    )
  if n_best == 1:
    return translation.text + "\n"
  return "".join(
    f"{number}\t{rank}\t{h.score:.6f}\t{h.log_prob:.6f}\t{h.length}\t{h.text}\n"
    for rank, h in enumerate(translation.hypotheses, start=1)
  )


def _hypothesis_record(hypothesis: Hypothesis, line_format: LineFormat) -> dict:
  return {
    "text": hypothesis.text,
    "tokens": hypothesis.tokens,
    "log_prob": finite_or_none(hypothesis.log_prob),
    "score": finite_or_none(hypothesis.score),
    "length": hypothesis.length,
    **line_format.attention(hypothesis.attn_weights),
  }


def finite_or_none(value: float) -> float | None:
  """`value`, or None (JSON null) if it is NaN or infinite."""
  return value if math.isfinite(value) else None


def attention_rows(attn_weights: np.ndarray) -> list[list[float | None]]:
  """An attention matrix as JSON rows (non-finite entries: null)."""
  rows = np.asarray(attn_weights, np.float64).tolist()
  return [[finite_or_none(a) for a in row] for row in rows]


def write_attention_npz(
  directory: str | Path, numbers: Sequence[int], translations: Sequence[Translation]
) -> Path:
  """Writes the attention of every hypothesis of input lines `numbers` into one `.npz` file in
  `directory` (created if needed); returns its path (see the module docstring)."""
  directory = Path(directory)
  directory.mkdir(parents=True, exist_ok=True)
  arrays = {
    f"line_{number:06d}_hyp_{rank}": np.asarray(h.attn_weights, np.float32)
    for number, translation in zip(numbers, translations, strict=True)
    for rank, h in enumerate(translation.hypotheses, start=1)
  }
  path = directory / f"lines_{numbers[0]:06d}-{numbers[-1]:06d}.npz"
  np.savez(path, **arrays)
  return path


class InputError(UserError):
  """Input that cannot be read; the message is one line naming the line or file."""


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
  line_format: LineFormat,
  attention_dir: str | Path | None = None,
  attention_npz: str | Path | None = None,
  warn: Callable[[str], None] = lambda message: print(message, file=sys.stderr),
) -> None:
  """Translates every line of `source` into `sink` in `line_format`, `batch_size` lines at a
  time (see the module docstring); reports over-long lines through `warn`. `attention_dir`: one
  heatmap per translated line, `line_<number>.png`; `attention_npz`: one `.npz` per group."""
  if attention_dir is not None:
    from attn_seq2seq.metrics.plots import plot_attention  # noqa: PLC0415  (matplotlib)
  n_best = translator.spec.n_best
  for group in groups(read_lines(source), batch_size):
    numbers, lines = zip(*group, strict=True)
    translations = translator.translate(lines)
    for number, line, result in zip(numbers, lines, translations, strict=True):
      if result.too_long:
        warn(
          f"warning: line {number} has {len(result.src_tokens)} tokens, more than the "
          f"{translator.max_src_len} this model takes (--max_src_len); output left empty"
        )
      sink.write(format_translation(number, line, result, line_format, n_best))
      if attention_dir is not None and result.attn_weights is not None:
        plot_attention(
          result.attn_weights,
          result.src_tokens,
          result.tgt_tokens,
          Path(attention_dir) / f"line_{number:06d}.png",
          title=f"line {number}",
        )
    if attention_npz is not None:
      write_attention_npz(attention_npz, numbers, translations)
    sink.flush()


def groups(items: Iterable, size: int) -> Iterator[list]:
  """`items` in lists of `size` (the last one shorter)."""
  group = []
  for item in items:
    group.append(item)
    if len(group) == size:
      yield group
      group = []
  if group:
    yield group
