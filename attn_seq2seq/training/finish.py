"""The training loop's last phase (train.py): every evaluation split scored with each member's
selected parameters (its best step under early stopping, else the last), then results.json.

    results = finish(run)   # after the loop; `run` is the launch's RunState

The final evaluations are each test split, then `config.extra_evaluations`
(evaluation_variants.py: beam search, oracle lengths, attention ablations), each member writing
its per-example outcomes under the results key. A stacked run's members write their own
results.json first, the stack's own last (see train.py's docstring for the fields).
"""

import dataclasses
from pathlib import Path
from typing import Any

import jax
from absl import logging

from attn_seq2seq.models.attention_ablation import with_ablation
from attn_seq2seq.run_files import PLOTS_DIR, RESULTS_FILE
from attn_seq2seq.training import evaluation_variants
from attn_seq2seq.training import workdir as workdir_lib
from attn_seq2seq.training.early_stopping import CAPPED, STOPPED
from attn_seq2seq.training.evaluator import Evaluator
from attn_seq2seq.training.progress import Totals
from attn_seq2seq.training.run_state import VALIDATION, RunState


def finish(run: RunState) -> dict:
  """Every evaluation split, each member evaluated with the parameters of its selected step (its
  best under early stopping, else the last); then results.json, the stack's last."""
  end_totals = run.meter.totals_now()  # training is over: the clock has stopped
  run.checkpointer.wait()  # every checkpoint on disk, before reading some and marking the run done
  selected = [run.selected(k, end_totals) for k in range(len(run.group))]
  steps = [step for step, _ in selected]
  params = _params_at(run, steps)
  finals = [{VALIDATION: m} for m in _selected_validation(run, steps, params)]
  for split, key, evaluator, spec in _final_evaluations(run):
    metrics, took = run.group.evaluate(
      evaluator, params, split, [None] * len(steps), steps=steps, key=key, spec=spec
    )
    for k, (step, totals) in enumerate(selected):
      run.record_split(k, key, step, metrics[k], took, totals)
      finals[k][key] = metrics[k]
  results = None
  for k, member in enumerate(run.group.members):
    results = _member_results(run, k, selected[k], run.last(k, end_totals), finals[k])
    _write_results(member.workdir, results)
  stack = run.group.run_results(run.step)
  if stack is not None:  # last: the stack as a whole has finished
    results = stack
    _write_results(run.workdir, results)
  return results


def _final_evaluations(run: RunState):
  """(split, results key, evaluator, search spec) of every final evaluation after validation:
  each test split, then `config.extra_evaluations` (evaluation_variants.py), whose ablations
  decode with the same parameters in a model whose attention is ablated."""
  for split in run.task.eval_splits:
    if split != VALIDATION:
      yield split, split, run.evaluator, None
  variants = evaluation_variants.parse_variants(run.config.extra_evaluations, run.task.eval_splits)
  for variant in variants:
    evaluator = run.evaluator
    if variant.ablation != "none":
      model = with_ablation(run.fns.model, variant.ablation)
      evaluator = Evaluator.for_config(model, run.task, run.evaluator.mesh, run.config)
    spec = dataclasses.replace(evaluator.spec, **variant.search_changes())
    yield variant.split, variant.key, evaluator, spec


def _params_at(run: RunState, steps: list[int]) -> Any:
  """The parameters with member k at `steps[k]`: the current ones, or restored from that step's
  checkpoint (kept for it)."""
  trees = {
    step: run.state.params
    if step == run.step
    else run.checkpointer.restore_params(step, run.abstract_state.params)
    for step in set(steps)
  }
  if len(trees) == 1:
    return trees[steps[0]]
  return jax.device_put(run.group.gather([trees[s] for s in steps]), run.fns.state_sharding)


def _selected_validation(run: RunState, steps: list[int], params: Any) -> list[dict]:
  """Each member's validation metrics at its selected step: those of the loop's evaluation, or
  after a resume the same evaluation again (recorded and plotted the first time)."""
  remembered = [run.validation.get(step, [None] * len(steps))[k] for k, step in enumerate(steps)]
  if all(m is not None for m in remembered):
    return remembered
  metrics, _ = run.group.evaluate(run.evaluator, params, VALIDATION, [None] * len(steps))
  return metrics


def _member_results(
  run: RunState,
  k: int,
  selected: tuple[int, Totals],
  last: tuple[int, Totals],
  splits: dict[str, dict],
) -> dict:
  """Member k's results.json (see the module docstring)."""
  member, (step, _), (last_step, totals) = run.group.members[k], selected, last
  plot_dir = member.workdir / PLOTS_DIR / f"step_{step:06d}"
  results = {
    "step": step,
    **splits,
    "attention_plots": [  # relative to the member's workdir
      str(p.relative_to(member.workdir)) for p in sorted(plot_dir.glob(f"{VALIDATION}_*.png"))
    ],
    "last_step": last_step,
    # Patience running out at the cap's own evaluation is the cap: "early" means before it.
    "stop_reason": STOPPED if run.trackers[k].stopped and last_step < run.num_steps else CAPPED,
    "train_seconds": totals.seconds,
    "wall_seconds": run.wall_seconds(),
    "tgt_tokens": totals.tgt_tokens,
    "src_tokens": totals.src_tokens,
  }
  if totals.flops is not None:
    results["flops"] = totals.flops
  if run.rule.enabled:
    results["early_stopping"] = {**run.rule.describe(), "best_value": run.trackers[k].best_value}
  return results


def _write_results(workdir: Path, results: dict) -> None:
  if jax.process_index() == 0:
    workdir_lib.merge_results(workdir, results)  # atomically; entries of `evaluate` are kept
    logging.info("results written to %s", workdir / RESULTS_FILE)
