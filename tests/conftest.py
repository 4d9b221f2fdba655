"""Test-wide setup, before JAX is imported anywhere.

* 4 fake CPU devices, so data-parallel invariants ("4 devices equal 1 device") run on one machine.
* XLA's backend optimisation level 0: the suite is dominated by compiling many tiny models, and
  this cuts compile time by about 2.5x. Tests check invariants, never speed.
* One OpenBLAS thread: NumPy's QR (orthogonal initialisers) otherwise contends with XLA's threads
  and the pytest-xdist workers, and sometimes takes seconds instead of milliseconds.
* The runs the tests start as subprocesses (`attn_seq2seq.main`, sweeps, Ray tasks) use a
  throwaway compilation cache, never the user's ~/.cache/attn_seq2seq/jax (set after JAX's
  import, so the tests' own process compiles without one).
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()

import jax  # noqa: E402

jax.config.update("jax_num_cpu_devices", 4)

import atexit  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="attn_seq2seq_jax_cache_")
  atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)


import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def quick_reverse_run(tmp_path_factory) -> Path:
  """The workdir of a trained `configs/reverse.py:short,quick` run (a few steps of a tiny model),
  shared by the tests of the tools that read trained runs. Tests that change it copy it first."""
  from attn_seq2seq.training import train  # noqa: PLC0415

  sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
  try:
    from configs import reverse  # noqa: PLC0415
  finally:
    sys.path.pop(0)
  config = reverse.get_config("short,quick")
  config.data.data_dir = str(tmp_path_factory.mktemp("tfds"))
  config.eval_every_steps = 100  # no evaluation before the final one
  config.num_attention_plots = 0
  workdir = tmp_path_factory.mktemp("run")
  train.train_and_evaluate(config, workdir)
  return workdir
