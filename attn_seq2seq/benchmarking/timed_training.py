"""The one timed training loop of every benchmark measurement: a run (or a stack of seeds)
initialised as `train_and_evaluate` initialises it, every batch shape compiled before any timed
step, and steps timed to `block_until_ready`.

    run = TimedTraining(config, task, mesh, count_flops=True)  # solo, or a stack (config.seeds)
    run.start(first_batch)        # init while the first batch's shape compiles in the background
    run.compile_bucket_shapes()   # every other training shape: timed steps never compile
    timing = run.time_steps(batches)           # a StepTiming; timings add up (`+`)
    timing.throughput()           # {'steps_per_second': ..., 'tgt_tokens_per_second': ..., ...}

The state advances exactly as in training (same init and dropout keys, the batches in the order
given), so a measurement that needs the trained model (time to accuracy) can use `run.params`.
Counts are of real sentences and tokens only (the pipeline's dummy rows are left out), summed
over the members of a stack, which all train on the same batch.
"""

import concurrent.futures
import dataclasses
import time

import jax
import ml_collections
import numpy as np

from attn_seq2seq.models import ModelConfig, flops
from attn_seq2seq.training import members, train_functions
from attn_seq2seq.training import mesh as mesh_lib


@dataclasses.dataclass(frozen=True)
class StepTiming:
  """What some timed steps did: seconds, and the real work of their batches (all members)."""

  steps: int = 0
  seconds: float = 0.0
  sentences: int = 0
  src_tokens: int = 0
  tgt_tokens: int = 0  # decoder steps: target tokens + EOS
  tgt_positions: int = 0  # padded target positions of the batches
  flops: float | None = None  # training FLOPs (models/flops.py), if counted

  def __add__(self, other: "StepTiming") -> "StepTiming":
    return StepTiming(
      self.steps + other.steps,
      self.seconds + other.seconds,
      self.sentences + other.sentences,
      self.src_tokens + other.src_tokens,
      self.tgt_tokens + other.tgt_tokens,
      self.tgt_positions + other.tgt_positions,
      None if None in (self.flops, other.flops) else self.flops + other.flops,
    )

  def throughput(self) -> dict:
    """Rates per second: steps, sentences, target tokens (EOS included), target words (EOS
    excluded), source tokens, achieved GFLOP/s if counted; and the padded target fraction."""
    s = self.seconds
    rates = {
      "steps": self.steps,
      "seconds": s,
      "steps_per_second": self.steps / s,
      "sentences_per_second": self.sentences / s,
      "tgt_tokens_per_second": self.tgt_tokens / s,
      "tgt_words_per_second": (self.tgt_tokens - self.sentences) / s,
      "src_tokens_per_second": self.src_tokens / s,
      "tgt_padding_fraction": 1.0 - self.tgt_tokens / self.tgt_positions,
    }
    if self.flops is not None:
      rates["gflops_per_second"] = self.flops / s / 1e9
    return rates


class TimedTraining:
  """One run of `config` (a stack of members if `config.seeds` is set) on `mesh`; see the module
  docstring.

  Attributes:
    members: 1 for a solo run, else the number of seeds stacked.
    setup_seconds: wall time spent initialising and compiling (never in a timed step).
    compile_seconds: time spent compiling train steps (the first overlaps initialisation).
    model: the Seq2Seq module.
  """

  def __init__(self, config: ml_collections.ConfigDict, task, mesh, *, count_flops: bool = False):
    self._fns = train_functions.make_train_functions(
      config, task.src_vocab.size, task.tgt_vocab.size, mesh
    )
    seeds = members.member_seeds(config)
    self.members = 1 if seeds is None else len(seeds)
    key_seeds = config.seed if seeds is None else seeds
    self._init_rng = members.seed_keys(key_seeds, 0)  # as train_and_evaluate
    self._dropout_rng = jax.device_put(members.seed_keys(key_seeds, 1), mesh_lib.replicated(mesh))
    self._sharding = mesh_lib.data_sharding(mesh)
    self._bucket_shapes = [tuple(int(n) for n in shape) for shape in task.bucket_shapes]
    self._vocab_sizes = (task.src_vocab.size, task.tgt_vocab.size)
    self._model_config = ModelConfig.of_experiment(config) if count_flops else None
    self._state, self._template, self._abstract_state, self._compiled = None, None, None, set()
    self.setup_seconds = self.compile_seconds = 0.0

  @property
  def model(self):
    return self._fns.model

  @property
  def params(self):
    """The current parameters (`[members, ...]` leaves for a stack)."""
    return self._state.params

  def start(self, first_batch: dict) -> None:
    """Initialises the state while the train step for `first_batch`'s shape compiles in a
    background thread (XLA compiles without the GIL), as `train_and_evaluate` starts."""
    began = time.perf_counter()
    self._template = first_batch
    # What init returns, as shapes: traced here, not in the compiling thread.
    self._abstract_state = self._fns.abstract_state(self._init_rng)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
      compiling = pool.submit(self._compile, shape_of(first_batch))
      self._state = jax.block_until_ready(self._fns.init(self._init_rng))
      compiling.result()
    self.setup_seconds += time.perf_counter() - began

  def compile_bucket_shapes(self, shapes=None) -> None:
    """Compiles the train step for each `(src_len, tgt_len)` of `shapes` (default: every
    training bucket shape) not compiled yet."""
    began = time.perf_counter()
    for shape in self._bucket_shapes if shapes is None else shapes:
      if shape not in self._compiled:
        self._compile(shape)
    self.setup_seconds += time.perf_counter() - began

  def time_steps(self, batches: list[dict]) -> StepTiming:
    """Trains on the host `batches` (after moving them to the devices and compiling any shape
    not compiled yet) and returns the time from the first dispatch to the last step's metrics
    being ready, with the batches' real work."""
    if self._state is None:
      raise RuntimeError("call start(first_batch) before time_steps")
    began = time.perf_counter()
    for shape in {shape_of(b) for b in batches} - self._compiled:
      self._compile(shape)
    global_batches = jax.block_until_ready([mesh_lib.to_global(b, self._sharding) for b in batches])
    self.setup_seconds += time.perf_counter() - began
    state, metrics = self._state, None
    start = time.perf_counter()
    for batch in global_batches:
      state, metrics = self._fns.train_step(state, batch, self._dropout_rng)
    jax.block_until_ready(metrics)
    seconds = time.perf_counter() - start
    self._state = state
    return self._work(batches, seconds)

  def _work(self, batches: list[dict], seconds: float) -> StepTiming:
    real = [b["example_ids"] >= 0 for b in batches]
    src = [b["src_lengths"][r] for b, r in zip(batches, real, strict=True)]
    tgt = [b["tgt_lengths"][r] for b, r in zip(batches, real, strict=True)]
    n = self.members
    count = None
    if self._model_config is not None:
      count = n * sum(
        flops.train_flops(self._model_config, s, t, *self._vocab_sizes)
        for s, t in zip(src, tgt, strict=True)
      )
    return StepTiming(
      steps=len(batches),
      seconds=seconds,
      sentences=n * int(sum(r.sum() for r in real)),
      src_tokens=n * int(sum(s.sum() for s in src)),
      tgt_tokens=n * int(sum(t.sum() for t in tgt)),
      tgt_positions=n * sum(b["tgt_out"].size for b in batches),
      flops=count,
    )

  def _compile(self, shape: tuple[int, int]) -> None:
    """Compiles the train step for batches of `(src_len, tgt_len)`, without running it (the
    executable lands in the jitted function's cache)."""
    began = time.perf_counter()
    batch = _shaped_like(self._template, shape)
    self._fns.train_step.lower(
      self._abstract_state,
      mesh_lib.global_shapes(batch, self._sharding),
      self._dropout_rng,
    ).compile()
    self._compiled.add(shape)
    self.compile_seconds += time.perf_counter() - began


def shape_of(batch: dict) -> tuple[int, int]:
  """A batch's `(src_len, tgt_len)`."""
  return int(batch["src_ids"].shape[1]), int(batch["tgt_out"].shape[1])


def _shaped_like(template: dict, shape: tuple[int, int]) -> dict:
  """Zeros shaped like `template` with `(src_len, tgt_len) = shape`: `src_ids [batch, src_len]`,
  the other 2-D arrays `[batch, tgt_len]`, the 1-D ones as they are."""
  src_len, tgt_len = shape
  return {
    key: np.zeros((len(v), src_len if key == "src_ids" else tgt_len), v.dtype)
    if v.ndim == 2
    else np.zeros_like(v)
    for key, v in template.items()
  }
