"""Evaluation of a model on one split: teacher-forced loss and free-running decoding.

    evaluator = Evaluator(model, task, mesh, batch_size=64, spec=SearchSpec(max_len_a=2.0))
    metrics = evaluator.evaluate(params, 'validation', plot_dir=workdir / 'plots/step_1000')
    beam = evaluator.evaluate(params, 'test', spec=SearchSpec(beam_size=5, max_len_a=2.0))

One pass over the split (every example exactly once; the pipeline's dummy filler rows are masked)
runs, per batch, the jitted teacher-forced `steps.eval_step` and `search.decode` with the
evaluator's `SearchSpec` (greedy search by default; any spec, e.g. beam search, per call), both on
the data-parallel mesh; the best hypothesis of each sentence is scored. The host then scores the
decoded outputs with the task's metric families (`metrics.compute_metrics`: exact match, token
accuracy, WER/PER, BLEU/chrF, alignment quality), overall and per source-length bucket, and draws
attention heatmaps of a few fixed examples.

Returned keys: `loss` (mean nll per target token), `perplexity`, `next_token_accuracy` (teacher
forced), then `count`, `exact_match`, ... and `by_length/<lo>-<hi>/<metric>` (decoded).

`evaluate(..., outcomes_path=P, results_key=K, step=S)` also writes the per-example outcomes of
the split (id, lengths, exact, edit distance; `metrics/outcomes.py`) to P, for paired statistics
across runs.

`evaluate_stack(params, split, plot_dirs=...)` evaluates the members of a stacked run (params with
a leading `[members, ...]` axis, see `members.py`) in the same one pass: the eval step and the
search are vmapped over the members, and it returns one such dict per member.
"""

import functools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from attn_seq2seq import search
from attn_seq2seq.metrics import compute_metrics, outcomes
from attn_seq2seq.metrics.sum_count import SumCount
from attn_seq2seq.tokens import EOS_ID, PAD_ID
from attn_seq2seq.training import members, steps
from attn_seq2seq.training import mesh as mesh_lib


def length_bucket_edges(max_length: int, width: int) -> tuple[int, ...]:
  """Lower edges 1, width, 2*width, ... below `max_length` (the last bucket is open-ended)."""
  return (1, *range(width, max(max_length, width + 1), width))


def strip_output(ids: np.ndarray) -> np.ndarray:
  """The ids before the first EOS or PAD (what metrics score)."""
  stop = np.flatnonzero((ids == EOS_ID) | (ids == PAD_ID))
  return ids[: stop[0]] if stop.size else ids


def ensemble_eval_step(params: tuple, batch, *, models: tuple, combination: str):
  """`steps.eval_step` of an ensemble (`models`, `params`: one per member): the teacher-forced
  `(sum, count)` of the nll and next-token accuracy of the combined distribution, by forced
  decoding through the search's step (`search.force_decode`)."""
  tgt_out = batch["tgt_out"]  # [batch, tgt_len]: the target, EOS, PAD
  tgt_lengths = jnp.sum(tgt_out != PAD_ID, axis=1) - 1  # [batch], EOS excluded (-1: dummy row)
  tgt_ids = jnp.where(tgt_out == EOS_ID, PAD_ID, tgt_out)
  variables = tuple({"params": p} for p in params)
  spec = search.SearchSpec(ensemble=combination)
  forced = search.force_decode(
    models, variables, batch["src_ids"], batch["src_lengths"], tgt_ids, tgt_lengths, spec
  )
  width = tgt_out.shape[1]  # forced has one more position, PAD at the end
  weights = steps.target_weights(batch)  # [batch, tgt_len]
  correct = (forced.predicted[:, :width] == tgt_out).astype(jnp.float32)
  return {
    "nll": SumCount(-jnp.sum(forced.token_log_probs[:, :width] * weights), weights.sum()),
    "next_token_accuracy": SumCount(jnp.sum(correct * weights), weights.sum()),
  }


@functools.lru_cache(maxsize=8)
def _jitted_eval_step(model, mesh, stacked: bool = False, combination: str = "log_linear"):
  """One jitted eval step per (model, mesh), shared by every Evaluator (compiled once);
  `stacked`: vmapped over `[members, ...]` params; `model` a tuple: an ensemble's, its
  distributions combined as `combination`."""
  if isinstance(model, tuple):
    eval_step = functools.partial(ensemble_eval_step, models=model, combination=combination)
  else:
    eval_step = functools.partial(steps.eval_step, model=model)
  return jax.jit(
    members.stack_eval_step(eval_step) if stacked else eval_step,
    in_shardings=(mesh_lib.replicated(mesh), mesh_lib.data_sharding(mesh)),
    out_shardings=mesh_lib.replicated(mesh),
  )


@functools.lru_cache(maxsize=16)
def _jitted_search(model, spec: search.SearchSpec, stacked: bool = False):
  """`(params, src_ids [B, S], src_lengths [B]) -> (tokens [(members,) B, L], attn_weights
  [(members,) B, L, S])`: the best hypothesis of `spec`'s search; `stacked`: vmapped over
  `[members, ...]` params, one while loop for all members."""

  def best(params, src_ids, src_lengths):
    variables = tuple({"params": p} for p in params) if isinstance(model, tuple) else None
    out = search.decode(model, variables or {"params": params}, src_ids, src_lengths, spec).best()
    return out.tokens, out.attn_weights

  return jax.jit(jax.vmap(best, in_axes=(0, None, None)) if stacked else best)


class _Outputs(NamedTuple):
  """Where one model's evaluation writes files besides its metrics (None: not written)."""

  plot_dir: str | Path | None  # attention heatmaps of the first examples
  outcomes_path: str | Path | None  # per-example outcomes (metrics/outcomes.py)
  step: int | None  # the checkpoint step evaluated, which the outcomes record


class _Record(NamedTuple):
  """What an outcomes file records about its evaluation."""

  split: str
  key: str  # the key of the metrics in results.json


class Evaluator:
  """Evaluates parameters on any split of `task`; jitted functions are compiled once per shape.

  `model` may be an ensemble's tuple of models; its `params` are then a tuple of parameter
  pytrees, one per member, and the teacher-forced metrics are those of the combined distribution
  (`ensemble_eval_step`).
  """

  def __init__(
    self,
    model,
    task,
    mesh,
    *,
    batch_size: int,
    spec: search.SearchSpec,
    length_bucket_width: int = 10,
    num_plots: int = 0,
  ):
    """`spec`: the search that decodes the split unless a call names another (e.g.
    `SearchSpec.of_experiment(config)`: greedy search with the run's output length limit)."""
    mesh_lib.check_batch_size(batch_size, mesh, "eval_batch_size")
    self._model, self._task, self._mesh = model, task, mesh
    self._batch_size = batch_size
    self._data_sharding = mesh_lib.data_sharding(mesh)
    self.spec = spec
    self._bucket_width = length_bucket_width
    self._num_plots = num_plots
    self._source_tokens = {}

  @property
  def mesh(self):
    """The device mesh the evaluation runs on."""
    return self._mesh

  @classmethod
  def for_config(cls, model, task, mesh, config, **kwargs) -> "Evaluator":
    """An evaluator with the experiment config's eval batch size, search (greedy, with its
    decoding length limit: `SearchSpec.of_experiment`) and length buckets; `kwargs` go to the
    constructor (e.g. `num_plots`, or `spec` for another search)."""
    kwargs.setdefault("spec", search.SearchSpec.of_experiment(config))
    return cls(
      model,
      task,
      mesh,
      batch_size=config.eval_batch_size,
      length_bucket_width=config.length_bucket_width,
      **kwargs,
    )

  def evaluate(
    self,
    params,
    split: str,
    *,
    spec: search.SearchSpec | None = None,
    plot_dir: str | Path | None = None,
    outcomes_path: str | Path | None = None,
    results_key: str | None = None,
    step: int | None = None,
  ) -> dict[str, float]:
    """Metrics of `params` on `split` (see the module docstring), decoded with `spec` (default:
    the evaluator's). When given (process 0 writes them): heatmaps of the first `num_plots`
    examples of the split into `plot_dir`; the per-example outcomes (`metrics/outcomes.py`) into
    `outcomes_path`, recording `results_key` (the key of these metrics in results.json, default:
    `split`) and `step`."""
    outputs = [_Outputs(plot_dir, outcomes_path, step)]
    record = _Record(split, results_key or split)
    return self._evaluate(params, spec or self.spec, outputs, record, stacked=False)[0]

  def evaluate_stack(
    self,
    params,
    split: str,
    *,
    spec: search.SearchSpec | None = None,
    plot_dirs: list[str | Path | None],
    outcomes_paths: list[str | Path | None] | None = None,
    results_key: str | None = None,
    step: int | Sequence[int] | None = None,
  ) -> list[dict[str, float]]:
    """`evaluate` for every member of `[members, ...]` params in one pass over `split` (vmapped
    eval step and search); `plot_dirs` and `outcomes_paths` have one entry (or None) per
    member, and `step` one for all or one per member (their params may come from other steps)."""
    if isinstance(self._model, tuple):
      raise ValueError("evaluate_stack evaluates a stacked run's members, not an ensemble")
    outcomes_paths = outcomes_paths or [None] * len(plot_dirs)
    steps = step if isinstance(step, Sequence) else [step] * len(plot_dirs)
    if not len(outcomes_paths) == len(steps) == len(plot_dirs):
      raise ValueError(
        f"{len(outcomes_paths)} outcomes paths and {len(steps)} steps for {len(plot_dirs)} members"
      )
    outputs = [_Outputs(*out) for out in zip(plot_dirs, outcomes_paths, steps, strict=True)]
    record = _Record(split, results_key or split)
    return self._evaluate(params, spec or self.spec, outputs, record, stacked=True)

  def _evaluate(self, params, spec, outputs: list, record: "_Record", stacked: bool) -> list[dict]:
    task, split = self._task, record.split
    keep_attention = "alignment" in task.metrics
    num_members = len(outputs)
    eval_step = _jitted_eval_step(self._model, self._mesh, stacked, spec.ensemble)
    best = _jitted_search(self._model, spec, stacked=stacked)
    tf_metrics = []
    hyps, attention, src_lengths = ([{} for _ in outputs] for _ in range(3))
    batches = task.eval_batches(
      split, self._batch_size, shard_index=jax.process_index(), num_shards=jax.process_count()
    )
    for local_batch in batches:
      batch = mesh_lib.to_global(local_batch, self._data_sharding)
      tf_metrics.append(eval_step(params, batch))
      # [(members,) B, L], [(members,) B, L, S] on devices
      tokens, attn = best(params, batch["src_ids"], batch["src_lengths"])
      tokens, example_ids, lengths = mesh_lib.to_host(
        (tokens, batch["example_ids"], batch["src_lengths"])
      )
      real = example_ids[example_ids >= 0]
      if keep_attention or (real.size and real.min() < self._num_plots):
        attn = mesh_lib.to_host(attn)  # only fetched when scored or plotted
        attn = attn if stacked else attn[None]
      tokens = tokens if stacked else tokens[None]  # [members, B, L]; solo: a member axis of 1
      for row in np.flatnonzero(example_ids >= 0):
        example = int(example_ids[row])
        for m in range(num_members):
          hyps[m][example] = strip_output(tokens[m, row])
          src_lengths[m][example] = int(lengths[row])
          if keep_attention or example < self._num_plots:
            # [output tokens incl. EOS, source length]
            attention[m][example] = attn[m, row, : len(hyps[m][example]) + 1, : lengths[row]]

    summed = jax.device_get(tf_metrics)
    summed = members.split_metrics(summed, num_members) if stacked else [summed]
    return [
      self._score(
        record, steps.sum_metrics(summed[m]), hyps[m], attention[m], src_lengths[m], outputs[m]
      )
      for m in range(num_members)
    ]

  def _score(
    self, record: "_Record", summed, hyps: dict, attention: dict, src_lengths: dict, outputs
  ) -> dict[str, float]:
    """The results of one model: teacher-forced sums and decoded outputs by example id."""
    task, split = self._task, record.split
    keep_attention = "alignment" in task.metrics
    results = steps.normalize(summed)
    results["loss"] = results.pop("nll")
    results["perplexity"] = math.exp(min(results["loss"], 100.0))

    order = sorted(hyps)
    if len(order) != task.num_examples(split):
      raise RuntimeError(f"decoded {len(order)} of {task.num_examples(split)} {split} examples")
    tgt_vocab = task.tgt_vocab
    hyp_tokens = [tgt_vocab.tokens(hyps[i]) for i in order]
    lengths = [src_lengths[i] for i in order]
    references = task.references(split)
    results.update(
      compute_metrics(
        task.metrics,
        hyp_tokens,
        references,
        lengths,
        bucket_edges=length_bucket_edges(max(lengths), self._bucket_width),
        attention=[attention[i] for i in order] if keep_attention else None,
        gold_alignment=task.gold_alignment,
        detok=_detok(task),
      )
    )
    if outputs.outcomes_path is not None and jax.process_index() == 0:
      if outputs.step is None:
        raise ValueError("per-example outcomes record their checkpoint step: pass step=")
      columns = outcomes.outcome_columns(hyp_tokens, references, lengths, ids=order)
      outcomes.write_outcomes_file(outputs.outcomes_path, record.key, outputs.step, columns)
    if outputs.plot_dir is not None and jax.process_index() == 0:
      self._plot(split, hyp_tokens, attention, Path(outputs.plot_dir))
    return results

  def _plot(self, split: str, hyp_tokens, attention, plot_dir: Path) -> None:
    from attn_seq2seq.metrics.plots import plot_attention  # noqa: PLC0415  (matplotlib)

    if split not in self._source_tokens:
      self._source_tokens[split] = self._task.source_tokens(split)[: self._num_plots]
    for example, src_tokens in enumerate(self._source_tokens[split]):
      tgt_tokens = [*hyp_tokens[example], "</s>"]
      attn = attention[example][: len(tgt_tokens)]
      plot_attention(
        attn,
        src_tokens,
        tgt_tokens[: attn.shape[0]],
        plot_dir / f"{split}_{example:03d}.png",
        title=f"{split} example {example}",
      )


def _detok(task):
  """How BLEU/chrF turn target tokens into text: characters join with nothing, words with a
  space, SentencePiece pieces by turning their word-boundary marks into spaces."""
  kind = task.tgt_vocab.kind
  if kind == "sentencepiece":
    return lambda pieces: "".join(pieces).replace("\u2581", " ").strip()
  return "" if kind == "char" else " "
