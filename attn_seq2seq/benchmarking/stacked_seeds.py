"""One stacked run of N seeds against N solo runs of the same seeds
(`scripts/benchmark.py --measure=stacked_seeds --seeds=N`; stacking: training/members.py), or of
a learning-rate grid (`--learning_rates=A,B,...`: every (learning rate, seed) pair a member)
against one solo run per pair.

    report = stacked_seeds(config, task, mesh, num_seeds=3, steps=40)
    report = stacked_seeds(config, task, mesh, num_seeds=2, steps=40, learning_rates=(1e-3, 3e-3))

Every run trains on the same `steps` batches. All the runs are built first (initialised, every
shape of the batches compiled and run once, untimed); then each batch is one timed step of every
solo run and of the stack, in alternating order, so that a change in the machine's load (other
processes) weighs on both sides alike. Sentences/s are summed over the members (a stacked step
trains every member on the batch); compilation is reported apart.
"""

import functools
import operator

import ml_collections

from attn_seq2seq.benchmarking.timed_training import TimedTraining, shape_of
from attn_seq2seq.training import members


def stacked_seeds(
  config: ml_collections.ConfigDict,
  task,
  mesh,
  *,
  num_seeds: int,
  steps: int,
  learning_rates: tuple[float, ...] = (),
) -> dict:
  """Training throughput of the stack of seeds `config.seed ... config.seed + num_seeds - 1`
  (times `learning_rates`, a grid, if given) against their solo runs (see the module
  docstring)."""
  seeds = tuple(range(config.seed, config.seed + num_seeds))
  pairs = [(rate, seed) for seed in seeds for rate in learning_rates or (None,)]
  batches = task.train_batches(config.batch_size, seed=members.data_order_seed(config))
  timed = [next(batches) for _ in range(steps)]
  runs = [
    TimedTraining(_with_seeds(config, seed, (), (), rate), task, mesh) for rate, seed in pairs
  ]
  grid = tuple(rate for rate, _ in pairs) if learning_rates else ()
  stack = _with_seeds(config, config.seed, tuple(seed for _, seed in pairs), grid)
  runs.append(TimedTraining(stack, task, mesh))
  one_per_shape = list({shape_of(b): b for b in timed}.values())
  for run in runs:
    run.start(timed[0])
    run.time_steps(one_per_shape)  # untimed: compiles, and pays each program's first execution
  timings = [[] for _ in runs]
  for i, batch in enumerate(timed):
    order = list(enumerate(runs))
    for k, run in order if i % 2 else order[::-1]:
      timings[k].append(run.time_steps([batch]))
  *solo, stacked = [functools.reduce(operator.add, t) for t in timings]
  solo_total = functools.reduce(operator.add, solo)
  report = {
    "seeds": list(seeds),
    "learning_rates": list(learning_rates),  # a grid: each run is a (learning rate, seed) pair
    "steps": steps,
    "sentences_per_step": stacked.sentences / len(pairs) / steps,
    "solo": {
      "runs": len(pairs),
      "seconds": solo_total.seconds,
      "sentences_per_second": solo_total.sentences / solo_total.seconds,
      "steps_per_second_per_run": [t.steps / t.seconds for t in solo],
      # the other solo runs of its learning rate reuse its programs (each rate compiles its own)
      "compile_seconds": runs[0].compile_seconds,
    },
    "stacked": {
      "seconds": stacked.seconds,
      "sentences_per_second": stacked.sentences / stacked.seconds,
      "steps_per_second": stacked.steps / stacked.seconds,
      "compile_seconds": runs[-1].compile_seconds,
      # how the train step runs its members on this platform (training/members.py)
      "members": "lax.map" if members.sequential_members(mesh.devices.flat[0].platform) else "vmap",
    },
  }
  report["stacked_over_solo"] = (
    report["stacked"]["sentences_per_second"] / report["solo"]["sentences_per_second"]
  )
  return report


def _with_seeds(
  config: ml_collections.ConfigDict,
  seed: int,
  seeds: tuple,
  learning_rates: tuple = (),
  learning_rate: float | None = None,
) -> ml_collections.ConfigDict:
  """A copy of `config` with `seed` and `seeds` (empty: a solo run), `learning_rates` (a grid)
  and `learning_rate` (None: the config's), the data order kept."""
  copy = config.copy_and_resolve_references()
  copy.data_order_seed = members.data_order_seed(config)
  copy.seed, copy.seeds, copy.learning_rates = seed, seeds, learning_rates
  if learning_rate is not None:
    copy.learning_rate = learning_rate
  return copy
