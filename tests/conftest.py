"""Test-wide setup, before JAX is imported anywhere.

* 4 fake CPU devices, so data-parallel invariants ("4 devices equal 1 device") run on one machine.
* XLA's backend optimisation level 0: the suite is dominated by compiling many tiny models, and
  this cuts compile time by about 2.5x. Tests check invariants, never speed.
* One OpenBLAS thread: NumPy's QR (orthogonal initialisers) otherwise contends with XLA's threads
  and the pytest-xdist workers, and sometimes takes seconds instead of milliseconds.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()

import jax  # noqa: E402

jax.config.update("jax_num_cpu_devices", 4)
