"""The device mesh of data parallelism and how host batches become global sharded arrays.

One mesh axis, `'data'`, over every device of every host. A global batch is split along its first
dimension over that axis; parameters and optimizer state are replicated. `jax.jit` with these
shardings inserts the gradient all-reduce itself (this is what `pmap` is built on since JAX 0.8).

The mesh axis is `AxisType.Auto`: on jax 0.10 `jax.make_mesh` defaults to Explicit axes, under
which the gather of a Linen `nn.Embed` on a sharded batch fails to type-check.
"""

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from attn_seq2seq.errors import ConfigError

DATA_AXIS = "data"


def make_mesh(devices=None) -> Mesh:
  """A 1-D `'data'` mesh over `devices` (default: all devices of all hosts)."""
  devices = jax.devices() if devices is None else list(devices)
  return jax.make_mesh((len(devices),), (DATA_AXIS,), axis_types=(AxisType.Auto,), devices=devices)


def data_sharding(mesh: Mesh) -> NamedSharding:
  """Split the leading (batch) dimension over the `'data'` axis."""
  return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  """A full copy on every device (parameters, optimizer state, RNG keys, metrics)."""
  return NamedSharding(mesh, PartitionSpec())


def check_batch_size(batch_size: int, mesh: Mesh, name: str = "batch_size") -> None:
  """The global batch must split evenly over the devices (and so over the hosts)."""
  num_devices = mesh.devices.size
  if batch_size <= 0 or batch_size % num_devices:
    raise ConfigError(
      f"{name}={batch_size} is not divisible by the number of devices ({num_devices}); "
      f"use a multiple of {num_devices}"
    )


def to_global(local_batch: dict[str, np.ndarray], sharding: NamedSharding) -> dict[str, jax.Array]:
  """This host's rows of a batch -> global arrays sharded on `'data'` (one transfer per leaf)."""
  return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in local_batch.items()}


def global_shapes(local_batch: dict[str, np.ndarray], sharding: NamedSharding) -> dict:
  """`jax.ShapeDtypeStruct`s of the global arrays `to_global(local_batch, sharding)` makes."""
  hosts = jax.process_count()
  return {
    k: jax.ShapeDtypeStruct((v.shape[0] * hosts, *v.shape[1:]), v.dtype, sharding=sharding)
    for k, v in local_batch.items()
  }


def to_host(tree):
  """Fully gathered numpy copies of (possibly multi-host sharded) arrays, on every host."""
  if jax.process_count() == 1:
    return jax.device_get(tree)
  from jax.experimental import multihost_utils  # noqa: PLC0415  (multi-host only)

  return multihost_utils.process_allgather(tree, tiled=True)
