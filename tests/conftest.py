"""Test-wide setup: 4 fake CPU devices so data-parallel invariants are tested on one machine."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

jax.config.update("jax_num_cpu_devices", 4)
