"""Trains and evaluates one experiment config.

    python -m attn_seq2seq.main --config=configs/dates.py[:variant] --workdir=runs/dates \
        [--config.model.scorer=cosine ...]

Re-running the same command on the same workdir resumes from the latest checkpoint. SIGTERM or
Ctrl-C saves a checkpoint and exits. Multi-host: pass --multihost (or set JAX_COORDINATOR_ADDRESS)
on every host; `jax.distributed.initialize()` runs before anything else touches JAX. Compiled
steps are cached on disk for the next run: --compilation_cache=DIR|none (default
~/.cache/attn_seq2seq/jax; see attn_seq2seq/compilation_cache.py).
"""

import logging as py_logging
import os
import sys

# LAPACK (used once, by the orthogonal initialisers' QR) runs on OpenBLAS, whose worker threads
# spin against XLA's own thread pool: on a busy 2-core machine a 256x256 QR then takes seconds
# instead of milliseconds. One OpenBLAS thread is plenty; XLA's matmuls do not use OpenBLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from absl import app, flags, logging
from ml_collections import config_flags

from attn_seq2seq import compilation_cache

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config file, e.g. configs/dates.py:quick.", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and results.")
_MULTIHOST = flags.DEFINE_bool(
    "multihost", None, "Call jax.distributed.initialize() (default: if JAX_COORDINATOR_ADDRESS "
    "is set).")
_COMPILATION_CACHE = flags.DEFINE_string("compilation_cache", None, compilation_cache.FLAG_HELP)
flags.mark_flags_as_required(["config", "workdir"])


def parse_flags(argv: list[str]) -> list[str]:
  """absl flag parsing whose errors (a misspelt `--config.` override, an unknown config variant,
  a bad value) are one line on stderr instead of a traceback."""
  try:
    return flags.FLAGS(argv)
  except Exception as e:  # noqa: BLE001  (anything raised while parsing is a usage error)
    sys.exit(f"error: {_one_line(e, argv)}")


def _one_line(e: BaseException, argv: list[str]) -> str:
  cause = e
  while cause is not None and not isinstance(cause, KeyError):
    cause = cause.__context__
  if cause is not None and cause.args and isinstance(cause.args[0], str):
    # ml_collections: "'lerning_rate'\nDid you mean "learning_rate" instead of "lerning_rate"?"
    field, _, hint = cause.args[0].partition("\n")
    name = field.strip("'")
    overrides = [a.split("=")[0] for a in argv if a.startswith("--config.")]
    path = next((a[len("--"):] for a in overrides if a.split(".")[-1] == name), f"config.{name}")
    return f"unknown config field {path}" + (f"; {hint[0].lower()}{hint[1:]}" if hint else "")
  lines = [line.strip() for line in str(e).splitlines() if line.strip()]
  if "Error whilst parsing config file" in str(e):  # the config file raised: keep its message
    return f"{lines[0].split(': Error whilst')[0]}: {lines[-1].split(': ', 1)[-1]}"
  parts = " ".join(lines).split(": ")
  return ": ".join(p for i, p in enumerate(parts) if i == 0 or p != parts[i - 1])


class _QuietOrbax(py_logging.Filter):
  """Orbax logs every step of every save at INFO; keep its warnings and errors only."""

  def filter(self, record: py_logging.LogRecord) -> bool:
    return record.levelno >= py_logging.WARNING or f"{os.sep}orbax{os.sep}" not in record.pathname


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  logging.get_absl_handler().addFilter(_QuietOrbax())
  from attn_seq2seq import mesh  # noqa: PLC0415  (imports jax)

  mesh.maybe_initialize_distributed(_MULTIHOST.value)
  compilation_cache.enable(_COMPILATION_CACHE.value)  # before the first compilation
  from attn_seq2seq import progress, train  # noqa: PLC0415
  import tensorflow_datasets as tfds  # noqa: PLC0415

  tfds.disable_progress_bar()  # dataset preparation is logged; bars only clutter the log

  config = _CONFIG.value
  try:
    train.check_config(config)
  except ValueError as e:  # a bad choice in the config: one line, no traceback
    sys.exit(f"error: {e}")
  try:
    results = train.train_and_evaluate(config, _WORKDIR.value)
  except FloatingPointError as e:
    sys.exit(f"error: {e}")
  if results is None:  # stopped by a signal, checkpoint saved: a non-zero status for schedulers
    sys.exit("stopped before the end of training; re-run the same command to resume")
  print(progress.results_table(results))
  if results["attention_plots"]:
    print(f"attention heatmap: {os.path.join(_WORKDIR.value, results['attention_plots'][0])}")


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags)
