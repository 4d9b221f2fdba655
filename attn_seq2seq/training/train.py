"""`train_and_evaluate(config, workdir)`: one experiment from data to results.json.

    restore or initialise: mesh -> task (data, vocabularies) -> model + optimizer -> state (the
      workdir's latest checkpoint, or fresh) -> records (config.json, metrics.jsonl)
    train an interval: jitted data-parallel train_step up to the next evaluation, progress lines,
      checkpoints
    evaluate: the validation split, early-stopping decisions, the checkpoint due
    finish (finish.py): every split evaluated with each model's selected parameters ->
      results.json

Workdir layout:
    config.json              the resolved config, jax/flax versions, devices, task facts
    src_vocab.json ...       the vocabularies (decoding never needs the data again)
    metrics.jsonl            one JSON object per logged step (train/..., eval/..., test/...)
    tensorboard/             the same scalars as TensorBoard events
    checkpoints/<step>/      orbax: train state + data position + loop progress; the last N are
                             kept, and the best step under early stopping
    plots/step_<N>/          attention heatmaps of the first validation examples
    results.json             final metrics of every split, overall and per source-length bucket

Every metrics.jsonl record also carries the run's cumulative training cost (`progress.Totals`):
`train/seconds` (inside training steps only), `train/tgt_tokens`, `train/src_tokens`, and
`train/flops` (the analytic count of models/flops.py, for every model it covers).
After validation, the final evaluation scores every test split and `config.extra_evaluations`
(evaluation_variants.py), each member writing its per-example outcomes under the results key
(`outcomes/<key>.json`, metrics/outcomes.py). results.json holds `step` (the step whose parameters
were evaluated: the best one under early stopping, else the last), `last_step` (the last step
trained), `stop_reason` ("early_stopping" before the cap | "num_train_steps"), `train_seconds`,
`tgt_tokens`, `src_tokens` (and `flops`) up to `last_step`, `wall_seconds` (the whole run, every
launch up to its last checkpoint), and with early stopping on, `early_stopping`: the rule and the
best value.

Re-running the same command on the same workdir resumes from the latest checkpoint (parameters,
optimizer state, step, data position, totals, early-stopping state; dropout keys are
`fold_in(seed key, step)`) and ends with the same results as an uninterrupted run. SIGTERM /
Ctrl-C save a checkpoint and return; a non-finite loss raises `errors.DivergedError` (a
FloatingPointError) naming the step, before anything is saved after it.

Stacked seeds (`config.seeds`, e.g. `--config.seeds=0,1,2`): the seeds train as one program with a
member axis on the state (see members.py). The workdir then holds config.json, the vocabularies,
checkpoints/ (the whole stack) and, last, results.json listing the members; each member writes the
files of a solo run (config.json, metrics.jsonl, tensorboard/, plots/, results.json) into
members/seed_<k>/. Under early stopping each member stops on its own (it is still trained with the
stack, but no longer recorded) and is evaluated at its own best step.
"""

import contextlib
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flax
import jax
import ml_collections
import numpy as np
from absl import logging

from attn_seq2seq import config_checks
from attn_seq2seq.errors import ConfigError, DivergedError
from attn_seq2seq.models import ModelConfig, count_params, flops, param_table
from attn_seq2seq.run_files import (
  CHECKPOINTS_DIR,
  CONFIG_FILE,
  PLOTS_DIR,
  SRC_VOCAB_FILE,
)
from attn_seq2seq.training import evaluation_variants, finish, members, optim, preemption, progress
from attn_seq2seq.training import mesh as mesh_lib
from attn_seq2seq.training import workdir as workdir_lib
from attn_seq2seq.training.checkpoint import Checkpointer
from attn_seq2seq.training.early_stopping import Rule, Tracker
from attn_seq2seq.training.evaluator import Evaluator
from attn_seq2seq.training.progress import FlopsFn, Totals
from attn_seq2seq.training.run_state import VALIDATION, RunState
from attn_seq2seq.training.train_functions import compile_in_background, make_train_functions

LOOP_RECORDS = ("train", "eval")  # metrics.jsonl prefixes the loop writes; others: the final ones


def check_config(config: ml_collections.ConfigDict, num_devices: int | None = None) -> None:
  """Fails fast, with a one-line ConfigError, on choices that would only fail later: optimizer,
  schedule, model names, dtype, early stopping, and batch sizes that do not divide over the
  devices."""
  config_checks.check_values(config)  # numeric ranges, dataset name, data_dir, early stopping
  optim.make_optimizer(config)
  ModelConfig.of_experiment(config)  # names, unknown fields
  members.member_seeds(config)  # stacked seeds: integers, none repeated
  from attn_seq2seq.data.datasets import dataset_spec  # noqa: PLC0415  (TFDS: only once checked)

  evaluation_variants.parse_variants(  # named splits and parts, before anything is built
    config.extra_evaluations, dataset_spec(config.data.name).eval_splits
  )
  num_devices = jax.device_count() if num_devices is None else num_devices
  for name in ("batch_size", "eval_batch_size"):
    if config[name] <= 0 or config[name] % num_devices:
      raise ConfigError(
        f"{name}={config[name]} is not divisible by the number of devices "
        f"({num_devices}); use a multiple of {num_devices}"
      )


def train_and_evaluate(
  config: ml_collections.ConfigDict,
  workdir: str | Path,
  *,
  lock_timeout: float = 0.0,
  allow_config_change: bool = False,
  flops_fn: FlopsFn | None = None,
  before_start: Callable[[], Any] | None = None,
) -> dict | None:
  """Trains and evaluates `config` in `workdir` (see the module docstring).

  The config is checked (`check_config`) before anything is created; the workdir is locked while
  this runs; a finished run's results are returned as they are, and nothing is trained or written.

  Args:
    config: the experiment config (`experiment_config.base_config` and `configs/*.py`).
    workdir: the run's directory; created, or resumed from its latest intact checkpoint.
    lock_timeout: seconds to wait for another trainer holding the workdir (0: refuse at once).
    allow_config_change: accept a config other than the workdir's, recording the old one in
      config.json's `config_history` (see workdir.py).
    flops_fn: `flops_fn(local_batch) -> float`, the FLOPs of one model's training step on this
      host's batch (cheap numpy on `src_lengths` / `tgt_lengths`); when given, every record
      carries the cumulative `train/flops` (counted for every host) and results.json `flops`.
      None (the default): the analytic count of models/flops.py, if it covers the model.
    before_start: called once the config is checked, before anything is created (`main`
      enables the compilation cache there).

  Returns:
    The final results as written to results.json, or None if SIGTERM / SIGINT stopped the run
    (a checkpoint was saved; run the same command again to resume).

  Raises:
    errors.UserError: with a one-line message (config, workdir, checkpoint, data, a diverged loss).
  """
  check_config(config)
  if before_start is not None:
    before_start()
  with workdir_lib.claim(
    workdir,
    config,
    lock_timeout=lock_timeout,
    allow_config_change=allow_config_change,
    owner=jax.process_index() == 0,
  ) as finished:
    if finished is not None:
      logging.info("%s holds a finished run (results.json); nothing to do", workdir)
      return finished
    run = _restore_or_initialise(config, Path(workdir), flops_fn)
    with _closing(run):
      return finish.finish(run) if _train(run) else None


@contextlib.contextmanager
def _closing(run: RunState):
  """Closes the run's writers and checkpointer at the end; if the run raises (e.g. a non-finite
  loss), saves already started still complete, so the last good checkpoint is on disk when the
  error reaches the user."""
  try:
    yield
  except BaseException:
    run.checkpointer.wait()
    raise
  run.checkpointer.close()
  run.group.close_writers()


# -- phase 1: restore or initialise ----------------------------------------------------------------


def _restore_or_initialise(
  config: ml_collections.ConfigDict, workdir: Path, flops_fn: FlopsFn | None
) -> RunState:
  """The run in `workdir` at its latest intact checkpoint (or freshly initialised), its records
  opened; the first step compiling in the background if there is training left."""
  started = time.perf_counter()
  group = members.MemberGroup(config, workdir)  # [the run] or one member per stacked seed
  mesh = mesh_lib.make_mesh()
  task = _load_task(config, workdir, group)
  startup = {"data": time.perf_counter() - started}
  fns = make_train_functions(config, task.src_vocab.size, task.tgt_vocab.size, mesh)
  run = RunState(
    config=config,
    workdir=workdir,
    group=group,
    rule=Rule.from_config(config),
    task=task,
    fns=fns,
    data_sharding=mesh_lib.data_sharding(mesh),
    checkpointer=Checkpointer(workdir / CHECKPOINTS_DIR, config.max_checkpoints_to_keep),
    train_iter=task.train_batches(
      config.batch_size,
      seed=members.data_order_seed(config),
      shard_index=jax.process_index(),
      num_shards=jax.process_count(),
    ),
    abstract_state=fns.abstract_state(group.keys(0)),  # shapes and shardings only
    dropout_rng=group.keys(1),
    started=started,
    startup=startup,
    trackers=[Tracker() for _ in range(len(group))],
  )
  restored = run.checkpointer.restore_latest(run.abstract_state)  # the newest intact step, or None
  progress_record = None
  if restored is not None:
    run.state, data_state, run.step = restored
    run.train_iter.set_state(data_state)
    progress_record = run.checkpointer.restore_progress(run.step)
    logging.info("resumed from step %d (%s)", run.step, workdir / CHECKPOINTS_DIR)
  flops_fn = flops_fn or _model_flops(fns.model.config, task)
  run.meter = progress.Interval(run.step, run.restore_progress(progress_record), flops_fn)
  if run.training_left():
    # Compile the first step in the background while the state is initialised, logs set up.
    first_batch = next(run.train_iter)
    global_shapes = mesh_lib.global_shapes(first_batch, run.data_sharding)
    compiling = compile_in_background(
      fns.train_step, run.abstract_state, global_shapes, run.dropout_rng
    )
    run.first = (first_batch, compiling)
  if restored is None:
    run.state = jax.block_until_ready(fns.init(group.keys(0)))
  startup["init"] = time.perf_counter() - started - sum(startup.values())
  _open_records(run)
  run.evaluator = Evaluator.for_config(
    fns.model, task, mesh, config, num_plots=config.num_attention_plots
  )
  return run


def _model_flops(model_config, task) -> FlopsFn | None:
  """One model's training FLOPs of a host's batch by the analytic count of models/flops.py (real
  tokens only), or None for a model it does not count."""
  try:
    flops.check_flop_model(model_config)
  except ConfigError:
    return None
  sizes = task.src_vocab.size, task.tgt_vocab.size
  return lambda batch: flops.train_flops(
    model_config, batch["src_lengths"], batch["tgt_lengths"], *sizes
  )


def _load_task(config: ml_collections.ConfigDict, workdir: Path, group: members.MemberGroup):
  """The task's data, with the run's own vocabularies when it resumes; the vocabularies saved
  into every directory of the run."""
  from attn_seq2seq import data  # noqa: PLC0415  (TFDS: imported only when data is needed)

  resuming = (workdir / CHECKPOINTS_DIR).exists() and (workdir / SRC_VOCAB_FILE).exists()
  vocabs = workdir_lib.load_vocabs(workdir) if resuming else None  # the run's own vocabularies
  task = data.load_task(config.data, vocabs=vocabs)
  if jax.process_index() == 0:
    for directory in group.workdirs():
      directory.mkdir(parents=True, exist_ok=True)
      task.save_vocabs(directory)
  return task


def _open_records(run: RunState) -> None:
  """config.json of the run and its members (written once), their metrics.jsonl cut back to the
  restored step, and their metric writers."""
  one_model = run.group.one_model(run.state.params)
  logging.info("model parameters%s:\n%s", run.group.describe(), param_table(one_model))
  if jax.process_index() == 0:
    for directory, config in run.group.records():
      _write_config(directory / CONFIG_FILE, config, run.task, count_params(one_model))
    for member in run.group.members:
      # Records logged after the checkpoint we resume from are logged again: drop them (and a
      # half-written last line, and a final evaluation's), so metrics.jsonl reads as one
      # uninterrupted run.
      workdir_lib.truncate_metrics(member.workdir, after_step=run.step, keep=_is_loop_record)
  run.group.open_writers()


def _is_loop_record(record: dict) -> bool:
  return all(key == "step" or key.split("/")[0] in LOOP_RECORDS for key in record)


# -- phase 2: train an interval --------------------------------------------------------------------


def _train(run: RunState) -> bool:
  """Trains until num_train_steps, or until every model has stopped early, evaluating at every
  evaluation step. Returns False if SIGTERM / SIGINT stopped it (a checkpoint was saved)."""
  logging.info(
    "training %s on %d %s device(s), steps %d -> %d",
    run.task.name,
    jax.device_count(),
    jax.devices()[0].device_kind,
    run.step,
    run.num_steps,
  )
  with preemption.StopOnSignal() as stop_request:
    while True:
      if run.evaluation_due():  # also a resumed run's, if its checkpoint came first
        _evaluate(run)
      if not run.training_left():
        if stop_request.requested_here():  # a signal during the last validation: stop before
          _stopped(run)  # the final evaluation, whose checkpoint is saved; a re-run does it
          return False
        return True
      if not _train_interval(run, stop_request):
        return False


def _stopped(run: RunState) -> None:
  """Waits for the stop checkpoint (saved by the caller) and says how to resume."""
  run.checkpointer.wait()
  logging.warning(
    "stopped by signal at step %d; checkpoint saved in %s; re-run the same command to resume",
    run.step,
    run.workdir / CHECKPOINTS_DIR,
  )


def _train_interval(run: RunState, stop_request: preemption.StopOnSignal) -> bool:
  """Trains up to the next evaluation step (or num_train_steps), with the progress lines and
  checkpoints due on the way. On SIGTERM / SIGINT, saves a checkpoint and returns False."""
  every = run.config.eval_every_steps
  end = min((run.step // every + 1) * every, run.num_steps)
  while run.step < end:
    _train_step(run)
    step = run.step
    stop = stop_request.is_set(step)
    if step % run.config.log_every_steps == 0 or step == run.num_steps or stop:
      _log_train(run)
    if stop:
      _save(run)
      _stopped(run)
      return False
    if step % run.config.checkpoint_every_steps == 0 and step < end:  # at `end`: after evaluating
      with run.pause():
        _save(run)
  return True


def _train_step(run: RunState) -> None:
  """Dispatches one update (`run.step` + 1); the previous step's loss is checked meanwhile."""
  if run.first is not None:
    local_batch, compiling = run.first
    compiling.result()  # compiled by now, or compiling: wait rather than compile twice
  else:
    local_batch = next(run.train_iter)
  batch = mesh_lib.to_global(local_batch, run.data_sharding)
  run.state, metrics = run.fns.train_step(run.state, batch, run.dropout_rng)
  run.step += 1  # `step` = updates done
  _check_finite(run)  # the previous step's loss: finished by now, so this does not stall
  run.pending_loss = (run.step, metrics["loss"][0])  # ([members])
  run.meter.add(metrics, local_batch)
  if run.first is not None:
    run.first = None
    jax.block_until_ready(metrics)
    run.startup["first step"] = time.perf_counter() - run.started - sum(run.startup.values())
    logging.info(
      "first step finished %.1f s after start (%s)",
      time.perf_counter() - run.started,
      ", ".join(f"{k} {v:.1f} s" for k, v in run.startup.items()),
    )
    run.meter.restart_clock(run.step)  # compilation is neither training speed nor time


def _log_train(run: RunState) -> None:
  """The progress line, and the `train/*` record of every member still training."""
  _check_finite(run)
  step, active = run.step, run.active()
  per_member = run.group.train_scalars(run.meter, step)  # waits for the step to finish
  run.meter.restart(step)  # the interval's time goes into the totals; the rest is not training
  with run.meter.paused():
    totals = run.meter.totals_now().scalars()
    for k in active:
      learning_rate = run.fns.learning_rate(step - 1, k)  # a grid's members: each its own
      run.group.write(k, step, {**per_member[k], "train/learning_rate": learning_rate, **totals})
    shown, suffix = run.group.summary([per_member[k] for k in active])
    logging.info("%s%s", progress.progress_line(step, run.num_steps, shown), suffix)
    _warn_if_diverging(step, [per_member[k] for k in active], run.task.tgt_vocab.size)


def _check_finite(run: RunState) -> None:
  """Raises DivergedError if the last step's loss is not finite for a member still training."""
  if run.pending_loss is None:
    return
  step, loss = run.pending_loss
  finite = np.atleast_1d(np.isfinite(np.asarray(loss)))
  bad = [k for k in run.active() if not finite[k]]
  if bad:
    raise DivergedError(
      f"non-finite training loss at step {step}{run.group.seeds_label(bad)}; stopping. "
      + progress.last_good_checkpoint(run.checkpointer.latest_step(), run.workdir / CHECKPOINTS_DIR)
    )


def _save(run: RunState) -> None:
  """Starts saving a checkpoint of the current step, with the loop's progress; keeps each
  member's best step."""
  _check_finite(run)
  run.checkpointer.progress = run.progress_record()
  run.checkpointer.keep = run.kept_steps()
  run.checkpointer.save(run.step, run.state, run.train_iter.get_state())


# -- phase 3: evaluate -----------------------------------------------------------------------------


def _evaluate(run: RunState) -> None:
  """The evaluation of the current step: the validation split of every member still training
  (records, heatmaps, early stopping), then the checkpoint due at this step, if any."""
  step, active = run.step, run.active()
  with run.pause() as totals:
    plot_dirs = [
      m.workdir / PLOTS_DIR / f"step_{step:06d}" if k in active else None
      for k, m in enumerate(run.group.members)
    ]
    metrics, took = run.group.evaluate(run.evaluator, run.state.params, VALIDATION, plot_dirs)
    for k in active:
      run.record_split(k, VALIDATION, step, metrics[k], took, totals)
    improved = _early_stopping(run, metrics, totals) if run.rule.enabled else False
    run.evaluated_step = step
    run.remember_validation(step, [m if k in active else None for k, m in enumerate(metrics)])
    if not run.training_left():
      run.meter.stop_clock()  # the totals of this evaluation are the run's final ones
    due = step % run.config.checkpoint_every_steps == 0 or step == run.num_steps
    if due or improved or not run.training_left():  # a best step, and a decision, are on disk
      _save(run)


def _early_stopping(run: RunState, metrics: list[dict], totals: Totals) -> bool:
  """Feeds the validation `metrics` of every member still training to its tracker; returns
  whether any of them improved on its best (that step's checkpoint is then needed)."""
  rule, improved = run.rule, False
  for k in run.active():
    tracker = run.trackers[k]
    value = metrics[k].get(rule.metric, math.nan)
    improved |= tracker.update(rule, run.step, value, totals.to_json())
    if tracker.stopped:
      logging.info(
        "early stopping%s at step %d: validation %s has not improved for %d evaluations; "
        "best %s at step %s",
        run.group.label(k),
        run.step,
        rule.metric,
        rule.patience,
        tracker.best_value,
        tracker.best_step,
      )
  return improved


def _write_config(path: Path, config: ml_collections.ConfigDict, task, num_params: int) -> None:
  record = {
    "config": config.to_dict(),
    "versions": {"jax": jax.__version__, "flax": flax.__version__},
    "devices": {
      "kind": jax.devices()[0].device_kind,
      "platform": jax.default_backend(),
      "count": jax.device_count(),
      "processes": jax.process_count(),
    },
    "task": {
      "name": task.name,
      "src_vocab_size": task.src_vocab.size,
      "tgt_vocab_size": task.tgt_vocab.size,
      "bucket_shapes": np.asarray(task.bucket_shapes).tolist(),
      "eval_splits": list(task.eval_splits),
      "metrics": list(task.metrics),
    },
    "num_params": num_params,
  }
  # Written once, when the run starts; a resumed run keeps it (a NaN stop never rewrites it); a
  # config change allowed by `workdir.claim` moves the old config into config_history.
  workdir_lib.record_config(path.parent, record)


def _warn_if_diverging(step: int, per_member: list[dict], tgt_vocab_size: int) -> None:
  """Warns when the training loss is far above a uniform guess's (ln of the target vocabulary
  size): the model is confidently wrong, usually a learning rate too high."""
  limit = 10 * max(float(np.log(tgt_vocab_size)), 1.0)
  losses = [scalars["train/loss"] for scalars in per_member]
  if any(loss > limit for loss in losses):
    logging.warning(
      "training loss %s at step %d is more than 10x a uniform guess's (%.2f): the "
      "run is diverging; try a lower learning_rate",
      ", ".join(f"{loss:.4g}" for loss in losses),
      step,
      limit / 10,
    )
