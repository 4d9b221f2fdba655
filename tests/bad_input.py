"""What the bad-input tests share (test_bad_input*.py).

Each case runs one command (`attn_seq2seq.main` and `scripts/benchmark.py` as subprocesses;
`translate`, `evaluate` and `scripts/run_sweep.py` through their `main` in-process) and asserts:
the exit status; exactly one line on stderr (`error: ...`, naming the bad value); no traceback;
and that no file of an existing run changed (hashes of every file before and after). The existing
run is the session's trained `reverse:short,quick` run (conftest.py), copied per module.
"""

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from attn_seq2seq.run_files import CONFIG_FILE

ROOT = Path(__file__).resolve().parents[1]
QUICK = [
  "--config=configs/reverse.py:short,quick",
  "--config.eval_every_steps=100",
  "--config.num_attention_plots=0",
]  # the config of conftest's quick_reverse_run


def digest(directory: Path) -> dict[str, str]:
  """Relative path -> sha256 of every file under `directory`."""
  return {
    str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
    for p in sorted(directory.rglob("*"))
    if p.is_file()
  }


def data_dir_of(run: Path) -> str:
  return json.loads((run / CONFIG_FILE).read_text())["config"]["data"]["data_dir"]


@pytest.fixture(scope="module")
def run(quick_reverse_run, tmp_path_factory) -> Path:
  """A copy of the trained quick run that every case of this module must leave unchanged."""
  copy = tmp_path_factory.mktemp("existing") / "run"
  shutil.copytree(quick_reverse_run, copy)
  return copy


@pytest.fixture
def unchanged(run):
  """Asserts after the test that no file of `run` changed."""
  before = digest(run)
  yield run
  assert digest(run) == before


def assert_one_error_line(stderr: str, *fragments: str) -> str:
  lines = [line for line in stderr.splitlines() if line.strip()]
  assert len(lines) == 1, stderr
  assert lines[0].startswith("error: "), stderr
  assert "Traceback" not in stderr and "Exception ignored" not in stderr
  for fragment in fragments:
    assert fragment in lines[0], (fragment, lines[0])
  return lines[0]
