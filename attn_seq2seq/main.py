r"""Trains and evaluates one experiment config.

    python -m attn_seq2seq.main --config=configs/dates.py[:variant] --workdir=runs/dates \
        [--config.model.scorer=cosine ...]

Re-running the same command on the same workdir resumes from the latest checkpoint (a finished
run prints its results; a different config is an error unless --allow_config_change; a second
trainer on a workdir refuses, or waits --lock_timeout seconds). SIGTERM or
Ctrl-C saves a checkpoint and exits. Multi-host, the same command on every process: on SLURM, Open
MPI or Cloud TPU add --multihost (jax detects the rest); anywhere else add
--coordinator_address=HOST:PORT --num_processes=N --process_id=K (K = 0 .. N-1, process 0 on HOST;
or JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID), see training/distributed.py.
Compiled steps are cached on disk for the next run: --compilation_cache=DIR|none (default
~/.cache/attn_seq2seq/jax; see attn_seq2seq/training/compilation_cache.py).
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

from attn_seq2seq import cli
from attn_seq2seq.training import compilation_cache

_CONFIG = config_flags.DEFINE_config_file(
  "config", None, "Experiment config file, e.g. configs/dates.py:quick.", lock_config=True
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and results.")
_MULTIHOST = flags.DEFINE_bool(
  "multihost",
  None,
  "Multi-host on SLURM, Open MPI or Cloud TPU: jax.distributed.initialize() detects the "
  "coordinator, process count and id (default: multi-host when --coordinator_address, "
  "--num_processes and --process_id are given).",
)
_COORDINATOR_ADDRESS = flags.DEFINE_string(
  "coordinator_address",
  None,
  "Multi-host by hand: HOST:PORT of process 0, the same on every process (default: "
  "$JAX_COORDINATOR_ADDRESS); needs --num_processes and --process_id too.",
)
_NUM_PROCESSES = flags.DEFINE_integer(
  "num_processes", None, "Multi-host by hand: how many processes (default: $JAX_NUM_PROCESSES)."
)
_PROCESS_ID = flags.DEFINE_integer(
  "process_id",
  None,
  "Multi-host by hand: this process, 0 .. num_processes-1 (default: $JAX_PROCESS_ID).",
)
_HEARTBEAT_TIMEOUT = flags.DEFINE_integer(
  "heartbeat_timeout",
  100,
  "Multi-host: seconds without a heartbeat after which a process counts as dead and the others "
  "stop with an error.",
  lower_bound=1,
)
_COMPILATION_CACHE = flags.DEFINE_string("compilation_cache", None, compilation_cache.FLAG_HELP)
_LOCK_TIMEOUT = flags.DEFINE_float(
  "lock_timeout",
  0.0,
  "Seconds to wait while another trainer holds the workdir (0: refuse at once).",
  lower_bound=0.0,
)
_ALLOW_CONFIG_CHANGE = flags.DEFINE_bool(
  "allow_config_change",
  False,
  "Continue a workdir started with another config (e.g. more "
  "num_train_steps); the old config is kept in config.json's config_history.",
)
flags.mark_flags_as_required(["config", "workdir"])


class _QuietOrbax(py_logging.Filter):
  """Orbax logs every step of every save at INFO; keep its warnings and errors only, each as its
  one line: a failed save (a full disk) is logged by each of its threads with a traceback, and
  reaches the user as one `error:` line (training/checkpoint.py)."""

  def filter(self, record: py_logging.LogRecord) -> bool:
    if f"{os.sep}orbax{os.sep}" not in record.pathname:
      return True
    record.exc_info, record.exc_text = None, None
    return record.levelno >= py_logging.WARNING


def main(argv):
  cli.flags_only(argv)
  logging.get_absl_handler().addFilter(_QuietOrbax())
  with cli.user_errors():
    _train(_CONFIG.value, _WORKDIR.value)


def _train(config, workdir: str) -> None:
  from attn_seq2seq.training import distributed  # noqa: PLC0415  (imports jax: after flag parsing)

  settings = distributed.resolve(
    _MULTIHOST.value,
    {
      "coordinator_address": _COORDINATOR_ADDRESS.value,
      "num_processes": _NUM_PROCESSES.value,
      "process_id": _PROCESS_ID.value,
    },
  )
  distributed.initialize(settings, _HEARTBEAT_TIMEOUT.value)
  import tensorflow_datasets as tfds  # noqa: PLC0415  (after jax.distributed.initialize)

  from attn_seq2seq.training import members, train  # noqa: PLC0415  (idem)

  tfds.disable_progress_bar()  # dataset preparation is logged; bars only clutter the log
  results = train.train_and_evaluate(  # checks the config first: a bad one is one line, no log
    config,
    workdir,
    lock_timeout=_LOCK_TIMEOUT.value,
    allow_config_change=_ALLOW_CONFIG_CHANGE.value,
    # The cache after the config check (a bad config creates nothing), before any compilation.
    before_start=lambda: compilation_cache.enable(_COMPILATION_CACHE.value),
  )
  if results is None:  # stopped by a signal, checkpoint saved: a non-zero status for schedulers
    sys.exit("stopped before the end of training; re-run the same command to resume")
  if "members" in results:  # a stacked run (--config.seeds): one table per member
    for path, member_results in members.read_member_results(workdir, results).items():
      print(f"{os.path.join(workdir, path)}:\n{_results_text(member_results)}")
    return
  print(_results_text(results))
  if results.get("attention_plots"):
    print(f"attention heatmap: {os.path.join(workdir, results['attention_plots'][0])}")


def _results_text(results: dict) -> str:
  from attn_seq2seq.training import progress  # noqa: PLC0415  (imports jax: after flag parsing)

  selection = progress.selection_line(results)
  return progress.results_table(results) + (f"\n{selection}" if selection else "")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
