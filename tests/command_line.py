"""The scripts' `main`s called in-process, as their command lines call them (`load_script`), or
run as separate processes (`run_script`).

`load_script("run_sweep")([...flags])` parses the flags with `cli.parse_flags` (a bad one is a
`SystemExit("error: ...")`, as on the command line) into the script's own FlagValues (imported,
a script keeps its flags apart from every other entry point's; see `cli.script_flags`), with
`sys.argv` set to that command line (what the script records as its command), then returns what
`main` returns.
"""

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from unittest import mock

from attn_seq2seq import cli

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_script(name: str) -> Callable[[list[str]], int]:
  """`scripts/<name>.py`'s main as a function of its command-line arguments (no program name)."""
  spec = importlib.util.spec_from_file_location(f"script_{name}", SCRIPTS / f"{name}.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)

  def main(args: list[str]) -> int:
    argv = [f"scripts/{name}.py", *args]
    module.FLAGS.unparse_flags()  # every call starts from the defaults, as a new process would
    with mock.patch.object(sys, "argv", argv):
      return module.main(cli.parse_flags(argv, module.FLAGS))

  return main


def run_script(name: str, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
  """`python scripts/<name>.py ARGS` as its own process, from the repository root, on CPU."""
  return subprocess.run(
    [sys.executable, f"scripts/{name}.py", *args],
    cwd=SCRIPTS.parent,
    capture_output=True,
    text=True,
    timeout=timeout,
    env={**os.environ, "JAX_PLATFORMS": "cpu"},
  )
