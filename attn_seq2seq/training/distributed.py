"""Multi-host runs: which processes train one run together, checked before
`jax.distributed.initialize()` (which must precede anything else that touches JAX).

Start the same command on every host (or several processes on one machine), one of three ways:

  SLURM, Open MPI, Cloud TPU   `--multihost`: jax detects the coordinator, the process count and
                               this process's id from the cluster's own variables.
  by hand (anywhere)           `--coordinator_address=HOST:PORT --num_processes=N --process_id=K`
                               on each process, K = 0 .. N-1, process 0 running on HOST; or the
                               variables JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID
                               (a flag wins over its variable).
  neither                      one process, no `jax.distributed` at all.

Outside `--multihost`, a partial set (e.g. JAX_COORDINATOR_ADDRESS alone, which jax itself turns
into a traceback) is a one-line ConfigError naming what is missing. A process that stops sending
heartbeats for `heartbeat_timeout` seconds (killed, its host lost) counts as dead: the others
stop with an error instead of waiting for it forever.
"""

import os
from collections.abc import Mapping
from typing import NamedTuple

import jax

from attn_seq2seq.errors import ConfigError

# Each setting's flag and the environment variable that stands in for it.
ENV_VARS = {
  "coordinator_address": "JAX_COORDINATOR_ADDRESS",
  "num_processes": "JAX_NUM_PROCESSES",
  "process_id": "JAX_PROCESS_ID",
}
DEFAULT_HEARTBEAT_TIMEOUT = 100  # seconds; jax's own default
HELP = (
  "by hand, give --coordinator_address, --num_processes and --process_id to every process "
  "(process 0 runs on the coordinator's host); on SLURM, Open MPI or Cloud TPU pass --multihost "
  "alone and jax detects them"
)


class Settings(NamedTuple):
  """What `jax.distributed.initialize` gets; None values are left to jax's cluster detection."""

  coordinator_address: str | None
  num_processes: int | None
  process_id: int | None


def resolve(
  multihost: bool | None,
  flag_values: Mapping[str, object],
  environ: Mapping[str, str] = os.environ,
) -> Settings | None:
  """The multi-host settings of this process, or None for a single-process run.

  `flag_values` maps each name of `ENV_VARS` to its flag's value (None: not given; the
  environment variable stands in). `multihost` True asks for jax's cluster detection of what is
  not given; None decides from the settings (any given: multi-host); False: a single process.
  """
  if multihost is False:
    return None
  given = {name: _value(name, flag_values.get(name), environ) for name in ENV_VARS}
  given = {name: value for name, value in given.items() if value is not None}
  if not given and not multihost:
    return None
  missing = [f"--{name} (or {var})" for name, var in ENV_VARS.items() if name not in given]
  if missing and not multihost:
    raise ConfigError(f"multi-host settings incomplete: missing {', '.join(missing)}; {HELP}")
  settings = Settings(**{name: given.get(name) for name in ENV_VARS})
  _check(settings)
  return settings


def initialize(settings: Settings | None, heartbeat_timeout: int = DEFAULT_HEARTBEAT_TIMEOUT):
  """`jax.distributed.initialize` with `settings` (None: nothing to do). A peer silent for
  `heartbeat_timeout` seconds makes this process stop with an error. Returns whether it
  initialised."""
  if settings is None:
    return False
  try:
    jax.distributed.initialize(
      **{k: v for k, v in settings._asdict().items() if v is not None},
      heartbeat_timeout_seconds=int(heartbeat_timeout),
      shutdown_timeout_seconds=int(heartbeat_timeout),
    )
  except (ValueError, TypeError) as e:  # jax's cluster detection found no cluster
    raise ConfigError(f"--multihost: {e} (no cluster detected); {HELP}") from e
  return True


def _value(name: str, flag_value: object, environ: Mapping[str, str]) -> str | int | None:
  """The flag's value, else its environment variable's (an integer for the count and id)."""
  if flag_value is not None:
    return flag_value
  text = environ.get(ENV_VARS[name], "").strip()
  if not text:
    return None
  if name == "coordinator_address":
    return text
  if not text.lstrip("-").isdigit():
    raise ConfigError(f"{ENV_VARS[name]}={text!r} is not an integer")
  return int(text)


def _check(settings: Settings) -> None:
  address, count, pid = settings
  if address is not None:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
      raise ConfigError(
        f"--coordinator_address={address!r} is not HOST:PORT (e.g. 10.0.0.1:1234, a port in "
        "1..65535)"
      )
  if count is not None and count < 1:
    raise ConfigError(f"--num_processes={count} is out of range; allowed: an integer >= 1")
  if pid is not None and (pid < 0 or (count is not None and pid >= count)):
    allowed = f"0 .. {count - 1}" if count is not None else "an integer >= 0"
    raise ConfigError(f"--process_id={pid} is out of range; allowed: {allowed}")
