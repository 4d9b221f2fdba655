"""Writing a record file atomically: readers see the old file or the new one, never a part.

    atomic_files.write_json(workdir / "results.json", results)
    atomic_files.write_text(out / "summary.md", markdown)

The text goes to a temporary file in the same directory (`.<name>.<pid>.tmp`, so a rename never
crosses a filesystem), is flushed and fsynced, then renamed over `path`. An OSError on the way
(a full disk, a read-only directory, no permission) removes the temporary file, leaves the old
file as it was and becomes a `FileWriteError`: one line naming the path and the cause, which the
entry points print as `error: ...`. Every record of a run, a sweep root or a report is written
through here.
"""

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from attn_seq2seq.errors import FileWriteError


def write_text(path: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> Path:
  """Writes `text` to `path` atomically (see the module docstring); returns the path."""
  return write_bytes(path, text.encode(encoding))


def write_json(path: str | os.PathLike, value: Any, **dumps_options) -> Path:
  """Writes `value` as JSON (`json.dumps(value, **dumps_options)` and a newline) atomically."""
  return write_text(path, json.dumps(value, **dumps_options) + "\n")


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
  """Writes `data` to `path` atomically (see the module docstring); returns the path."""
  path = Path(path)
  temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
  try:
    with open(temporary, "wb") as handle:
      handle.write(data)
      handle.flush()
      os.fsync(handle.fileno())
    os.replace(temporary, path)
  except OSError as e:
    temporary.unlink(missing_ok=True)
    raise FileWriteError(f"cannot write {path}: {e.strerror or e}") from None
  return path


@contextlib.contextmanager
def replacing(path: str | os.PathLike, label: str = "", *, encoding: str = "utf-8"):
  """A text file, written through the block, that becomes `path` only when the block ends
  without an exception: a full disk, an error or Ctrl-C midway leaves the old `path` (or none)
  and no temporary file. `label` names the path in the error (e.g. "--output out.txt")."""
  path = Path(path)
  name = label or str(path)
  temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
  try:
    handle = open(temporary, "w", encoding=encoding)  # noqa: SIM115  (closed below)
  except OSError as e:
    raise FileWriteError(f"cannot write {name}: {e.strerror or e}") from None
  try:
    with handle:
      yield handle
      handle.flush()
      os.fsync(handle.fileno())
    os.replace(temporary, path)
  except OSError as e:
    temporary.unlink(missing_ok=True)
    if e.filename not in (None, str(temporary), str(path)):
      raise  # about another file (an input), not this one
    raise FileWriteError(f"cannot write {name}: {e.strerror or e}") from None
  except BaseException:
    temporary.unlink(missing_ok=True)
    raise


def check_writable(directory: str | os.PathLike, advice: str = "") -> Path:
  """`directory` if a file can be created in it (or, while it does not exist, in its nearest
  existing parent, where it would be created); else `FileWriteError` naming it, with `advice`
  appended: the check a command makes before work whose result it must then write. Nothing is
  left behind."""
  directory = Path(directory)
  existing = directory
  while not existing.exists() and existing.parent != existing:
    existing = existing.parent
  probe = existing / f".write_check.{os.getpid()}"
  try:
    if not existing.is_dir():
      raise NotADirectoryError(20, "Not a directory")
    probe.write_bytes(b"")
    probe.unlink()
  except OSError as e:
    raise FileWriteError(f"cannot write in {directory}: {e.strerror or e}{advice}") from None
  return directory
