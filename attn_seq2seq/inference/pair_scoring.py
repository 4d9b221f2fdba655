r"""Scoring given source-target pairs with a trained run by forced decoding
(`python -m attn_seq2seq.translate --score_pairs`).

    scorer = PairScorer(load_run("runs/dates"))
    [s.log_prob for s in scorer.score([("3 march 2021", "2021-03-03")])]

Each pair's target (tokenised with the run's target vocabulary, `<unk>` for unknown symbols) is
fed to the model token by token through the search's own step (`search.force_decode`), so the
log-probability of a search's output equals the search's `log_probs`. Pairs are scored on fixed
shapes (`fixed_shapes.py`: sources on the translator's grid, targets on an unbounded one), so a
score never depends on the other pairs read with it.

Input: one `source<TAB>target` pair per line (UTF-8). A line without a tab, with an empty source
or with a source longer than `max_src_len` tokens stops the run with a one-line error naming it.
Output, per pair: `text`: `<log_prob>\t<token log-probs, space-separated>` (6 decimals; one term
per target token, then EOS's); `jsonl`: `{"line", "source", "target", "src_tokens", "tokens"
(target tokens and "</s>"), "log_prob", "token_log_probs"}`, plus `"attention"` (`[target tokens
+ EOS, source tokens]`) with `with_attention`.
"""

import dataclasses
from collections.abc import Iterator, Sequence
from typing import BinaryIO, TextIO

import jax
import numpy as np

from attn_seq2seq import search
from attn_seq2seq.inference import ensembles, trained_run
from attn_seq2seq.inference.fixed_shapes import fixed_shape_calls, length_grid
from attn_seq2seq.inference.streams import (
  InputError,
  LineFormat,
  finite_or_none,
  groups,
  json_line,
  read_lines,
)
from attn_seq2seq.inference.translate import DECODE_ROWS, check_max_src_len


@dataclasses.dataclass(frozen=True)
class PairScore:
  """The forced decoding of one pair.

  src_tokens:      the source token strings.
  tgt_tokens:      the target token strings, then `</s>`.
  log_prob:        log p(target + EOS | source), the sum of `token_log_probs`.
  token_log_probs: one term per entry of `tgt_tokens`.
  attn_weights:    `[len(tgt_tokens), len(src_tokens)]` attention of each target token.
  """

  src_tokens: list[str]
  tgt_tokens: list[str]
  log_prob: float
  token_log_probs: list[float]
  attn_weights: np.ndarray


class PairScorer:
  """Scores lists of (source, target) texts with a loaded run or an ensemble of runs (see the
  module docstring)."""

  def __init__(
    self,
    runs: trained_run.Run | Sequence[trained_run.Run],
    *,
    max_src_len: int | None = None,
    rows: int = DECODE_ROWS,
    ensemble: str = "log_linear",
  ):
    """`ensemble`: how an ensemble's distributions combine (`SearchSpec.ensemble`)."""
    self.runs = ensembles.as_runs(runs)
    self.run, self._rows = self.runs[0], rows
    self._model, self._variables = ensembles.search_inputs(self.runs)
    self._spec = search.SearchSpec(ensemble=ensemble)
    self.max_src_len = check_max_src_len(self.runs, max_src_len)
    self._grid = length_grid(self.max_src_len)

  def score(self, pairs: Sequence[tuple[str, str]]) -> list[PairScore]:
    """The `PairScore` of every pair; each source has 1 to `max_src_len` tokens."""
    run = self.run
    sources = [np.asarray(run.src_vocab.encode(src), np.int32) for src, _ in pairs]
    targets = [np.asarray(run.tgt_vocab.encode(tgt), np.int32) for _, tgt in pairs]
    calls = []
    shapes = fixed_shape_calls([sources, targets], [self._grid, None], self._rows)
    for chunk, (src_ids, tgt_ids), (src_lengths, tgt_lengths) in shapes:
      forced = search.force_decode(
        self._model, self._variables, src_ids, src_lengths, tgt_ids, tgt_lengths, self._spec
      )
      calls.append((chunk, forced))
    scores = [None] * len(pairs)
    for chunk, forced in calls:  # dispatch all calls, then wait for each
      forced = jax.device_get(forced)
      for row, i in enumerate(chunk):
        n, src_len = len(targets[i]) + 1, len(sources[i])
        scores[i] = PairScore(
          src_tokens=run.src_vocab.tokenize(pairs[i][0]),
          tgt_tokens=run.tgt_vocab.tokens(forced.tokens[row, :n]),
          log_prob=float(forced.log_probs[row]),
          token_log_probs=[float(x) for x in forced.token_log_probs[row, :n]],
          attn_weights=np.asarray(forced.attn_weights[row, :n, :src_len]),
        )
    return scores


def read_pairs(source: BinaryIO, max_src_len: int, src_vocab) -> Iterator[tuple[int, str, str]]:
  """`(line number, source, target)` per line of `source`; `InputError` naming a line without a
  tab, with an empty source or with more than `max_src_len` source tokens."""
  for number, line in read_lines(source):
    src, tab, tgt = line.partition("\t")
    if not tab:
      raise InputError(f"line {number} has no tab; allowed: source<TAB>target")
    length = len(src_vocab.tokenize(src))
    if not src.strip() or length == 0:
      raise InputError(f"line {number} has an empty source; allowed: source<TAB>target")
    if length > max_src_len:
      raise InputError(
        f"line {number} has {length} source tokens, more than the {max_src_len} this model "
        "takes (--max_src_len)"
      )
    yield number, src, tgt


def score_stream(
  scorer: PairScorer, source: BinaryIO, sink: TextIO, line_format: LineFormat, batch_size: int
) -> None:
  """Scores every pair of `source` into `sink` in `line_format`, `batch_size` lines at a time
  (see the module docstring)."""
  pairs = read_pairs(source, scorer.max_src_len, scorer.run.src_vocab)
  for group in groups(pairs, batch_size):
    for (number, src, tgt), score in zip(group, scorer.score([p[1:] for p in group]), strict=True):
      sink.write(_format(number, src, tgt, score, line_format))
    sink.flush()


def _format(number, src, tgt, score: PairScore, line_format: LineFormat) -> str:
  if line_format.kind == "text":
    terms = " ".join(f"{x:.6f}" for x in score.token_log_probs)
    return f"{score.log_prob:.6f}\t{terms}\n"
  return json_line(
    {
      "line": number,
      "source": src,
      "target": tgt,
      "src_tokens": score.src_tokens,
      "tokens": score.tgt_tokens,
      "log_prob": finite_or_none(score.log_prob),
      "token_log_probs": [finite_or_none(x) for x in score.token_log_probs],
      **line_format.attention(score.attn_weights),
    }
  )
