"""What every command line of the package shares: user errors as one line on stderr.

    def main(argv):
      cli.flags_only(argv)
      with cli.user_errors():
        ...                      # raise errors.UserError("--x=3 is out of range; allowed: ...")

    app.run(main, flags_parser=cli.parse_flags)

`user_errors()` turns every `errors.UserError` (a bad config value, workdir, run, checkpoint,
dataset, sweep or input file) into `error: <one line>` and exit status 1, and Ctrl-C into
`interrupted` and exit status 130, with no traceback; `fail` is the one place that prints such a
line.

absl reports a bad flag with a "FATAL Flags parsing error" line and a help hint, and a config
file that fails to load (missing, a directory, no `get_config`, raising) as a traceback through
`ml_collections`. `parse_flags` turns each into `error: <one line naming the flag and value>` and
exit status 1. A script whose `main` the tests call in-process (scripts/run_sweep.py, ...)
defines its flags on `script_flags(__name__)`:

    FLAGS = cli.script_flags(__name__)
    _ROOT = flags.DEFINE_string("root", None, "...", flag_values=FLAGS)
"""

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from absl import flags

from attn_seq2seq.errors import FileWriteError, UserError, one_line

INTERRUPTED_STATUS = 130  # 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C


def fail(message: str) -> None:
  """Exits with `error: <message>` on stderr and status 1: how every command reports a user
  error."""
  sys.exit(f"error: {message}")


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
  """Runs a command's body: a `UserError` becomes one `error: ...` line and exit status 1, and so
  does an OSError about a file (a full disk, a read-only or missing path: it names the file);
  Ctrl-C (KeyboardInterrupt) becomes one `interrupted` line and status 130, also one that a
  library swallowed (see `_raise_interrupt`) or that came while the modules imported. Anything
  else keeps its traceback."""
  try:
    if _INTERRUPTED.is_set():  # a Ctrl-C while the modules imported, swallowed by a library
      raise KeyboardInterrupt
    yield
    if _INTERRUPTED.is_set():  # the same in the body
      raise KeyboardInterrupt
  except UserError as e:
    fail(one_line(e))
  except OSError as e:
    if e.filename is None:
      raise
    fail(f"{e.filename}: {e.strerror or one_line(e)}")
  except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    _exit_now(INTERRUPTED_STATUS)


def _exit_now(status: int) -> None:
  """Ends the process with `status` once stdout and stderr are flushed, without the interpreter's
  finalisation: a Ctrl-C can land while XLA still runs a dispatched computation (decoding), and
  tearing the runtime down under it crashed the process (SIGSEGV after the `interrupted` line,
  2 exits in 14 Ctrl-Cs measured). Every `with`/`finally` of the command has run by now (locks
  released, checkpoints saved, temporary files removed); the package registers no atexit work."""
  for stream in (sys.stdout, sys.stderr):
    with contextlib.suppress(OSError, ValueError):
      stream.flush()
  os._exit(status)


@contextlib.contextmanager
def sigterm_as_keyboard_interrupt() -> Iterator[None]:
  """While active (main thread only), SIGTERM (`kill PID`, a scheduler's stop) raises
  KeyboardInterrupt, so a command that stops its children on Ctrl-C stops them the same way."""

  def interrupt(signum, frame):
    raise KeyboardInterrupt

  previous = signal.signal(signal.SIGTERM, interrupt)
  try:
    yield
  finally:
    signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum, frame) -> None:
  """SIGINT as Python's default (KeyboardInterrupt), remembered: JAX runs callbacks (its gc
  callback) where an exception is printed as "Exception ignored" and dropped, so `user_errors`
  checks whether a Ctrl-C came and was lost."""
  _INTERRUPTED.set()
  raise KeyboardInterrupt


def _interrupted_hook(kind, value, traceback) -> None:
  """A Ctrl-C before a command's body runs (while its modules import; inside a C extension's
  initialisation it surfaces as an ImportError): one line, no traceback, status 130."""
  if issubclass(kind, KeyboardInterrupt) or _INTERRUPTED.is_set():
    print("interrupted", file=sys.stderr)
    _exit_now(INTERRUPTED_STATUS)  # the program is ending here anyway; nothing is half-written
  _PREVIOUS_HOOK(kind, value, traceback)


def _unraisable_hook(unraisable) -> None:
  """A KeyboardInterrupt dropped inside a callback is not printed: `user_errors` reports it."""
  if not isinstance(unraisable.exc_value, KeyboardInterrupt):
    _PREVIOUS_UNRAISABLE_HOOK(unraisable)


_INTERRUPTED = threading.Event()
_PREVIOUS_HOOK, sys.excepthook = sys.excepthook, _interrupted_hook
_PREVIOUS_UNRAISABLE_HOOK, sys.unraisablehook = sys.unraisablehook, _unraisable_hook
# Every command imports this module first; a SIGINT that is ignored (a job started with nohup
# or `&`) stays ignored.
if (
  threading.current_thread() is threading.main_thread()
  and signal.getsignal(signal.SIGINT) is signal.default_int_handler
):
  signal.signal(signal.SIGINT, _raise_interrupt)


@contextlib.contextmanager
def standard_output() -> Iterator[TextIO]:
  """sys.stdout for a command's output: a write that fails (a full disk behind `> file`, a
  closed pipe) is one `FileWriteError` line, and stdout is then dropped so that Python's own
  flush at exit prints no second error."""
  try:
    yield sys.stdout
    sys.stdout.flush()
  except OSError as e:
    if e.filename is not None:
      raise
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (the process ends with this error)
    raise FileWriteError(f"cannot write to standard output: {e.strerror or e}") from None


def script_flags(module_name: str) -> flags.FlagValues:
  """Where a script defines its flags: absl's global FLAGS when it is the program being run
  (`module_name` is "__main__"), so `app.run` parses them and --help lists them; a FlagValues of
  its own when it is imported, because the tests import several scripts and entry points into one
  process, where two commands' `--root` or `--split` would collide (DuplicateFlagError)."""
  return flags.FLAGS if module_name == "__main__" else flags.FlagValues()


def parse_flags(argv: list[str], flag_values: flags.FlagValues | None = None) -> list[str]:
  """Absl flag parsing whose errors (a misspelt `--config.` override, an unknown config variant,
  a config file that is missing or is a directory or has no `get_config`, a value out of a flag's
  bounds, a required flag missing) are one line on stderr instead of a traceback. Parses absl's
  global FLAGS unless `flag_values` (an imported script's own, see `script_flags`) is given."""
  problem = _config_file_problem(argv)
  if problem:
    fail(problem)
  try:
    return (flags.FLAGS if flag_values is None else flag_values)(argv)
  except Exception as e:  # noqa: BLE001  (anything raised while parsing is a usage error)
    fail(flag_error_line(e, argv))


def flags_only(argv: list[str]) -> None:
  """Exits with a one-line error if `argv` (what absl left after parsing) has positional
  arguments: every command line here takes flags only."""
  if len(argv) > 1:
    fail(f"unexpected arguments: {' '.join(argv[1:])}; allowed: flags only")


def _config_file_problem(argv: list[str]) -> str | None:
  """What is wrong with the file of `--config=FILE[:ARG]`, if anything can be told up front."""
  values = [a.split("=", 1)[1] for a in argv[1:] if a.startswith("--config=")]
  values += [argv[i + 1] for i, a in enumerate(argv[1:-1], start=1) if a == "--config"]
  for value in values:
    path = Path(value.split(":", 1)[0])
    if not path.exists():
      return f"--config={value}: no such config file {path}"
    if path.is_dir():
      return f"--config={value}: {path} is a directory; allowed: a Python file defining get_config"
  return None


def flag_error_line(e: BaseException, argv: list[str]) -> str:
  """The message of a flag-parsing error `e` as one line (see `parse_flags`).

  It reads the message as text because absl and ml_collections raise these errors with nothing
  but text (a KeyError with a hint, a wrapped exception); tests/test_bad_input.py pins each form.
  """
  cause = e
  while cause is not None and not isinstance(cause, KeyError):
    cause = cause.__context__
  if cause is not None and cause.args and isinstance(cause.args[0], str):
    # ml_collections: "'lerning_rate'\nDid you mean "learning_rate" instead of "lerning_rate"?"
    field, _, hint = cause.args[0].partition("\n")
    name = field.strip("'")
    overrides = [a.split("=")[0] for a in argv if a.startswith("--config.")]
    path = next((a[len("--") :] for a in overrides if a.split(".")[-1] == name), f"config.{name}")
    return f"unknown config field {path}" + (f"; {hint[0].lower()}{hint[1:]}" if hint else "")
  lines = [line.strip() for line in str(e).splitlines() if line.strip()]
  if "has no attribute 'get_config'" in str(e):
    config = next((a for a in argv if a.startswith("--config=")), "--config")
    return f"{config}: the file does not define get_config(arg)"
  if "Error whilst parsing config file" in str(e):  # the config file raised: keep its message
    return f"{lines[0].split(': Error whilst')[0]}: {lines[-1].split(': ', 1)[-1]}"
  parts = " ".join(lines).split(": ")
  return ": ".join(p for i, p in enumerate(parts) if i == 0 or p != parts[i - 1])
