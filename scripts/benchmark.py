"""Training and decoding speed of one config, as JSON, against this machine's matmul peak.

    python scripts/benchmark.py --config=configs/reverse.py:benchmark [--output=FILE]
    python scripts/benchmark.py --seeds=3          # stacked seeds against solo runs only
    python scripts/benchmark.py --to_accuracy=0.95 # time to 95% validation exact match only

Measures, in one process:
  * startup: seconds from process start to the first finished training step (imports, data,
    init, compile), and the compile time of the first step;
  * training throughput in steady state (every bucket shape compiled beforehand): steps/s,
    target tokens/s (EOS included), target words/s (EOS excluded), source tokens/s;
  * achieved GFLOP/s by the reference FLOP model below, and its fraction of the float32 matmul
    peak measured in the same run (the best of a few square matmuls, all cores);
  * greedy and beam-5 decoding throughput (sentences/s, compilation excluded) on
    `--decode_sentences` validation sentences, length-sorted into batches of `--decode_batch_size`;
  * with `--cache_startup` (the default), the startup of two more runs in fresh processes, the
    same config with JAX's persistent compilation cache in a new directory: the first run fills
    it, the second (what every later run of a sweep pays) loads its compiled steps from it.
    The measurements above run without the cache.

With `--seeds=N`, only this runs instead: the training throughput of one stacked run of N seeds
(`config.seeds`, see attn_seq2seq/training/members.py) against N solo runs of the same seeds, one
after the other, on the same `--steps` batches (every shape compiled beforehand, compilation
reported apart): sentences/s summed over the members, and the stacked/solo ratio.

With `--to_accuracy=X`, only this runs instead: the config trains (as train_and_evaluate does:
same init, dropout, data order, steps; no checkpoints or logs) until greedy validation exact
match, checked every `--eval_every` steps, reaches X (or `num_train_steps` ends): the training
seconds (initialisation and compilation included, validation excluded) and steps it took, the
question "how long until it works" that a comparison with other toolkits should ask.

FLOP model (the "useful" work of the reference architecture): 2 x the multiply-adds of
the encoder's input and recurrent matmuls (both directions), the key projection (once per
sentence), and per target step the query projection, scores, context, decoder cell (embedding
and context input, recurrent), readout and output layer; real (unpadded) tokens only; training
= 3 x forward. It counts the textbook formulation, whatever the implementation computes.

Decoding uses the parameters of `--workdir`'s latest checkpoint if given; otherwise the freshly
initialised model with EOS suppressed until the output is one token longer than its source (the
length of a perfect `reverse`/`copy` output), so every search runs the steps a trained model
would.
"""

import time

_PROCESS_START = time.perf_counter()

import datetime  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402

from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from attn_seq2seq import cli  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file(
  "config", "configs/reverse.py:benchmark", "Config to benchmark.", lock_config=True
)
_STEPS = flags.DEFINE_integer(
  "steps", 40, "Timed training steps (after compilation).", lower_bound=1
)
_DECODE_SENTENCES = flags.DEFINE_integer(
  "decode_sentences", 1000, "Validation sentences decoded.", lower_bound=1
)
_DECODE_BATCH = flags.DEFINE_integer(
  "decode_batch_size", 64, "Sentences per search batch.", lower_bound=1
)
_BEAM = flags.DEFINE_integer(
  "beam_size", 5, "Beam size of the beam-search measurement.", lower_bound=1
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Trained run whose parameters decoding uses.")
_OUTPUT = flags.DEFINE_string("output", None, "Also write the JSON here.")
_CACHE_STARTUP = flags.DEFINE_bool(
  "cache_startup",
  True,
  "Also measure the startup of a first and a second identical run "
  "with the persistent compilation cache (two more processes).",
)
_SEEDS = flags.DEFINE_integer(
  "seeds",
  0,
  "N > 0: only compare one stacked run of N seeds (seed, seed + 1, ...) with N "
  "solo runs (training throughput, see the module docstring).",
  lower_bound=0,
)
_TO_ACCURACY = flags.DEFINE_float(
  "to_accuracy",
  None,
  "Only time the training until greedy validation exact match reaches this "
  "(e.g. 0.95; see the module docstring).",
  lower_bound=0.0,
  upper_bound=1.0,
)
_EVAL_EVERY = flags.DEFINE_integer(
  "eval_every", 100, "--to_accuracy: steps between validations.", lower_bound=1
)
_STARTUP_ONLY = flags.DEFINE_string(
  "startup_only",
  None,
  "Internal (--cache_startup): print the startup JSON of one run using "
  "this compilation cache directory, and exit.",
)


def matmul_peak_gflops(n: int = 2048, seconds: float = 2.0) -> float:
  """Best float32 GFLOP/s of an `[n, n] x [n, n]` jitted matmul over repeated runs."""
  import jax  # noqa: PLC0415
  import jax.numpy as jnp  # noqa: PLC0415

  a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
  matmul = jax.jit(lambda a: a @ a)
  matmul(a).block_until_ready()
  best, deadline = float("inf"), time.perf_counter() + seconds
  while time.perf_counter() < deadline:
    start = time.perf_counter()
    matmul(a).block_until_ready()
    best = min(best, time.perf_counter() - start)
  return 2 * n**3 / best / 1e9


def forward_macs(model_config, src_len: int, tgt_vocab: int) -> tuple[int, int]:
  """Multiply-adds under the reference FLOP model: `(per sentence, per target step)`, for a
  source of `src_len` tokens (the encoder and the key projection run once per sentence)."""
  if model_config.decoder != "bahdanau":
    raise ValueError(f"the FLOP model covers the bahdanau decoder, not {model_config.decoder!r}")
  e, h, a = model_config.embed_size, model_config.hidden_size, model_config.attention_size
  gates = {"gru": 3, "lstm": 4}[model_config.cell] * h
  dirs = 2 if model_config.bidirectional else 1
  key = dirs * h
  additive = model_config.scorer == "additive"
  sentence = key * (a if additive else h) * src_len  # key projection
  for layer in range(model_config.num_layers):
    inputs = e if layer == 0 else key
    sentence += dirs * (inputs * gates + h * gates) * src_len  # encoder input + recurrence
  step = h * a if additive else 0  # query projection
  step += src_len * (a if additive else h) + src_len * key  # scores, context
  step += (e + key) * gates + h * gates  # decoder cell: input (embedding, context), recurrence
  step += (h + key + e) * 2 * h + h * tgt_vocab  # maxout readout, output layer
  return sentence, step


def train_flops(model_config, batch, tgt_vocab: int) -> float:
  """Training FLOPs of a batch: 3 x forward, 2 FLOPs per multiply-add, real tokens only."""
  total = 0
  for s, t, i in zip(batch["src_lengths"], batch["tgt_lengths"], batch["example_ids"], strict=True):
    if i >= 0:
      sentence, step = forward_macs(model_config, int(s), tgt_vocab)
      total += sentence + int(t) * step
  return 6.0 * total


def benchmark_training(config, task, mesh) -> tuple[dict, object]:
  import jax  # noqa: PLC0415
  import numpy as np  # noqa: PLC0415

  from attn_seq2seq.training import mesh as mesh_lib  # noqa: PLC0415

  batches = task.train_batches(config.batch_size, seed=config.seed)
  batch = next(batches)
  fns, state, dropout_rng, sharding, startup = _first_step(config, task, mesh, batch)

  # Compile every other bucket shape now, so the timed steps measure steady state only.
  for src_len, tgt_len in task.bucket_shapes:
    shaped = {
      k: np.zeros((config.batch_size, src_len if k == "src_ids" else tgt_len), np.int32)
      if v.ndim == 2
      else np.zeros_like(v)
      for k, v in batch.items()
    }
    fns.train_step.lower(state, mesh_lib.to_global(shaped, sharding), dropout_rng).compile()

  timed = [next(batches) for _ in range(_STEPS.value)]
  global_batches = [mesh_lib.to_global(b, sharding) for b in timed]
  jax.block_until_ready(global_batches)
  start_timed = time.perf_counter()
  for b in global_batches:
    state, metrics = fns.train_step(state, b, dropout_rng)
  jax.block_until_ready(metrics)
  seconds = time.perf_counter() - start_timed

  real = [b["example_ids"] >= 0 for b in timed]
  tgt_tokens = sum(int(b["tgt_lengths"][m].sum()) for b, m in zip(timed, real, strict=True))
  flops = sum(train_flops(config.model, b, task.tgt_vocab.size) for b in timed)
  padded = sum(b["tgt_out"].size for b in timed)
  return {
    **startup,
    "steps": len(timed),
    "steps_per_second": len(timed) / seconds,
    "tgt_tokens_per_second": tgt_tokens / seconds,
    "tgt_words_per_second": (tgt_tokens - sum(int(m.sum()) for m in real)) / seconds,
    "src_tokens_per_second": sum(
      int(b["src_lengths"][m].sum()) for b, m in zip(timed, real, strict=True)
    )
    / seconds,
    "tgt_padding_fraction": 1.0 - tgt_tokens / padded,
    "gflops_per_second": flops / seconds / 1e9,
  }, state.params


def first_step_seconds(config, task, mesh) -> dict:
  """Startup of a run, as `benchmark_training` (and train_and_evaluate) start: seconds from
  process start, and from init, to the first finished training step."""
  return _first_step(
    config, task, mesh, next(task.train_batches(config.batch_size, seed=config.seed))
  )[-1]


def _first_step(config, task, mesh, batch) -> tuple:
  """As train_and_evaluate starts: the first step compiles in the background while the state is
  initialised, then runs on `batch`. Returns (train functions, state after the step, dropout
  key, data sharding, {'startup_seconds': from process start, 'init_compile_and_first_step_
  seconds': from init} to the first finished step)."""
  import jax  # noqa: PLC0415

  from attn_seq2seq.training import mesh as mesh_lib  # noqa: PLC0415
  from attn_seq2seq.training import train_functions  # noqa: PLC0415

  fns = train_functions.make_train_functions(config, task.src_vocab.size, task.tgt_vocab.size, mesh)
  seed = jax.random.key(config.seed)
  init_rng = jax.random.fold_in(seed, 0)
  dropout_rng = jax.device_put(jax.random.fold_in(seed, 1), mesh_lib.replicated(mesh))
  sharding = mesh_lib.data_sharding(mesh)
  start = time.perf_counter()
  compiling = train_functions.compile_in_background(
    fns.train_step,
    fns.abstract_state(init_rng),
    mesh_lib.global_shapes(batch, sharding),
    dropout_rng,
  )
  state = fns.init(init_rng)
  compiling.result()
  state, metrics = fns.train_step(state, mesh_lib.to_global(batch, sharding), dropout_rng)
  jax.block_until_ready(metrics)
  end = time.perf_counter()
  return (
    fns,
    state,
    dropout_rng,
    sharding,
    {"startup_seconds": end - _PROCESS_START, "init_compile_and_first_step_seconds": end - start},
  )


def startup_with_compilation_cache(argv: list[str]) -> dict:
  """Startup of two identical runs in fresh processes (this command with `--startup_only`)
  sharing a new, empty compilation cache: the first compiles and fills it, the second loads."""
  import subprocess  # noqa: PLC0415
  import tempfile  # noqa: PLC0415

  with tempfile.TemporaryDirectory(prefix="benchmark_jax_cache_") as cache:
    runs = []
    for _ in range(2):
      args = [sys.executable, *argv, f"--startup_only={cache}"]
      out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
      runs.append(json.loads(out.strip().splitlines()[-1]))
    entries = len(os.listdir(cache))
  return {
    "cache": "a new directory: empty for the first run, filled by it for the second",
    "cache_entries": entries,
    "first_run": runs[0],
    "second_run": runs[1],
  }


def benchmark_stacked_seeds(config, task, mesh, num_seeds: int) -> dict:
  """Training throughput of one stacked run of `num_seeds` seeds against as many solo runs, on
  the same `--steps` batches: sentences/s summed over the members (see the module docstring).

  All the runs are built (and every shape of the batches compiled) first; then each batch is
  one timed step of every solo run and of the stack, in alternating order, so that a change in
  the machine's load (other processes) weighs on both sides alike.
  """
  from attn_seq2seq.training import members  # noqa: PLC0415
  from attn_seq2seq.training import mesh as mesh_lib  # noqa: PLC0415

  seeds = tuple(range(config.seed, config.seed + num_seeds))
  batches = task.train_batches(config.batch_size, seed=members.data_order_seed(config))
  timed = [next(batches) for _ in range(_STEPS.value)]
  sentences = sum(int((b["example_ids"] >= 0).sum()) for b in timed)
  global_batches = [mesh_lib.to_global(b, mesh_lib.data_sharding(mesh)) for b in timed]
  solo_config, stack_config = (config.copy_and_resolve_references() for _ in range(2))
  solo_config.seeds, stack_config.seeds = (), seeds
  runs = [_Training(solo_config, task, mesh, seed, global_batches) for seed in seeds]
  runs.append(_Training(stack_config, task, mesh, seeds, global_batches))
  for i, batch in enumerate(global_batches):
    for run in runs if i % 2 else runs[::-1]:
      run.timed_step(batch)
  solo, stacked = runs[:-1], runs[-1]
  solo_seconds = sum(run.seconds for run in solo)
  report = {
    "seeds": list(seeds),
    "steps": len(timed),
    "sentences_per_step": sentences / len(timed),
    "solo": {
      "runs": num_seeds,
      "seconds": solo_seconds,
      "sentences_per_second": num_seeds * sentences / solo_seconds,
      "steps_per_second_per_run": [len(timed) / run.seconds for run in solo],
      "compile_seconds": solo[0].compile_seconds,
    },  # the other runs reuse it
    "stacked": {
      "seconds": stacked.seconds,
      "sentences_per_second": num_seeds * sentences / stacked.seconds,
      "steps_per_second": len(timed) / stacked.seconds,
      "compile_seconds": stacked.compile_seconds,
      # how the train step runs its members on this platform (training/members.py)
      "members": "lax.map" if members.sequential_members(mesh.devices.flat[0].platform) else "vmap",
    },
  }
  report["stacked_over_solo"] = (
    report["stacked"]["sentences_per_second"] / report["solo"]["sentences_per_second"]
  )
  return report


def benchmark_to_accuracy(config, task, mesh, target: float) -> dict:
  """Training seconds (validation excluded) and steps until greedy validation exact match
  reaches `target` (see the module docstring)."""
  import jax  # noqa: PLC0415

  from attn_seq2seq.training import members, train_functions  # noqa: PLC0415
  from attn_seq2seq.training import mesh as mesh_lib  # noqa: PLC0415
  from attn_seq2seq.training.evaluator import Evaluator  # noqa: PLC0415

  fns = train_functions.make_train_functions(config, task.src_vocab.size, task.tgt_vocab.size, mesh)
  evaluator = Evaluator.for_config(fns.model, task, mesh, config)
  sharding = mesh_lib.data_sharding(mesh)
  batches = task.train_batches(config.batch_size, seed=members.data_order_seed(config))
  dropout_rng = jax.device_put(members.seed_keys(config.seed, 1), mesh_lib.replicated(mesh))
  start = time.perf_counter()
  state = fns.init(members.seed_keys(config.seed, 0))
  validation_seconds, evaluations, exact_match, step = 0.0, [], 0.0, 0
  while exact_match < target and step < config.num_train_steps:
    step += 1
    state, _ = fns.train_step(state, mesh_lib.to_global(next(batches), sharding), dropout_rng)
    if step % _EVAL_EVERY.value == 0 or step == config.num_train_steps:
      jax.block_until_ready(state)
      began = time.perf_counter()
      train_seconds = began - start - validation_seconds  # so far
      exact_match = evaluator.evaluate(state.params, "validation")["exact_match"]
      validation_seconds += time.perf_counter() - began
      evaluations.append({"step": step, "exact_match": exact_match, "train_seconds": train_seconds})
  return {
    "target_exact_match": target,
    "reached": exact_match >= target,
    "steps": step,
    "train_seconds": evaluations[-1]["train_seconds"],
    "validation_seconds": validation_seconds,
    "startup_seconds": start - _PROCESS_START,
    "validation_sentences": task.num_examples("validation"),
    "eval_every": _EVAL_EVERY.value,
    "evaluations": evaluations,
  }


class _Training:
  """The solo run of `seeds` (an int) or the stack of `seeds` (a tuple), initialised, with every
  shape of `batches` compiled (one untimed step each); `timed_step` adds to `seconds`."""

  def __init__(self, config, task, mesh, seeds, batches: list):
    import jax  # noqa: PLC0415

    from attn_seq2seq.training import members, train_functions  # noqa: PLC0415
    from attn_seq2seq.training import mesh as mesh_lib  # noqa: PLC0415

    self._fns = train_functions.make_train_functions(
      config, task.src_vocab.size, task.tgt_vocab.size, mesh
    )
    self._dropout = jax.device_put(members.seed_keys(seeds, 1), mesh_lib.replicated(mesh))
    self._state = jax.block_until_ready(self._fns.init(members.seed_keys(seeds, 0)))
    start = time.perf_counter()
    for batch in {b["src_ids"].shape + b["tgt_out"].shape: b for b in batches}.values():
      self._state, metrics = self._fns.train_step(self._state, batch, self._dropout)
      jax.block_until_ready(metrics)
    self.compile_seconds = time.perf_counter() - start
    self.seconds = 0.0

  def timed_step(self, batch) -> None:
    import jax  # noqa: PLC0415

    start = time.perf_counter()
    self._state, metrics = self._fns.train_step(self._state, batch, self._dropout)
    jax.block_until_ready(metrics)
    self.seconds += time.perf_counter() - start


def benchmark_decoding(config, task, params) -> dict:
  from attn_seq2seq import search  # noqa: PLC0415
  from attn_seq2seq.models import ModelConfig, build_model  # noqa: PLC0415

  model = build_model(
    ModelConfig.from_config(config.model, dtype=config.dtype),
    task.src_vocab.size,
    task.tgt_vocab.size,
  )
  batches = _decode_batches(task, _DECODE_SENTENCES.value, _DECODE_BATCH.value)
  lengths = [int(n) for b in batches for n in b["src_lengths"][b["example_ids"] >= 0]]
  count = len(lengths)
  trained = _WORKDIR.value is not None
  limits = {} if trained else {"max_len_a": 1.0, "max_len_b": 1.0}  # see the module docstring
  if not trained:
    params = _suppress_eos(params)
  results = {
    "sentences": count,
    "batch_size": _DECODE_BATCH.value,
    "params": _WORKDIR.value or "initialised, EOS suppressed until source length + 1",
  }
  for name, beam in (("greedy", 1), (f"beam{_BEAM.value}", _BEAM.value)):
    run = search.decode_throughput(
      model, {"params": params}, batches, beam_size=beam, repeats=2, **limits
    )
    results[name] = {
      "sentences_per_second": run["sentences_per_second"],
      "tokens_per_second": run["tokens_per_second"],
    }
    if not trained:  # every output has source length + 1 tokens, so the FLOPs are known
      flops = 0.0
      for n in lengths:
        sentence, step = forward_macs(config.model, n, task.tgt_vocab.size)
        flops += 2.0 * (sentence + beam * (n + 1) * step)
      results[name]["gflops_per_second"] = flops / run["seconds"] / 1e9
  return results


def _decode_batches(task, num_sentences: int, batch_size: int) -> list[dict]:
  """The validation sentences with ids < `num_sentences` (a random sample: splits are generated
  in random order), sorted by length as the evaluation iterator yields them, in full batches
  (the last one topped up with dummy rows); each batch padded to its longest source."""
  import numpy as np  # noqa: PLC0415

  rows = [
    (b["src_ids"][i], b["src_lengths"][i], b["example_ids"][i])
    for b in task.eval_batches("validation", batch_size)
    for i in np.flatnonzero((b["example_ids"] >= 0) & (b["example_ids"] < num_sentences))
  ]
  batches = []
  for start in range(0, len(rows), batch_size):
    chunk = rows[start : start + batch_size]
    width = max(int(length) for _, length, _ in chunk)
    src_ids = np.zeros((batch_size, width), np.int32)
    src_lengths = np.zeros((batch_size,), np.int32)
    example_ids = np.full((batch_size,), -1, np.int32)
    for i, (ids, length, example_id) in enumerate(chunk):
      src_ids[i, :length], src_lengths[i], example_ids[i] = ids[:length], length, example_id
    batches.append({"src_ids": src_ids, "src_lengths": src_lengths, "example_ids": example_ids})
  return batches


def _suppress_eos(params):
  """A copy of `params` whose output bias makes EOS improbable (the length limit forces it)."""
  import numpy as np  # noqa: PLC0415

  from attn_seq2seq.tokens import EOS_ID  # noqa: PLC0415

  bias = np.array(params["decoder"]["output"]["bias"])
  bias[EOS_ID] -= 1e4
  output = dict(params["decoder"]["output"], bias=bias)
  return dict(params, decoder=dict(params["decoder"], output=output))


def _machine() -> dict:
  import jax  # noqa: PLC0415

  cpu = platform.processor() or platform.machine()
  try:
    with open("/proc/cpuinfo") as f:
      cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
  except (OSError, StopIteration):
    pass
  return {
    "cpu": cpu,
    "cores": os.cpu_count(),
    "platform": jax.default_backend(),
    "devices": jax.device_count(),
    "device_kind": jax.devices()[0].device_kind,
    "jax": jax.__version__,
    "python": platform.python_version(),
  }


def main(argv):
  cli.flags_only(argv)
  with cli.user_errors():
    _benchmark()


def _benchmark():
  import jax  # noqa: PLC0415

  from attn_seq2seq import data  # noqa: PLC0415
  from attn_seq2seq.training import compilation_cache  # noqa: PLC0415
  from attn_seq2seq.training import mesh as mesh_lib  # noqa: PLC0415

  compilation_cache.enable(_STARTUP_ONLY.value or "none")  # measurements below: no cache
  config = _CONFIG.value
  task = data.load_task(config.data)
  mesh = mesh_lib.make_mesh()
  if _STARTUP_ONLY.value:
    print(json.dumps(first_step_seconds(config, task, mesh)))
    return
  if _SEEDS.value:
    _report(config, {"stacked_seeds": benchmark_stacked_seeds(config, task, mesh, _SEEDS.value)})
    return
  if _TO_ACCURACY.value is not None:
    _report(config, {"to_accuracy": benchmark_to_accuracy(config, task, mesh, _TO_ACCURACY.value)})
    return
  training, params = benchmark_training(config, task, mesh)
  peaks = [matmul_peak_gflops()]
  if _WORKDIR.value:
    from attn_seq2seq.inference.trained_run import load_run  # noqa: PLC0415

    params = load_run(_WORKDIR.value).params
  decoding = benchmark_decoding(config, task, jax.device_get(params))
  peaks.append(matmul_peak_gflops())
  peak = max(peaks)  # a busy moment can only lower a measurement
  training["fraction_of_matmul_peak"] = training["gflops_per_second"] / peak
  if _CACHE_STARTUP.value:  # last: its two processes would slow the measurements above
    training["startup_with_compilation_cache"] = startup_with_compilation_cache(sys.argv)
  _report(
    config,
    {
      "matmul_peak_gflops_per_second": peak,
      "matmul_peak_measurements": peaks,
      "training": training,
      "decoding": decoding,
    },
  )


def _report(config, measurements: dict) -> None:
  """Prints (and writes to `--output`) the JSON report: date, command, machine, config, and
  `measurements`."""
  report = {
    "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
    "machine": _machine(),
    "config": config.to_dict(),
    **measurements,
  }
  text = json.dumps(report, indent=2, default=str)
  print(text)
  if _OUTPUT.value:
    with open(_OUTPUT.value, "w") as f:
      f.write(text + "\n")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
