"""What a measurement ran on: CPU model, cores, accelerator, Python and library versions.

    describe()  # {'cpu': 'AMD EPYC 9654 96-Core Processor', 'cores': 2, 'platform': 'cpu', ...}

Recorded beside every published number (sweep launches, benchmarks), so a figure always names the
machine it came from.
"""

import os
import platform
from importlib.metadata import version


def cpu_model() -> str:
  """The CPU's model name (Linux: /proc/cpuinfo), else what `platform` knows."""
  try:
    with open("/proc/cpuinfo") as f:
      return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
  except (OSError, StopIteration):
    return platform.processor() or platform.machine()


def host() -> dict:
  """CPU, cores, Python, jax and flax versions; starts no JAX backend."""
  return {
    "cpu": cpu_model(),
    "cores": os.cpu_count(),
    "python": platform.python_version(),
    "jax": version("jax"),
    "flax": version("flax"),
  }


def describe() -> dict:
  """`host()` plus this process's JAX backend and devices."""
  import jax  # noqa: PLC0415  (host() is also for processes without jax)

  return {
    **host(),
    "platform": jax.default_backend(),
    "devices": jax.device_count(),
    "device_kind": jax.devices()[0].device_kind,
  }
