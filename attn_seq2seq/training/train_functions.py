"""The jitted functions of one experiment config: its model, learning-rate schedule, `init` and
data-parallel `train_step`, compiled once per process and shared by every run that needs them.

    fns = make_train_functions(config, src_vocab_size, tgt_vocab_size, mesh)
    state = fns.init(rng)                                   # replicated on the mesh
    state, metrics = fns.train_step(state, batch, dropout_rng)
"""

import functools
import threading
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import ml_collections

from attn_seq2seq.training import members, optim, steps
from attn_seq2seq.training import mesh as mesh_lib


class TrainFunctions(NamedTuple):
  """The model and its jitted functions for one config (see `make_train_functions`)."""

  model: Any  # the Seq2Seq module
  schedule: Callable[[int], float]  # step -> learning rate (of peak 1 in a learning-rate grid)
  init: Callable  # rng ([members] rngs if stacked) -> replicated TrainState
  train_step: Callable  # (state, global batch, dropout rng(s)) -> (state, metrics); state donated
  state_sharding: Any  # of every leaf of the state: replicated
  learning_rates: tuple[float, ...] | None = None  # each member's peak in a grid (members.py)

  def learning_rate(self, step: int, k: int = 0) -> float:
    """Member k's learning rate at `step` (the schedule's, scaled to its peak in a grid)."""
    return float(self.schedule(step)) * (
      1.0 if self.learning_rates is None else self.learning_rates[k]
    )

  def abstract_state(self, rng) -> steps.TrainState:
    """What `init(rng)` would return, as `jax.ShapeDtypeStruct`s with shardings (no compute)."""
    return jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=self.state_sharding),
      jax.eval_shape(self.init, rng),
    )


def make_train_functions(
  config: ml_collections.ConfigDict, src_vocab_size: int, tgt_vocab_size: int, mesh
) -> TrainFunctions:
  """The model, schedule, and jitted init and train step of `config` on `mesh`.

  Cached on everything they depend on (the model, the optimizer fields, label smoothing, the
  mesh), so running the same config again in one process (a resumed run, a sweep over seeds,
  the tests) reuses the compiled executables instead of compiling again. A stacked config
  (`seeds`) gets `init(rngs [members])` and a train step over the members, taking `[members]`
  dropout keys: vmapped, or mapped one member after the other on CPU (members.py,
  `sequential_members`). With `learning_rates`, each member's optimizer state holds its own
  peak learning rate (`optim.make_optimizer(..., per_member_learning_rate=True)`).
  """
  from attn_seq2seq.models import ModelConfig, build_model  # noqa: PLC0415  (flax: only when built)

  model = build_model(ModelConfig.of_experiment(config), src_vocab_size, tgt_vocab_size)
  settings = tuple((name, config[name]) for name in optim.OPTIMIZER_FIELDS)
  stacked = members.member_seeds(config) is not None
  sequential = stacked and members.sequential_members(mesh.devices.flat[0].platform)
  rates = members.member_learning_rates(config)
  return _train_functions(
    model, settings, float(config.label_smoothing), mesh, stacked, sequential, rates
  )


@functools.lru_cache(maxsize=8)
def _train_functions(
  model,
  optimizer_settings: tuple,
  label_smoothing: float,
  mesh,
  stacked: bool = False,
  sequential: bool = False,
  learning_rates: tuple[float, ...] | None = None,
):
  settings = ml_collections.ConfigDict(dict(optimizer_settings))
  tx, schedule = optim.make_optimizer(settings, per_member_learning_rate=bool(learning_rates))
  replicated, data_sharding = mesh_lib.replicated(mesh), mesh_lib.data_sharding(mesh)
  init = functools.partial(_init_state, model=model, tx=tx)
  step = functools.partial(steps.train_step, model=model, tx=tx, label_smoothing=label_smoothing)
  if stacked:  # a member axis on the state; one program for every member (members.py)
    init, step = (
      members.stack_init(init, learning_rates),
      members.stack_train_step(step, sequential=sequential),
    )
  # `init` runs once: compile it fast (-O0) rather than make it run fast.
  init = jax.jit(
    init, out_shardings=replicated, compiler_options={"xla_backend_optimization_level": 0}
  )
  train_step = jax.jit(
    step,
    in_shardings=(replicated, data_sharding, replicated),
    out_shardings=(replicated, replicated),
    donate_argnums=0,
  )
  return TrainFunctions(model, schedule, init, train_step, replicated, learning_rates)


def compile_in_background(jitted, *abstract_args) -> "_Background":
  """Starts compiling `jitted` for these argument shapes (`jax.ShapeDtypeStruct`s) in a thread;
  `.result()` waits. The executable lands in `jitted`'s cache, so the first call runs at once."""
  return _Background(lambda: jitted.lower(*abstract_args).compile())


class _Background:
  """Runs `fn()` in a daemon thread; `result()` waits and re-raises its exception, if any.
  (XLA compiles without holding the GIL, so this overlaps with work in the main thread.)"""

  def __init__(self, fn: Callable[[], Any]):
    self._result, self._error = None, None
    self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
    self._thread.start()

  def _run(self, fn):
    try:
      self._result = fn()
    except BaseException as e:  # noqa: BLE001  (re-raised in the caller's thread)
      self._error = e

  def result(self):
    self._thread.join()
    if self._error is not None:
      raise self._error
    return self._result


def _init_state(rng, learning_rate=None, *, model, tx) -> steps.TrainState:
  """A fresh state; `learning_rate`: the member's own peak in a learning-rate grid."""
  from attn_seq2seq.models import init_params  # noqa: PLC0415  (flax: only when built)

  state = steps.create_train_state(init_params(model, rng), tx)
  if learning_rate is None:
    return state
  return state._replace(opt_state=optim.with_learning_rate(state.opt_state, learning_rate))
