"""Errors a user causes and can fix, and the one way their messages are cut to one line.

    raise ConfigError("batch_size=-8 is out of range; allowed: an integer >= 1")

Every error that a bad flag, config value, file, run or sweep causes derives from `UserError`: its
message is one line naming the bad value (or file) and what is allowed. The entry points run
inside `cli.user_errors()`, which prints `error: <message>` and exits with status 1, with no
traceback. Any other exception is a bug and keeps its traceback.
"""


class UserError(Exception):
  """An error the user caused and can fix; the message is one line naming the value or file."""


class ConfigError(UserError, ValueError):
  """A config value or command-line choice out of range or outside its choices (also a
  ValueError, the type a library caller expects for a bad argument)."""


class DivergedError(UserError, FloatingPointError):
  """Training stopped on a non-finite loss (usually a learning rate too high); the message names
  the step and the last good checkpoint."""


class FileWriteError(UserError):
  """A file that could not be written (full disk, read-only, no permission); the message names
  the path (atomic_files.py raises it)."""


def one_line(e: BaseException, max_chars: int | None = None) -> str:
  """The first non-empty line of `e`'s message (its type name if it has none), with its root
  cause appended when that says something the first line does not (a config file that raised
  is reported by ml_collections as a wrapper whose cause holds the reason), and without
  tensorstore's JSON spec; cut to `max_chars` if given."""
  root = e
  while _cause(root) is not None:
    root = _cause(root)
  line = _first(e) or type(e).__name__
  cause = _first(root) if root is not e else ""
  if cause and cause not in line:
    line = f"{line} {cause}"
  if max_chars is not None and len(line) > max_chars:
    line = line[: max_chars - 3] + "..."
  return line


def _cause(e: BaseException) -> BaseException | None:
  """What `e` was raised from or during, unless it was raised `from None` (its message then
  says all there is to say)."""
  return e.__cause__ or (None if e.__suppress_context__ else e.__context__)


def _first(e: BaseException) -> str:
  lines = [line.strip() for line in str(e).splitlines() if line.strip()]
  return lines[0].split(" [tensorstore_spec")[0] if lines else ""
