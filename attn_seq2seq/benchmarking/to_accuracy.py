"""How long a config trains until it works: training seconds and steps until greedy validation
exact match reaches a target (`scripts/benchmark.py --measure=to_accuracy --to_accuracy=X`).

    report = time_to_accuracy(config, task, mesh, target=0.95, eval_every=100, process_start=t0)

The run trains as `train_and_evaluate` trains it (same init, dropout, data order and steps; no
checkpoints or logs), through `timed_training.TimedTraining`, until the validation exact match,
checked every `eval_every` steps and at `num_train_steps`, reaches `target` (or the steps run
out). Training seconds include initialisation and compilation (every bucket shape, up front) and
exclude validation: the question "how long until it works" that a comparison with other
toolkits should ask.
"""

import time

import ml_collections

from attn_seq2seq.benchmarking.timed_training import TimedTraining
from attn_seq2seq.training import members
from attn_seq2seq.training.evaluator import Evaluator


def time_to_accuracy(
  config: ml_collections.ConfigDict,
  task,
  mesh,
  *,
  target: float,
  eval_every: int,
  process_start: float,
) -> dict:
  """Training seconds (validation excluded) and steps until greedy validation exact match
  reaches `target`; every validation on the way (see the module docstring)."""
  batches = task.train_batches(config.batch_size, seed=members.data_order_seed(config))
  run = TimedTraining(config, task, mesh)
  validate = _validation(run, task, mesh, config)
  began = time.perf_counter()
  pending = [next(batches)]
  run.start(pending[0])
  run.compile_bucket_shapes()
  train_seconds = validation_seconds = exact_match = 0.0
  step, evaluations = 0, []
  while exact_match < target and step < config.num_train_steps:
    chunk = min(eval_every - step % eval_every, config.num_train_steps - step)
    pending += [next(batches) for _ in range(chunk - len(pending))]
    train_seconds += run.time_steps(pending).seconds
    step, pending = step + chunk, []
    validation_began = time.perf_counter()
    exact_match = validate()
    validation_seconds += time.perf_counter() - validation_began
    evaluations.append(
      {"step": step, "exact_match": exact_match, "train_seconds": run.setup_seconds + train_seconds}
    )
  return {
    "target_exact_match": target,
    "reached": exact_match >= target,
    "steps": step,
    "train_seconds": evaluations[-1]["train_seconds"],
    "validation_seconds": validation_seconds,
    "setup_seconds": run.setup_seconds,  # initialisation and compilation, in train_seconds
    "startup_seconds": began - process_start,
    "validation_sentences": task.num_examples("validation"),
    "eval_every": eval_every,
    "evaluations": evaluations,
  }


def _validation(run: TimedTraining, task, mesh, config: ml_collections.ConfigDict):
  """The one use of the evaluator: `() -> greedy validation exact match of run.params`."""
  evaluator = Evaluator.for_config(run.model, task, mesh, config)
  return lambda: evaluator.evaluate(run.params, "validation")["exact_match"]
