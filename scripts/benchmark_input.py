"""Measures the input pipeline and prints JSON: prepare/load times, batches/s, padding fraction.

    python scripts/benchmark_input.py [--data_dir=DIR] [--batch_size=64] [--num_batches=2000]

Without --data_dir the datasets are generated into a fresh temporary directory, so `prepare_s` is
the first-use cost (generation + TFDS array_record writing + reading + vocabularies) and
`reload_s` the cost of every later run. Padding fraction = 1 - real tokens / padded positions,
summed over source and target (tgt_out) of the training batches.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import sys
import tempfile
import time

import numpy as np
import tensorflow_datasets as tfds
from absl import app, flags

from attn_seq2seq import cli, data

DATASETS = (
  "dates",
  "algorithmic/reverse_medium",
)  # The default experiment and the reference model's data.

_DATA_DIR = flags.DEFINE_string("data_dir", None, "TFDS data dir (default: a fresh temporary one).")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 64, "Sentences per batch.", lower_bound=1)
_NUM_BATCHES = flags.DEFINE_integer(
  "num_batches", 2000, "Training batches read and timed.", lower_bound=1
)


def machine() -> dict:
  """Where and when this ran."""
  cpu = platform.processor()
  if os.path.exists("/proc/cpuinfo"):
    with open("/proc/cpuinfo") as f:
      models = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    cpu = models[0] if models else cpu
  return {
    "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    "platform": platform.platform(),
    "cpu": cpu,
    "cpu_count": os.cpu_count(),
    "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    "python": platform.python_version(),
    "numpy": np.__version__,
    "tensorflow_datasets": tfds.__version__,
    "tensorflow_imported": "tensorflow" in sys.modules,
  }


def measure(name: str, data_dir: str, batch_size: int, num_batches: int) -> dict:
  cfg = data.get_data_config(name=name, data_dir=data_dir)
  start = time.perf_counter()
  data.load_task(cfg)
  prepare_s = time.perf_counter() - start
  start = time.perf_counter()
  task = data.load_task(cfg)
  reload_s = time.perf_counter() - start

  batches = task.train_batches(batch_size, seed=0)
  next(batches)  # Plans the first epoch.
  real = padded = 0
  shapes = set()
  start = time.perf_counter()
  for _ in range(num_batches):
    batch = next(batches)
    real += int(batch["src_lengths"].sum() + batch["tgt_lengths"].sum())
    padded += batch["src_ids"].size + batch["tgt_out"].size
    shapes.add(batch["src_ids"].shape[1:] + batch["tgt_out"].shape[1:])
  seconds = time.perf_counter() - start
  return {
    "prepare_s": round(prepare_s, 2),
    "reload_s": round(reload_s, 2),
    "train_pairs": task.num_examples("train"),
    "batch_size": batch_size,
    "batches_per_s": round(num_batches / seconds),
    "ms_per_batch": round(1e3 * seconds / num_batches, 3),
    "padding_fraction": round(1 - real / padded, 4),
    "distinct_train_shapes": len(shapes),
    "num_buckets": cfg.num_buckets,
    "bucket_shapes": [f"{src}x{tgt}" for src, tgt in task.bucket_shapes.tolist()],
  }


def main(argv: list[str]) -> None:
  cli.flags_only(argv)
  results = {"machine": machine(), "data_dir": _DATA_DIR.value or "fresh temporary"}
  # TFDS reports preparation on stdout; keep stdout for the JSON alone.
  with (
    cli.user_errors(),
    tempfile.TemporaryDirectory() as scratch,
    contextlib.redirect_stdout(sys.stderr),
  ):
    for name in DATASETS:
      results[name] = measure(
        name, _DATA_DIR.value or scratch, _BATCH_SIZE.value, _NUM_BATCHES.value
      )
  print(json.dumps(results, indent=2))


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
