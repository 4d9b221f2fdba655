r"""Translates raw text lines with a trained run: one output line per input line, in input order.

    python -m attn_seq2seq.translate --workdir=runs/dates [--input=in.txt] [--output=out.txt] \
        [--beam_size=5 --alpha=0.6 --n_best=3] [--oracle_length] [--ablation=uniform] \
        [--batch_size=64] [--output_format=jsonl [--with_attention]] [--attention_npz=DIR] \
        [--attention_dir=DIR] [--checkpoint_step=S] [--max_src_len=N]
    python -m attn_seq2seq.translate --workdir=runs/dates --score_pairs --input=pairs.tsv
    python -m attn_seq2seq.translate --workdir=runs/a,runs/b [--ensemble=linear] --input=in.txt

Input is read from `--input` (default stdin) as UTF-8, one sentence per line (a trailing '\r' is
dropped), and tokenised with the run's saved source vocabulary; a symbol outside it becomes
`<unk>`. Output goes to `--output` (default stdout). `--beam_size=1` is greedy search, larger
values beam search with GNMT length normalisation `--alpha`; the output length limit is the run's
(`decode_max_len_a * source length + decode_max_len_b`).

* An empty line (no tokens, or only whitespace) gives an empty output line.
* A line longer than `--max_src_len` tokens is reported by line number on stderr and gives an
  empty output line. Default: for the location scorer, the source positions it can address;
  otherwise twice the longest training source (the range the `test_long` splits probe).
* A line that is not valid UTF-8 stops the run with a one-line error naming it (the output of
  the batches before it is already written).
* `--attention_dir`: one heatmap per translated line, `line_<number>.png` (numbers from 1).
* `--oracle_length`: EOS is suppressed until each output (EOS excluded) is as long as its source.
* `--ablation=uniform|shuffled|zero_context`: the same parameters decode with the attention
  replaced at every step (models/attention_ablation.py); the exported attention is what the
  context was computed from.
* `--n_best=K` (at most `--beam_size`): K hypotheses per input line, with their scores and
  lengths: tab-separated rows `<line>\t<rank>\t<score>\t<log_prob>\t<length>\t<text>` in text
  format, all of them in JSON lines.
* `--output_format=jsonl`: one JSON object per input line (source, hypotheses with tokens, text,
  log_prob, score, length; with `--with_attention`, each hypothesis' attention matrix `[output
  tokens incl. EOS, source tokens]`); see `inference/streams.py` for the exact fields.
* `--attention_npz=DIR`: one `.npz` per `--batch_size` input lines, one array per hypothesis.
* Several runs (`--workdir=a,b,c`, or a stacked run's root: all its members) decode as one
  ensemble sharing vocabularies: their next-token distributions combine inside the search
  (`--ensemble=log_linear`, the default: average log-probability, renormalised; `linear`:
  average probability) and the attention is their mean.
* `--score_pairs`: read `source<TAB>target` lines and write, per pair, the target's
  log-probability and its per-token terms (forced decoding through the same model; see
  `inference/pair_scoring.py`) instead of translating.

Lines are read `--batch_size` at a time, sorted by length, decoded and written in input order;
the outputs never depend on `--batch_size` (1: each line is translated as soon as it is read;
see `inference/translate.py` for why).
"""

import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, TextIO

from absl import app, flags

from attn_seq2seq import atomic_files, cli
from attn_seq2seq.errors import ConfigError
from attn_seq2seq.inference import run_flags
from attn_seq2seq.inference.pair_scoring import PairScorer, score_stream
from attn_seq2seq.inference.streams import (
  OUTPUT_FORMATS,
  InputError,
  LineFormat,
  translate_stream,
)
from attn_seq2seq.inference.translate import Translator

_RUN_FLAGS = run_flags.define_flags()
flags.adopt_module_key_flags(run_flags)
_INPUT = flags.DEFINE_string(
  "input", None, "UTF-8 source text, one sentence per line (default: stdin)."
)
_OUTPUT = flags.DEFINE_string("output", None, "Where to write the outputs (default: stdout).")
_BATCH_SIZE = flags.DEFINE_integer(
  "batch_size",
  256,
  "Lines read, length-sorted and written together; outputs do not depend on it.",
  lower_bound=1,
)
_ATTENTION_DIR = flags.DEFINE_string(
  "attention_dir", None, "Write one attention heatmap per translated line here."
)
_MAX_SRC_LEN = flags.DEFINE_integer(
  "max_src_len",
  None,
  "Longest source line (in tokens) to translate; default: see the module docstring.",
  lower_bound=1,
)
_N_BEST = flags.DEFINE_integer(
  "n_best", 1, "Hypotheses written per input line, best first (at most --beam_size).", lower_bound=1
)
_OUTPUT_FORMAT = flags.DEFINE_enum(
  "output_format",
  "text",
  OUTPUT_FORMATS,
  "text: one output line per input (n-best: tab-separated rows); jsonl: one JSON object per input.",
)
_WITH_ATTENTION = flags.DEFINE_boolean(
  "with_attention", False, "jsonl: each hypothesis carries its attention matrix."
)
_ATTENTION_NPZ = flags.DEFINE_string(
  "attention_npz", None, "Save the attention of every hypothesis here, one .npz per input batch."
)
_SCORE_PAIRS = flags.DEFINE_boolean(
  "score_pairs",
  False,
  "Read source<TAB>target lines and write each target's log-probability and per-token terms "
  "(forced decoding) instead of translating.",
)


def main(argv: Sequence[str]) -> None:
  with run_flags.command(argv):
    _check_options()
    runs = _RUN_FLAGS.load_runs()
    if _SCORE_PAIRS.value:
      ensemble = _RUN_FLAGS.ensemble.value
      worker = PairScorer(runs, max_src_len=_MAX_SRC_LEN.value, ensemble=ensemble)
    else:
      options = {**_RUN_FLAGS.search_options(), "n_best": _N_BEST.value}
      worker = Translator(runs, max_src_len=_MAX_SRC_LEN.value, **options)
    _check_paths(_INPUT.value, _OUTPUT.value, _ATTENTION_DIR.value, _ATTENTION_NPZ.value)
    line_format = LineFormat(_OUTPUT_FORMAT.value, _WITH_ATTENTION.value)
    with _open_input(_INPUT.value) as source, _open_output(_OUTPUT.value) as sink:
      if _SCORE_PAIRS.value:
        score_stream(worker, source, sink, line_format, _BATCH_SIZE.value)
      else:
        translate_stream(
          worker,
          source,
          sink,
          batch_size=_BATCH_SIZE.value,
          line_format=line_format,
          attention_dir=_ATTENTION_DIR.value,
          attention_npz=_ATTENTION_NPZ.value,
        )


def _check_options() -> None:
  """A one-line ConfigError for flags that contradict each other, before anything is loaded."""
  if _WITH_ATTENTION.value and _OUTPUT_FORMAT.value != "jsonl":
    raise ConfigError(
      f"--with_attention needs --output_format=jsonl, got --output_format={_OUTPUT_FORMAT.value}"
    )
  if _N_BEST.value > _RUN_FLAGS.beam_size.value:
    raise ConfigError(
      f"--n_best={_N_BEST.value} is out of range; allowed: at most --beam_size="
      f"{_RUN_FLAGS.beam_size.value}"
    )
  if _SCORE_PAIRS.value:
    searching = {
      "--beam_size": _RUN_FLAGS.beam_size.value != 1,
      "--n_best": _N_BEST.value != 1,
      "--oracle_length": _RUN_FLAGS.oracle_length.value,
      "--attention_dir": _ATTENTION_DIR.value is not None,
      "--attention_npz": _ATTENTION_NPZ.value is not None,
    }
    for flag, given in searching.items():
      if given:
        raise ConfigError(
          f"{flag} does not apply to --score_pairs (forced decoding of the given targets); "
          "allowed with it: --output_format, --with_attention, --max_src_len, --batch_size"
        )


def _check_paths(
  input_path: str | None,
  output_path: str | None,
  attention_dir: str | None,
  attention_npz: str | None,
) -> None:
  """`InputError` before anything is read or written: --output naming the --input file (opening
  it for writing would empty the input), an output whose directory does not exist, an
  --attention_dir or --attention_npz that is a file."""
  if input_path is not None and output_path is not None:
    same = Path(input_path).resolve() == Path(output_path).resolve() or (
      Path(output_path).exists()
      and Path(input_path).exists()
      and Path(input_path).samefile(output_path)
    )
    if same:
      raise InputError(
        f"--output={output_path} is the --input file; writing it would erase the "
        "input: choose another output file"
      )
  if output_path is not None:
    if Path(output_path).is_dir():
      raise InputError(f"cannot write --output {output_path}: it is a directory")
    if not Path(output_path).absolute().parent.is_dir():
      raise InputError(
        f"cannot write --output {output_path}: no directory {Path(output_path).absolute().parent}"
      )
  for flag, directory in (("--attention_dir", attention_dir), ("--attention_npz", attention_npz)):
    if directory is not None and Path(directory).exists() and not Path(directory).is_dir():
      raise InputError(f"{flag}={directory} is a file; allowed: a directory")


def _open_input(path: str | None) -> contextlib.AbstractContextManager[BinaryIO]:
  if path is None:
    return contextlib.nullcontext(sys.stdin.buffer)
  try:
    return open(path, "rb")
  except OSError as e:
    raise InputError(f"cannot read --input {path}: {e.strerror}") from None


def _open_output(path: str | None) -> contextlib.AbstractContextManager[TextIO]:
  """Standard output, or `--output`'s file written whole or not at all (a temporary file renamed
  at the end: a full disk or Ctrl-C midway leaves no partial output)."""
  if path is None:
    sys.stdout.reconfigure(encoding="utf-8")
    return cli.standard_output()
  return atomic_files.replacing(path, f"--output {path}")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
