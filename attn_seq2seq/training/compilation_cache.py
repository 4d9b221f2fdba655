"""JAX's persistent compilation cache, on by default for training runs.

    python -m attn_seq2seq.main ... --compilation_cache=~/.cache/attn_seq2seq/jax   # the default
    python -m attn_seq2seq.main ... --compilation_cache=none                        # off

Every run of a sweep compiles the same train, eval and search steps again; with the cache, the
second and later runs (and a resumed run) load the compiled executables from disk instead of
running XLA. The cache is keyed by the lowered program, the compiler flags, the devices and the
jax/jaxlib versions, so it never returns a program for another model, dtype or machine.

Where it lives, first match wins:
  1. the `--compilation_cache` flag of `attn_seq2seq.main` (`scripts/benchmark.py` measures
     without the cache, and its startup with a fresh one under `--cache_startup`);
  2. the environment variable `JAX_COMPILATION_CACHE_DIR`, JAX's own (set but empty: off);
  3. `~/.cache/attn_seq2seq/jax` (DEFAULT_DIR).
`none` or an empty value turns it off. Only your own directories: JAX trusts what it loads
from the cache (whoever can write there can run code in your runs). It is never pruned; delete
the directory to reclaim the space (small models: a few MB per config).
"""

import os

from absl import logging

DEFAULT_DIR = "~/.cache/attn_seq2seq/jax"
ENV_VAR = "JAX_COMPILATION_CACHE_DIR"  # JAX reads it too, at import
OFF = ("", "none")
# Cache every program whose compilation takes longer than this. JAX's default (1 s) skips most
# of a small model's steps on CPU; below ~0.1 s reading an entry costs about what it saves.
MIN_COMPILE_SECONDS = 0.1
FLAG_HELP = (
  "Directory of JAX's persistent compilation cache, or 'none' (default: "
  f"${ENV_VAR} if set, else {DEFAULT_DIR})."
)


def resolve(flag_value: str | None = None) -> str | None:
  """The cache directory to use (see the module docstring), or None when it is off."""
  if flag_value is None:
    flag_value = os.environ.get(ENV_VAR, DEFAULT_DIR)
  if flag_value.strip().lower() in OFF:
    return None
  return os.path.abspath(os.path.expanduser(flag_value))


def enable(flag_value: str | None = None) -> str | None:
  """Points JAX's persistent compilation cache at `resolve(flag_value)` (or turns it off).

  Call before the first compilation of the process: JAX decides once whether to use the cache.
  Returns the directory, or None when the cache is off (also when the directory cannot be
  created: a warning, and the run goes on without it).
  """
  import jax  # noqa: PLC0415  (main imports this module before flag parsing, jax after)

  directory = resolve(flag_value)
  if directory is not None:
    try:
      os.makedirs(directory, exist_ok=True)
    except OSError as e:  # e.g. a read-only home: train without the cache rather than fail
      logging.warning("compilation cache off: cannot create %s (%s)", directory, e)
      directory = None
  jax.config.update("jax_compilation_cache_dir", directory)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)  # any size (JAX's default)
  if directory is not None:
    logging.info("compilation cache: %s", directory)
  return directory
