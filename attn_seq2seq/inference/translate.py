r"""Translating raw text lines with a trained run: `Translator` (the library behind `python -m
attn_seq2seq.translate`, whose docstring is the command's usage; `streams.py` reads and writes
the text).

    translator = Translator(load_run("runs/dates"), beam_size=5, alpha=0.6, n_best=3)
    [t.text for t in translator.translate(["monday 14 august 1995", ""])]

Lines are tokenised with the run's saved source vocabulary; a symbol outside it becomes `<unk>`.
An empty line (no tokens, or only whitespace) gives an empty output; a line longer than
`max_src_len` tokens is not translated (`Translation.too_long`). The search is the run's
(`SearchSpec.of_experiment`: its output length limit) with the options given; each translation
carries the search's `n_best` hypotheses with their scores and attention.

Outputs never depend on how lines are grouped into calls: each group is sorted by length and
decoded on fixed shapes (`fixed_shapes.py`: `DECODE_ROWS` rows by a source length rounded up to
a fixed grid, 8, 12, 16, 24, ..., `max_src_len`), then returned in input order, so every output is
bitwise identical for any grouping. Decoding runs on the first device.
"""

import dataclasses
from collections.abc import Sequence

import jax
import numpy as np

from attn_seq2seq import search
from attn_seq2seq.errors import ConfigError
from attn_seq2seq.inference import ensembles, trained_run
from attn_seq2seq.inference.fixed_shapes import fixed_shape_calls, length_grid
from attn_seq2seq.models.model_config import ATTENTION_DECODERS

DECODE_ROWS = 64  # rows of every search call (the reference benchmark's batch size)


@dataclasses.dataclass(frozen=True)
class Hypothesis:
  """One output of a search for one input line.

  tokens:       the output token strings, `</s>` included.
  text:         the output as text (`tgt_vocab.decode`).
  log_prob:     its model log-probability (EOS included).
  score:        what beam search ranks by: `log_prob / length_penalty(length, alpha)`.
  length:       `len(tokens)`, EOS included.
  attn_weights: `[length, source length]` attention weights of each output token.
  """

  tokens: list[str]
  text: str
  log_prob: float
  score: float
  length: int
  attn_weights: np.ndarray


@dataclasses.dataclass(frozen=True)
class Translation:
  """The result for one input line.

  text:         the best output ('' for an empty or over-long input).
  src_tokens:   the source token strings (as in the input, before mapping to `<unk>`).
  tgt_tokens:   the best output's token strings, `</s>` included ([] if not translated).
  attn_weights: `[len(tgt_tokens), len(src_tokens)]` attention of the best output (None if not
                translated).
  too_long:     the line has more than `max_src_len` tokens and was not translated.
  hypotheses:   the search's `n_best` outputs, best first ([] if not translated; fewer when a
                sentence has fewer possible outputs, e.g. with a length limit of 1).
  """

  text: str
  src_tokens: list[str]
  tgt_tokens: list[str]
  attn_weights: np.ndarray | None
  too_long: bool = False
  hypotheses: list[Hypothesis] = dataclasses.field(default_factory=list)


def default_max_src_len(run: trained_run.Run) -> int:
  """The location scorer's addressable positions; otherwise twice the longest training source."""
  addressable = addressable_positions(run)
  if addressable is not None:
    return addressable
  return 2 * max(int(src_len) for src_len, _ in run.record["task"]["bucket_shapes"])


def addressable_positions(run: trained_run.Run) -> int | None:
  """How many source positions the model can attend to: the location scorer's `max_src_len`;
  None (any number) for the other scorers and the fixed-vector decoders."""
  config = run.model.config
  if config.decoder in ATTENTION_DECODERS and config.scorer == "location":
    return config.max_src_len
  return None


def check_max_src_len(runs: Sequence[trained_run.Run], max_src_len: int | None) -> int:
  """`max_src_len`, or the runs' default (the smallest); a one-line ConfigError beyond what one
  of them can address."""
  if max_src_len is None:
    max_src_len = min(default_max_src_len(run) for run in runs)
  for run in runs:
    addressable = addressable_positions(run)
    if addressable is not None and max_src_len > addressable:
      raise ConfigError(
        f"max_src_len={max_src_len} is beyond the {addressable} source positions "
        f"the location scorer of run {run.workdir} can address"
      )
  return max_src_len


class Translator:
  """Decodes lists of sentences with a loaded run, or an ensemble of runs (see the module
  docstring for the shapes).

  translator = Translator(load_run("runs/dates"), beam_size=5, alpha=0.6)
  [t.text for t in translator.translate(["monday 14 august 1995", ""])]
  ensemble = Translator(ensembles.load_runs("runs/a,runs/b"), ensemble="linear")
  """

  def __init__(
    self,
    runs: trained_run.Run | Sequence[trained_run.Run],
    *,
    max_src_len: int | None = None,
    decode_rows: int = DECODE_ROWS,
    **search_options,
  ):
    """`runs`: one run, or an ensemble's (sharing vocabularies: `ensembles.load_runs`).
    `search_options`: `SearchSpec` fields (`beam_size`, `alpha`, `n_best`, ...) over the first
    run's own (`SearchSpec.of_experiment(run.config)`: greedy search, its output length limit);
    the spec is `self.spec`."""
    self.runs = ensembles.as_runs(runs)
    self.run = self.runs[0]  # vocabularies and output length limit
    self.spec = search.SearchSpec.of_experiment(self.run.config, **search_options)
    self._model, self._variables = ensembles.search_inputs(self.runs)
    self._rows = decode_rows
    self.max_src_len = check_max_src_len(self.runs, max_src_len)
    self._grid = length_grid(self.max_src_len)

  def translate(self, lines: Sequence[str]) -> list[Translation]:
    """Translates `lines` (see `Translation`); the result does not depend on how lines are
    grouped into calls."""
    src_vocab = self.run.src_vocab
    flat_ids, lengths = src_vocab.encode_batch(lines)
    ids = np.split(flat_ids, np.cumsum(lengths)[:-1])
    todo = [
      i for i, n in enumerate(lengths) if 0 < n <= self.max_src_len and lines[i].strip()
    ]  # whitespace only: empty
    outputs = dict(zip(todo, self._decode([ids[i] for i in todo]), strict=True))
    translations = []
    for i, line in enumerate(lines):
      src_tokens = src_vocab.tokenize(line)
      hypotheses = outputs.get(i, [])
      if not hypotheses:
        translations.append(
          Translation("", src_tokens, [], None, bool(lengths[i] > self.max_src_len))
        )
        continue
      best = hypotheses[0]
      translations.append(
        Translation(best.text, src_tokens, best.tokens, best.attn_weights, False, hypotheses)
      )
    return translations

  def _decode(self, sentences: Sequence[np.ndarray]) -> list[list[Hypothesis]]:
    """Per sentence (1 <= length <= max_src_len): its hypotheses, best first. Searches on fixed
    `[rows, grid length]` shapes (`fixed_shapes.py`)."""
    calls = []  # (sentence indices, source lengths, search output on device)
    shapes = fixed_shape_calls([sentences], [self._grid], self._rows)
    for chunk, (src_ids,), (src_lengths,) in shapes:
      out = search.decode(self._model, self._variables, src_ids, src_lengths, self.spec)
      calls.append((chunk, src_lengths, out))
    results = [None] * len(sentences)
    for chunk, src_lengths, out in calls:  # dispatch all calls, then wait for each
      out = jax.device_get(out)
      for row, i in enumerate(chunk):
        results[i] = [
          self._hypothesis(out, row, k, src_lengths[row])
          for k in range(self.spec.n_best)
          if out.lengths[row, k] > 0  # an empty slot: fewer possible outputs than n_best
        ]
    return results

  def _hypothesis(self, out: search.SearchOutput, row: int, k: int, src_length: int) -> Hypothesis:
    n = int(out.lengths[row, k])
    ids = out.tokens[row, k, :n]
    tgt_vocab = self.run.tgt_vocab
    return Hypothesis(
      tokens=tgt_vocab.tokens(ids),
      text=tgt_vocab.decode(ids),
      log_prob=float(out.log_probs[row, k]),
      score=float(out.scores[row, k]),
      length=n,
      attn_weights=np.asarray(out.attn_weights[row, k, :n, :src_length]),
    )
