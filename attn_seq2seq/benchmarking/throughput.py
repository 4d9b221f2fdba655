"""Training and decoding throughput of one config, the startup of a run, and the matmul peak
they are compared with (`scripts/benchmark.py --measure=throughput`).

    training, params = training_throughput(config, task, mesh, steps=40, process_start=t0)
    decoding = decoding_throughput(config, task, params, sentences=1000, batch_size=64, beam_size=5)
    peak = matmul_peak_gflops("float32")

Training: a run starts as `train_and_evaluate` starts (init while the first step compiles), its
first step is the startup measurement; then every bucket shape is compiled and `steps` batches
are timed (`timed_training.TimedTraining`), with the FLOP rate of models/flops.py (real tokens,
training = 3 x forward).

Decoding: greedy and beam search over validation sentences, length-sorted into batches
(compilation excluded, the faster of two passes). Untrained parameters get EOS suppressed until
the output is one token longer than its source (the length of a perfect `reverse`/`copy` output),
so every search runs the steps a trained model would, and the FLOPs are known: the forward pass
of each sentence with `source length + 1` decoder steps, times the beam for the decoder terms.
Trained parameters (`trained=True`) stop where the model stops; their FLOP rate is not reported.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from attn_seq2seq import search
from attn_seq2seq.benchmarking.timed_training import TimedTraining
from attn_seq2seq.models import ModelConfig, build_model, flops
from attn_seq2seq.tokens import EOS_ID
from attn_seq2seq.training import members


def matmul_peak_gflops(dtype: str = "float32", n: int = 2048, seconds: float = 2.0) -> float:
  """Best GFLOP/s of a jitted `[n, n] x [n, n]` matmul in `dtype` over `seconds` of repeats."""
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.dtype(dtype))
  matmul = jax.jit(lambda a: a @ a)
  matmul(a).block_until_ready()
  best, deadline = float("inf"), time.perf_counter() + seconds
  while True:
    start = time.perf_counter()
    matmul(a).block_until_ready()
    best = min(best, time.perf_counter() - start)
    if time.perf_counter() >= deadline:
      return 2 * n**3 / best / 1e9


def training_throughput(
  config: ml_collections.ConfigDict, task, mesh, *, steps: int, process_start: float
) -> tuple[dict, object]:
  """Startup (seconds from `process_start`, and from init, to the first finished step), compile
  time of every other bucket shape, then the rates of `steps` timed steps. Returns the report and
  the trained parameters."""
  batches = task.train_batches(config.batch_size, seed=members.data_order_seed(config))
  run, first = TimedTraining(config, task, mesh, count_flops=True), next(batches)
  startup = _first_step(run, first, process_start)
  run.compile_bucket_shapes()
  timing = run.time_steps([next(batches) for _ in range(steps)])
  return {**startup, "compile_seconds": run.compile_seconds, **timing.throughput()}, run.params


def first_step_seconds(config: ml_collections.ConfigDict, task, mesh, process_start) -> dict:
  """The startup of a run (see `training_throughput`), and nothing else."""
  batches = task.train_batches(config.batch_size, seed=members.data_order_seed(config))
  return _first_step(TimedTraining(config, task, mesh), next(batches), process_start)


def _first_step(run: TimedTraining, first_batch: dict, process_start: float) -> dict:
  run.start(first_batch)
  first = run.time_steps([first_batch])
  return {
    "startup_seconds": time.perf_counter() - process_start,
    "init_compile_and_first_step_seconds": run.setup_seconds + first.seconds,
  }


def startup_with_compilation_cache(command: list[str]) -> dict:
  """Startup of two identical runs in fresh processes (`command` + `--startup_only=CACHE`, which
  prints `first_step_seconds` as the last line of its output) sharing a new, empty compilation
  cache: the first compiles and fills it, the second loads from it."""
  with tempfile.TemporaryDirectory(prefix="benchmark_jax_cache_") as cache:
    runs = []
    for _ in range(2):
      args = [sys.executable, *command, f"--startup_only={cache}"]
      out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
      runs.append(json.loads(out.strip().splitlines()[-1]))
    entries = len(os.listdir(cache))
  return {
    "cache": "a new directory: empty for the first run, filled by it for the second",
    "cache_entries": entries,
    "first_run": runs[0],
    "second_run": runs[1],
  }


def decoding_throughput(
  config: ml_collections.ConfigDict,
  task,
  params,
  *,
  sentences: int,
  batch_size: int,
  beam_size: int,
  trained: bool = False,
) -> dict:
  """Greedy and beam-`beam_size` decoding of the first `sentences` validation sentences in
  batches of `batch_size` (see the module docstring): sentences/s, output tokens/s, and for
  untrained `params` the FLOP rate."""
  model_config = ModelConfig.of_experiment(config)
  vocab_sizes = (task.src_vocab.size, task.tgt_vocab.size)
  batches = decode_batches(task, sentences, batch_size)
  src_lengths = np.array([n for b in batches for n in b["src_lengths"][b["example_ids"] >= 0]])
  results = {
    "sentences": int(src_lengths.size),
    "batch_size": batch_size,
    "params": "trained" if trained else "initialised, EOS suppressed until source length + 1",
  }
  if not trained:
    params = suppress_eos(params)
  model = build_model(model_config, *vocab_sizes)
  for name, beam in (("greedy", 1), (f"beam{beam_size}", beam_size)):
    run = _decode(model, params, batches, beam, trained)
    results[name] = {
      "sentences_per_second": run["sentences_per_second"],
      "tokens_per_second": run["tokens_per_second"],
    }
    if not trained:  # every output has source length + 1 tokens: the FLOPs are known
      count = flops.forward_flops(
        model_config, src_lengths, src_lengths + 1, *vocab_sizes, beams=beam
      )
      results[name]["gflops_per_second"] = count / run["seconds"] / 1e9
  return results


def _decode(model, params, batches: list[dict], beam_size: int, trained: bool) -> dict:
  """The one call of `search.decode_throughput`: greedy for `beam_size` 1; untrained parameters
  decode to the length limit `source length + 1`."""
  limits = {} if trained else {"max_len_a": 1.0, "max_len_b": 1.0}
  return search.decode_throughput(
    model, {"params": params}, batches, beam_size=beam_size, repeats=2, **limits
  )


def decode_batches(task, num_sentences: int, batch_size: int) -> list[dict]:
  """The validation sentences with ids < `num_sentences` (a random sample: splits are generated
  in random order), sorted by length as the evaluation iterator yields them, in full batches
  (the last one topped up with dummy rows); each batch padded to its longest source."""
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


def suppress_eos(params):
  """A copy of `params` whose output bias makes EOS improbable (the length limit forces it).

  Not `SearchSpec(min_len_a=1.0)`, which gives the same output lengths: a minimum length compiles
  a mask into every search step (and also bars PAD), so the benchmark would time another program
  than the one a trained model decodes with."""
  params = jax.device_get(params)
  bias = np.array(params["decoder"]["output"]["bias"])
  bias[EOS_ID] -= 1e4
  output = dict(params["decoder"]["output"], bias=bias)
  return dict(params, decoder=dict(params["decoder"], output=output))
