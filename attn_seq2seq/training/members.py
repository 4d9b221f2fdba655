r"""Stacked seeds: several seeds of one config trained as one compiled program.

    python -m attn_seq2seq.main --config=configs/dates.py --workdir=runs/dates_s012 \
        --config.seeds=0,1,2

`config.seeds` (a tuple; empty = a solo run of `config.seed`, exactly as before) lists the
members. Their parameters and optimizer states carry a leading member axis `[members, ...]`; the
train and eval steps are `jax.vmap`ped over it inside the same jitted, mesh-sharded step as a solo
run (members replicated, the batch split over 'data'), and every member sees the same batches. On
CPU the train step maps over the members instead, one after the other in the same compiled step
(`sequential_members` says why).
Member k has the initialisation and the dropout stream of the solo run with seed k (init key
`fold_in(key(k), 0)`, dropout key `fold_in(key(k), 1)`); the training-data order is
`config.data_order_seed` (None: follows `config.seed`) for all of them. So member k *is* the solo
run `--config.seed=k --config.data_order_seed=<the stack's data order seed>`: the same initial
parameters bit for bit, then the same training up to float32 rounding (a vmapped matmul may sum
in another order).

Workdir of a stacked run:
    config.json, src_vocab.json, tgt_vocab.json   the stacked run's config (with `seeds`)
    checkpoints/<step>/                           the whole stack ([members, ...]) + data position
    members/seed_<k>/                             one solo-run workdir per member: config.json (its
                                                  `seed`, `seeds` empty, `data_order_seed` set),
                                                  vocabularies, metrics.jsonl, tensorboard/,
                                                  plots/, results.json, exactly as a solo run's
    results.json                                  {"members": ["members/seed_0", ...], "step": N}
                                                  written last: the stack has finished

Learning-rate grids (`config.learning_rates`, one value per member beside `seeds`, e.g.
`--config.seeds=0,0,1,1 --config.learning_rates=0.001,0.003,0.001,0.003`): member k trains at
learning rate `learning_rates[k]` (the peak of the config's schedule; the optimizer's injected
hyperparameter, optim.py) with seed `seeds[k]`, and equals the solo run with that learning rate
and seed; a seed may then repeat, an (lr, seed) pair may not. Its workdir is
`members/lr<lr>_seed_<k>/` (`member_dir`). So a group's whole learning-rate x seed grid is one
compiled program.

`MemberGroup` is what the training loop sees of this: the models of a run, with their seeds,
records (config.json, metrics, log lines, results) and their slices of the state. A solo run is a
group of one, so the loop has no case of its own for a stack.
"""

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from attn_seq2seq.errors import ConfigError
from attn_seq2seq.metrics.outcomes import outcomes_path
from attn_seq2seq.run_files import CONFIG_FILE, MEMBERS_DIR, RESULTS_FILE
from attn_seq2seq.training import steps
from attn_seq2seq.training.metric_writer import MetricWriter


class Member(NamedTuple):
  """One model of a run: the run itself (solo) or one member of a stack."""

  seed: int  # its init and dropout seed
  index: int | None  # its position on the member axis; None: a solo run (no member axis)
  workdir: Path  # where its config.json, metrics, plots and results.json go
  config: ml_collections.ConfigDict  # what its config.json records
  learning_rate: float | None = None  # its own peak learning rate in a grid; None: the config's


def member_seeds(config: ml_collections.ConfigDict) -> tuple[int, ...] | None:
  """The seeds of a stacked run, or None for a solo run (`seeds` empty); a one-line ConfigError
  for a repeated or non-integer seed (a repeated (learning rate, seed) pair in a grid), or
  `learning_rates` that are not one positive number per seed."""
  seeds = tuple(config.get("seeds") or ())
  rates = member_learning_rates(config)
  if not seeds:
    return None
  if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
    raise ConfigError(
      f"seeds={seeds} is out of range; allowed: integers >= 0 (as seed), e.g. --config.seeds=0,1,2"
    )
  if rates is not None:
    if len(set(zip(rates, seeds, strict=True))) != len(seeds):
      raise ConfigError(
        f"learning_rates={rates} with seeds={seeds} repeats a (learning rate, seed) pair"
      )
  elif len(set(seeds)) != len(seeds):
    raise ConfigError(f"seeds={seeds} repeats a seed; each member needs its own seed")
  return seeds


def member_learning_rates(config: ml_collections.ConfigDict) -> tuple[float, ...] | None:
  """Each member's learning rate (`learning_rates`), or None (empty: every member trains at
  `learning_rate`); a one-line ConfigError unless it holds one positive number per seed."""
  rates = tuple(config.get("learning_rates") or ())
  if not rates:
    return None
  seeds = tuple(config.get("seeds") or ())
  if len(rates) != len(seeds):
    raise ConfigError(
      f"learning_rates={rates} has {len(rates)} values for {len(seeds)} seeds ({seeds}); "
      "give one learning rate per member, e.g. --config.seeds=0,0,1,1 "
      "--config.learning_rates=0.001,0.003,0.001,0.003"
    )
  if not all(isinstance(r, int | float) and not isinstance(r, bool) and r > 0 for r in rates):
    raise ConfigError(f"learning_rates={rates} must be positive numbers")
  return tuple(float(r) for r in rates)


def data_order_seed(config: ml_collections.ConfigDict) -> int:
  """The seed of the training-data order: `data_order_seed`, or `seed` when that is None."""
  order = config.get("data_order_seed")
  return config.seed if order is None else int(order)


def member_dir(workdir: str | Path, seed: int, learning_rate: float | None = None) -> Path:
  """`members/seed_<k>`, or `members/lr<lr>_seed_<k>` for a member of a learning-rate grid."""
  prefix = "" if learning_rate is None else f"lr{learning_rate:g}_"
  return Path(workdir) / MEMBERS_DIR / f"{prefix}seed_{seed}"


def members_of(config: ml_collections.ConfigDict, workdir: str | Path) -> list[Member]:
  """The models `config` trains in `workdir`: itself, or one `Member` per member of the stack."""
  seeds = member_seeds(config)
  if seeds is None:
    return [Member(config.seed, None, Path(workdir), config)]
  rates = member_learning_rates(config) or (None,) * len(seeds)
  return [
    Member(seed, k, member_dir(workdir, seed, lr), member_config(config, seed, lr), lr)
    for k, (seed, lr) in enumerate(zip(seeds, rates, strict=True))
  ]


def member_config(
  config: ml_collections.ConfigDict, seed: int, learning_rate: float | None = None
) -> ml_collections.ConfigDict:
  """The config of the solo run that member (`learning_rate`, `seed`) of stacked `config`
  equals: `seed` (and `learning_rate`) set, `seeds` (and `learning_rates`) empty, the stack's
  data order made explicit in `data_order_seed`."""
  member = config.copy_and_resolve_references()
  member.data_order_seed = data_order_seed(config)
  member.seed = seed
  member.seeds = ()
  if learning_rate is not None:
    member.learning_rate = learning_rate
    member.learning_rates = ()
  return member


def stack_of(workdir: str | Path) -> tuple[Path, int, int] | None:
  """`(stack workdir, member index, number of members)` when `workdir` is a member's
  (`<stack>/members/seed_<k>/` of a stack whose config.json lists k in `seeds`, or
  `lr<lr>_seed_<k>` of a grid), else None."""
  workdir = Path(workdir)
  if workdir.parent.name != MEMBERS_DIR:
    return None
  root = workdir.parent.parent
  try:
    config = ml_collections.ConfigDict(json.loads((root / CONFIG_FILE).read_text())["config"])
    names = [m.workdir.name for m in members_of(config, root)]
    return root, names.index(workdir.name), len(names)
  except (OSError, ValueError, KeyError, TypeError, AttributeError, ConfigError):
    return None


def stack_member_dirs(workdir: str | Path) -> list[Path] | None:
  """The member directories of a stacked run's root, in member order; None for anything else."""
  try:
    config = json.loads((Path(workdir) / CONFIG_FILE).read_text())["config"]
    found = members_of(ml_collections.ConfigDict(config), workdir)
  except (OSError, ValueError, KeyError, TypeError, AttributeError, ConfigError):
    return None
  return [m.workdir for m in found] if found[0].index is not None else None


def seed_keys(seeds: tuple[int, ...] | int, stream: int) -> jax.Array:
  """`fold_in(key(seed), stream)` (0: init, 1: dropout): one key, or `[members]` keys."""
  if isinstance(seeds, int):
    return jax.random.fold_in(jax.random.key(seeds), stream)
  return jnp.stack([jax.random.fold_in(jax.random.key(s), stream) for s in seeds])


def take(tree: Any, index: int | None) -> Any:
  """Member `index` of a stacked pytree (`[members, ...]` leaves); the tree itself for None."""
  return tree if index is None else jax.tree.map(lambda x: x[index], tree)


# -- stacking the steps ---------------------------------------------------------------------------


def stack_init(init_one, learning_rates: Sequence[float] | None = None):
  """`rngs [members] -> TrainState` with `[members, ...]` params and optimizer state and a scalar
  step, from `init_one(rng) -> TrainState` (`init_one(rng, learning_rate)` for a grid: member k
  gets `learning_rates[k]`). `lax.map`, not vmap: each member is initialised by exactly the solo
  computation (bit-identical parameters; a vmapped QR would round differently)."""

  def init(rngs):
    if learning_rates is None:
      state = jax.lax.map(init_one, rngs)
    else:
      rates = jnp.asarray(learning_rates, jnp.float32)
      state = jax.lax.map(lambda args: init_one(*args), (rngs, rates))
    return state._replace(step=state.step[0])

  return init


def stack_train_step(train_step, *, sequential: bool = False):
  """`train_step(state, batch, rng)` over the members: `state` has `[members, ...]` params and
  optimizer state and a scalar step, `rng` is `[members]` dropout keys, the batch is shared.
  Returns `(state, metrics)` with `[members]` metric sums and counts.

  `sequential=False`: vmapped, the members as one batched computation (what fills an
  accelerator). `sequential=True`: `lax.map`, the members one after the other inside the same
  compiled step, each exactly the solo computation (see `sequential_members`).
  """
  if not sequential:
    axes = steps.TrainState(step=None, params=0, opt_state=0)
    return jax.vmap(train_step, in_axes=(axes, None, 0), out_axes=(axes, 0))

  def step(state, batch, rngs):
    def member(args):  # params, opt_state: one member's slice; rng [] its dropout key
      params, opt_state, rng = args
      new, metrics = train_step(steps.TrainState(state.step, params, opt_state), batch, rng)
      return (new.params, new.opt_state), metrics

    (params, opt_state), metrics = jax.lax.map(member, (state.params, state.opt_state, rngs))
    return steps.TrainState(step=state.step + 1, params=params, opt_state=opt_state), metrics

  return step


def sequential_members(platform: str) -> bool:
  """Whether the stacked train step runs its members one after the other (`lax.map`) rather than
  vmapped, on devices of `platform` ('cpu', 'gpu', 'tpu').

  On XLA:CPU, yes: both cores are already busy on one member's step, so batching the members
  buys no parallelism, while it makes every activation buffer and the temporary buffer XLA:CPU
  maps afresh at every execution `members` times larger: more cache misses in memory-bound work
  (transposes, the attention's batched dots, the backward loop's accumulations) and more page
  faults. Mapped, each member runs the solo computation in one buffer the next member reuses.
  `scripts/benchmark.py --measure=stacked_seeds --seeds=3` on an idle 2-core machine: vmapped
  0.96 of the solo runs' throughput, mapped 1.09 (README, Speed). An accelerator running a small
  model is mostly idle, which the vmapped batch fills.
  """
  return platform == "cpu"  # CPU: batching members buys no parallelism, only cache misses


def stack_eval_step(eval_step):
  """`eval_step(params, batch)` vmapped over `[members, ...]` params; the batch is shared."""
  return jax.vmap(eval_step, in_axes=(0, None))


def split_metrics(metrics: Any, num_members: int) -> list[Any]:
  """Host-side metrics with `[members]` leaves -> one pytree of scalars per member."""
  return [jax.tree.map(lambda x, k=k: np.asarray(x)[k], metrics) for k in range(num_members)]


# -- the record of a finished stack ---------------------------------------------------------------


def stack_results(members: list[Member], workdir: Path, step: int) -> dict:
  """The stacked run's own results.json: where its members' results are, and the final step."""
  return {"members": [str(m.workdir.relative_to(workdir)) for m in members], "step": step}


def read_member_results(workdir: str | Path, results: dict) -> dict[str, dict]:
  """Member path (relative to `workdir`) -> that member's results.json, for a stack's `results`."""
  return {
    path: json.loads((Path(workdir) / path / RESULTS_FILE).read_text())
    for path in results["members"]
  }


# -- the models of a run, as the training loop sees them -----------------------------------------


class MemberGroup:
  """The models one run trains: the run itself (solo) or the members of a stack, each with its
  own records. Member k is index k of every per-member list taken or returned here."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str | Path):
    self.config, self.workdir = config, Path(workdir)
    self.members = members_of(config, workdir)
    self._stacked = self.members[0].index is not None
    self._writers: list[MetricWriter] = []

  def __len__(self) -> int:
    return len(self.members)

  def keys(self, stream: int) -> jax.Array:
    """`seed_keys` of the group (0: init, 1: dropout): one key solo, `[members]` for a stack."""
    seeds = tuple(m.seed for m in self.members) if self._stacked else self.config.seed
    return seed_keys(seeds, stream)

  def workdirs(self) -> list[Path]:
    """Every directory the run writes records into: the run's, then each member's."""
    return list(dict.fromkeys([self.workdir, *(m.workdir for m in self.members)]))

  def records(self) -> list[tuple[Path, ml_collections.ConfigDict]]:
    """`(directory, config)` of every config.json to write: the run's, then each member's."""
    return [(self.workdir, self.config)] + [
      (m.workdir, m.config) for m in self.members if m.workdir != self.workdir
    ]

  def one_model(self, tree: Any) -> Any:
    """The shapes of one model's slice of a (stacked) pytree."""
    return jax.eval_shape(lambda t: take(t, self.members[0].index), tree)

  def describe(self) -> str:
    return f" (each of {len(self)} members)" if self._stacked else ""

  # -- metrics.jsonl and the log -------------------------------------------------------------------

  def open_writers(self) -> None:
    self._writers = [MetricWriter(m.workdir) for m in self.members]

  def close_writers(self) -> None:
    for writer in self._writers:
      writer.close()

  def write(self, k: int, step: int, scalars: dict[str, float]) -> None:
    """Appends a record to member k's metrics.jsonl and TensorBoard events."""
    self._writers[k].write(step, scalars)

  def train_scalars(self, meter, step: int) -> list[dict[str, float]]:
    """Every member's `train/*` scalars of the meter's interval (`progress.Interval`)."""
    if self._stacked:
      return meter.member_scalars(step, len(self))
    return [meter.scalars(step)]

  def summary(self, per_member: Sequence[dict[str, float]]) -> tuple[dict[str, float], str]:
    """The scalars of the progress line, and what to add to it: the mean of a stack's members."""
    if not self._stacked:
      return per_member[0], ""
    mean = {key: float(np.mean([s[key] for s in per_member])) for key in per_member[0]}
    return mean, f"  (mean of {len(per_member)} members)"

  def label(self, k: int) -> str:
    """How log lines name member k ('' solo)."""
    return f" ({self._name(k)})" if self._stacked else ""

  def seeds_label(self, ks: Sequence[int]) -> str:
    """How an error names members `ks` ('' solo)."""
    if not self._stacked:
      return ""
    if self.members[0].learning_rate is None:
      return f" (seeds {', '.join(str(self.members[k].seed) for k in ks)})"
    return f" (members {'; '.join(self._name(k) for k in ks)})"

  def _name(self, k: int) -> str:
    member = self.members[k]
    lr = "" if member.learning_rate is None else f"learning rate {member.learning_rate:g}, "
    return f"{lr}seed {member.seed}"

  # -- evaluation --------------------------------------------------------------------------------

  def evaluate(
    self,
    evaluator,
    params,
    split: str,
    plot_dirs: Sequence[Path | None],
    *,
    steps: Sequence[int] | None = None,
    key: str | None = None,
    spec=None,
  ) -> tuple[list[dict], float]:
    """`(metrics, seconds)`: every member's metrics of `split` (`evaluator.Evaluator`, decoded
    with `spec`, default its own), all in one pass, with heatmaps into `plot_dirs[k]` (None:
    none), and the seconds that took. With `steps` (member k's parameters are those of step
    `steps[k]`), each member also writes its per-example outcomes under results key `key`
    (default: `split`) into its workdir's outcomes/."""
    began = time.perf_counter()
    key = key or split
    paths = [outcomes_path(m.workdir, key) for m in self.members] if steps else None
    kwargs = {"spec": spec, "results_key": key}
    if self._stacked:  # all members in one pass: vmapped eval step and search
      metrics = evaluator.evaluate_stack(
        params, split, plot_dirs=list(plot_dirs), outcomes_paths=paths, step=steps, **kwargs
      )
    else:
      metrics = [
        evaluator.evaluate(
          params,
          split,
          plot_dir=plot_dirs[0],
          outcomes_path=paths and paths[0],
          step=steps and steps[0],
          **kwargs,
        )
      ]
    return metrics, time.perf_counter() - began

  def gather(self, trees: Sequence[Any]) -> Any:
    """One pytree whose member k is member k of `trees[k]` (e.g. each member's parameters from
    its own step); solo: `trees[0]`."""
    if not self._stacked:
      return trees[0]
    return jax.tree.map(lambda *leaves: jnp.stack([x[k] for k, x in enumerate(leaves)]), *trees)

  def run_results(self, step: int) -> dict | None:
    """What the run's own results.json holds beside its members' (None: the run is the model)."""
    return stack_results(self.members, self.workdir, step) if self._stacked else None
