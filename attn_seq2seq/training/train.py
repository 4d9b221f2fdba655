"""`train_and_evaluate(config, workdir)`: one experiment from data to results.json.

    mesh -> task (data, vocabularies) -> model + optimizer -> state (restored if the workdir has
    a checkpoint) -> loop: jitted data-parallel train_step, progress line, periodic evaluation,
    checkpoints -> final evaluation of every split -> results.json

Workdir layout:
    config.json              the resolved config, jax/flax versions, devices, task facts
    src_vocab.json ...       the vocabularies (decoding never needs the data again)
    metrics.jsonl            one JSON object per logged step (train/..., eval/..., test/...)
    tensorboard/             the same scalars as TensorBoard events
    checkpoints/<step>/      orbax: train state + data position; the last N are kept
    plots/step_<N>/          attention heatmaps of the first validation examples
    results.json             final metrics of every split, overall and per source-length bucket

Re-running the same command on the same workdir resumes from the latest checkpoint (parameters,
optimizer state, step, data position; dropout keys are `fold_in(seed key, step)`) and ends with
the same results as an uninterrupted run. SIGTERM / Ctrl-C save a checkpoint and return; a
non-finite loss raises `errors.DivergedError` (a FloatingPointError) naming the step, before
anything is saved after it.

Stacked seeds (`config.seeds`, e.g. `--config.seeds=0,1,2`): the seeds train as one program with a
member axis on the state (see members.py). The workdir then holds config.json, the vocabularies,
checkpoints/ (the whole stack) and, last, results.json listing the members; each member writes the
files of a solo run (config.json, metrics.jsonl, tensorboard/, plots/, results.json) into
members/seed_<k>/.
"""

import contextlib
import time
from pathlib import Path

import jax
import ml_collections
import numpy as np
from absl import logging

from attn_seq2seq import config_checks
from attn_seq2seq.errors import ConfigError, DivergedError
from attn_seq2seq.run_files import (
  CHECKPOINTS_DIR,
  CONFIG_FILE,
  RESULTS_FILE,
  SRC_VOCAB_FILE,
)
from attn_seq2seq.training import members, optim, preemption, progress
from attn_seq2seq.training import mesh as mesh_lib
from attn_seq2seq.training import workdir as workdir_lib
from attn_seq2seq.training.checkpoint import Checkpointer
from attn_seq2seq.training.evaluator import Evaluator
from attn_seq2seq.training.metric_writer import MetricWriter
from attn_seq2seq.training.train_functions import compile_in_background, make_train_functions

VALIDATION = "validation"


def check_config(config: ml_collections.ConfigDict, num_devices: int | None = None) -> None:
  """Fails fast, with a one-line ConfigError, on choices that would only fail later: optimizer,
  schedule, model names, dtype, and batch sizes that do not divide over the devices."""
  config_checks.check_values(config)  # every numeric field in range, dataset name, data_dir
  optim.make_optimizer(config)
  from attn_seq2seq.models import ModelConfig  # noqa: PLC0415

  ModelConfig.from_config(config.model, dtype=config.dtype)  # names, unknown fields
  members.member_seeds(config)  # stacked seeds: integers, none repeated
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
) -> dict | None:
  """Trains and evaluates `config` in `workdir` (see the module docstring).

  The workdir is locked while this runs; a finished run's results are returned as they are, and
  nothing is trained or written.

  Args:
    config: the experiment config (`experiment_config.base_config` and `configs/*.py`).
    workdir: the run's directory; created, or resumed from its latest intact checkpoint.
    lock_timeout: seconds to wait for another trainer holding the workdir (0: refuse at once).
    allow_config_change: accept a config other than the workdir's, recording the old one in
      config.json's `config_history` (see workdir.py).

  Returns:
    The final results as written to results.json, or None if SIGTERM / SIGINT stopped the run
    (a checkpoint was saved; run the same command again to resume).

  Raises:
    errors.UserError: with a one-line message (workdir, checkpoint, data, a diverged loss).
  """
  check_config(config)
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
    return _train_and_evaluate(config, Path(workdir))


def _train_and_evaluate(config: ml_collections.ConfigDict, workdir: Path) -> dict | None:
  started = time.perf_counter()
  workdir = Path(workdir)
  check_config(config)
  run_members = members.members_of(config, workdir)  # [the run] or one Member per stacked seed
  stacked = run_members[0].index is not None
  mesh = mesh_lib.make_mesh()
  data_sharding = mesh_lib.data_sharding(mesh)
  is_main = jax.process_index() == 0

  # -- data ---------------------------------------------------------------------------------------
  from attn_seq2seq import data  # noqa: PLC0415  (TFDS: imported only when data is needed)

  resuming = (workdir / CHECKPOINTS_DIR).exists() and (workdir / SRC_VOCAB_FILE).exists()
  vocabs = workdir_lib.load_vocabs(workdir) if resuming else None  # the run's own vocabularies
  task = data.load_task(config.data, vocabs=vocabs)
  startup = {"data": time.perf_counter() - started}
  if is_main:
    for member_workdir in {workdir, *(m.workdir for m in run_members)}:
      member_workdir.mkdir(parents=True, exist_ok=True)
      task.save_vocabs(member_workdir)

  # -- model, optimizer, state -------------------------------------------------------------------
  from attn_seq2seq.models import count_params, param_table  # noqa: PLC0415

  fns = make_train_functions(config, task.src_vocab.size, task.tgt_vocab.size, mesh)
  seeds = tuple(m.seed for m in run_members) if stacked else config.seed
  init_rng, dropout_rng = members.seed_keys(seeds, 0), members.seed_keys(seeds, 1)  # ([members])
  abstract_state = fns.abstract_state(init_rng)  # shapes and shardings only

  checkpointer = Checkpointer(workdir / CHECKPOINTS_DIR, config.max_checkpoints_to_keep)
  train_iter = task.train_batches(
    config.batch_size,
    seed=members.data_order_seed(config),
    shard_index=jax.process_index(),
    num_shards=jax.process_count(),
  )
  restored = checkpointer.restore_latest(abstract_state)  # the newest intact step, or None
  latest = None if restored is None else restored[2]
  if restored is not None:
    state, data_state, _ = restored
    train_iter.set_state(data_state)
    logging.info("resumed from step %d (%s)", latest, workdir / CHECKPOINTS_DIR)
  if (latest or 0) < config.num_train_steps:
    # Compile the first step in the background while the state is initialised, logs set up.
    first_batch = next(train_iter)
    first_compile = compile_in_background(
      fns.train_step,
      abstract_state,
      mesh_lib.global_shapes(first_batch, data_sharding),
      dropout_rng,
    )
  if latest is None:
    state = jax.block_until_ready(fns.init(init_rng))
  start_step = int(state.step)
  startup["init"] = time.perf_counter() - started - sum(startup.values())
  member_params = jax.eval_shape(lambda p: members.take(p, 0 if stacked else None), state.params)
  logging.info(
    "model parameters%s:\n%s",
    f" (each of {len(run_members)} members)" if stacked else "",
    param_table(member_params),
  )
  if is_main:
    _write_config(workdir / CONFIG_FILE, config, task, count_params(member_params))
    for member in run_members if stacked else []:
      _write_config(member.workdir / CONFIG_FILE, member.config, task, count_params(member_params))

  if is_main:
    for member in run_members:
      # Steps logged after the checkpoint we resume from are logged again: drop them (and a
      # half-written last line), so metrics.jsonl reads as one uninterrupted run.
      workdir_lib.truncate_metrics(member.workdir, after_step=start_step)
  writers = [MetricWriter(member.workdir) for member in run_members]
  evaluator = Evaluator.for_config(
    fns.model, task, mesh, config, num_plots=config.num_attention_plots
  )

  def save(step, state):
    checkpointer.save(step, state, train_iter.get_state())

  def evaluate(step, state, splits, plot: bool) -> list[dict]:
    """Per member: split -> metrics (each member's written to its own metrics)."""
    all_metrics = [{} for _ in run_members]
    for split in splits:
      plot_dirs = [
        m.workdir / "plots" / f"step_{step:06d}" if plot and split == VALIDATION else None
        for m in run_members
      ]
      began = time.perf_counter()
      if stacked:  # all members in one pass: vmapped eval step and search
        split_metrics = evaluator.evaluate_stack(state.params, split, plot_dirs=plot_dirs)
      else:
        split_metrics = [evaluator.evaluate(state.params, split, plot_dir=plot_dirs[0])]
      took = time.perf_counter() - began
      for member, writer, metrics, out in zip(
        run_members, writers, split_metrics, all_metrics, strict=True
      ):
        headline = "  ".join(
          f"{k} {v:.4f}" for k, v in metrics.items() if "/" not in k and k != "count"
        )
        logging.info(
          "%s at step %d%s: %s (%.1f s)",
          split,
          step,
          f" (seed {member.seed})" if stacked else "",
          headline,
          took,
        )
        prefix = "eval" if split == VALIDATION else split
        writer.write(step, {f"{prefix}/{k}": v for k, v in metrics.items() if "/" not in k})
        out[split] = metrics
    return all_metrics

  # -- the loop ----------------------------------------------------------------------------------
  num_steps = config.num_train_steps
  logging.info(
    "training %s on %d %s device(s), steps %d -> %d",
    task.name,
    jax.device_count(),
    jax.devices()[0].device_kind,
    start_step,
    num_steps,
  )
  meter = progress.Interval(start_step)
  pending_loss = None  # (step, loss sum) of the last dispatched step, checked one step late
  stopped = False

  def check_finite():
    if pending_loss is not None and not np.all(finite := np.isfinite(np.asarray(pending_loss[1]))):
      bad = [m.seed for m, ok in zip(run_members, np.atleast_1d(finite), strict=True) if not ok]
      bad = f" (seeds {', '.join(map(str, bad))})" if stacked else ""
      raise DivergedError(
        f"non-finite training loss at step {pending_loss[0]}{bad}; stopping. The last good "
        f"checkpoint is step {checkpointer.latest_step()} in {workdir / CHECKPOINTS_DIR}"
      )

  with preemption.StopOnSignal() as stop_request, _finish_saves_on_error(checkpointer):
    for step in range(start_step + 1, num_steps + 1):  # `step` = updates done after this one
      first = step == start_step + 1
      if first:
        local_batch = first_batch
        first_compile.result()  # compiled by now, or compiling: wait rather than compile twice
      else:
        local_batch = next(train_iter)
      batch = mesh_lib.to_global(local_batch, data_sharding)
      state, metrics = fns.train_step(state, batch, dropout_rng)
      check_finite()  # the previous step's loss: finished by now, so this does not stall
      pending_loss = (step, metrics["loss"][0])  # ([members])
      meter.add(metrics, np.count_nonzero(local_batch["tgt_out"]) * jax.process_count())
      if first:
        jax.block_until_ready(metrics)
        startup["first step"] = time.perf_counter() - started - sum(startup.values())
        logging.info(
          "first step finished %.1f s after start (%s)",
          time.perf_counter() - started,
          ", ".join(f"{k} {v:.1f} s" for k, v in startup.items()),
        )
        meter.restart_clock(step)  # compilation is not training speed

      stop = stop_request.is_set(step)
      if step % config.log_every_steps == 0 or step == num_steps or stop:
        check_finite()
        per_member = (
          meter.member_scalars(step, len(run_members)) if stacked else [meter.scalars(step)]
        )
        for scalars, writer in zip(per_member, writers, strict=True):
          scalars["train/learning_rate"] = float(fns.schedule(step - 1))
          writer.write(step, scalars)
        if stacked:  # one line: the mean over the members
          mean = {k: float(np.mean([s[k] for s in per_member])) for k in per_member[0]}
          logging.info(
            "%s  (mean of %d members)",
            progress.progress_line(step, num_steps, mean),
            len(run_members),
          )
        else:
          logging.info("%s", progress.progress_line(step, num_steps, per_member[0]))
        meter.restart(step)
        _warn_if_diverging(step, per_member, task.tgt_vocab.size)
      if stop:
        check_finite()
        save(step, state)
        checkpointer.wait()
        logging.warning(
          "stopped by signal at step %d; checkpoint saved in %s; re-run the same command to resume",
          step,
          workdir / CHECKPOINTS_DIR,
        )
        stopped = True
        break
      with meter.paused():  # evaluation and checkpointing are not training throughput
        if step % config.eval_every_steps == 0 and step != num_steps:
          evaluate(step, state, [VALIDATION], plot=True)
        if step % config.checkpoint_every_steps == 0 or step == num_steps:
          check_finite()
          save(step, state)

  if stopped:
    checkpointer.close()
    for writer in writers:
      writer.close()
    return None

  # -- final evaluation --------------------------------------------------------------------------
  final_step = int(state.step)
  splits = [VALIDATION] + [s for s in task.eval_splits if s != VALIDATION]
  final = evaluate(final_step, state, splits, plot=True)
  checkpointer.wait()
  checkpointer.close()
  for writer in writers:
    writer.close()
  for member, metrics in zip(run_members, final, strict=True):
    results = {"step": final_step, **metrics}
    plot_dir = member.workdir / "plots" / f"step_{final_step:06d}"
    results["attention_plots"] = [  # relative to the member's workdir
      str(p.relative_to(member.workdir)) for p in sorted(plot_dir.glob(f"{VALIDATION}_*.png"))
    ]
    if is_main:
      _write_results(member.workdir, results)
  if stacked:  # last: the stack as a whole has finished
    results = members.stack_results(run_members, workdir, final_step)
    if is_main:
      _write_results(workdir, results)
  return results


def _write_results(workdir: Path, results: dict) -> None:
  workdir_lib.merge_results(workdir, results)  # atomically; entries of `evaluate` are kept
  logging.info("results written to %s", workdir / RESULTS_FILE)


def _write_config(path: Path, config: ml_collections.ConfigDict, task, num_params: int) -> None:
  import flax  # noqa: PLC0415

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


@contextlib.contextmanager
def _finish_saves_on_error(checkpointer: Checkpointer):
  """If the loop raises (e.g. a non-finite loss), saves already started still complete, so the
  last good checkpoint is on disk when the error reaches the user."""
  try:
    yield
  except BaseException:
    checkpointer.wait()
    raise


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
