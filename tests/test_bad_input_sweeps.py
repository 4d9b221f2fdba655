"""Bad sweep files and damaged sweep roots, through the real entry points (`scripts/run_sweep.py`
and `scripts/summarize.py` in-process, `scripts/reproduce.py` as a process): one `error:` line
naming the file and the cause, no traceback, nothing created or changed."""

import json
from pathlib import Path

import pytest
from helpers import assert_one_error_line, digest, load_script, run_script

from attn_seq2seq.errors import UserError
from attn_seq2seq.run_files import CONFIG_FILE, LAUNCHES_FILE, RESULTS_FILE, SWEEP_FILE
from attn_seq2seq.sweeps import report, sweep

pytestmark = pytest.mark.usefixtures("in_repo_root")  # sweeps name configs from the root
RUN = {"name": "h16", "config": "configs/reverse.py:short,quick", "overrides": {}}


def exit_line(main, args: list[str]) -> str:
  with pytest.raises(SystemExit) as exit_info:
    main(args)
  return str(exit_info.value.code)


@pytest.mark.parametrize(
  "source, fragments",
  [
    ("def get_sweep(arg=None:\n  return []\n", ["syntax error at line 1"]),
    ("import no_such_module_here\n", ["cannot be loaded", "ModuleNotFoundError"]),
    ("raise RuntimeError('broken on import')\n", ["cannot be loaded", "broken on import"]),
    ("RUNS = []\n", ["does not define get_sweep(arg)"]),
    ("def get_sweep(arg=None):\n  return None\n", ["get_sweep returned NoneType"]),
    ("def get_sweep(arg=None):\n  return []\n", ["the sweep has no runs"]),
    ("def get_sweep(arg=None):\n  raise KeyError('x')\n", ["get_sweep raised KeyError"]),
    ("def get_sweep(arg=None):\n  raise ValueError('bad arg')\n", ["get_sweep raised", "bad arg"]),
  ],
  ids=["syntax", "import", "raises-on-import", "no-get_sweep", "none", "empty", "raises", "value"],
)
def test_a_sweep_file_that_fails_to_load_is_one_line_naming_it(source, fragments, tmp_path):
  path = tmp_path / "broken.py"
  path.write_text(source)
  line = exit_line(load_script("run_sweep"), [f"--sweep={path}", f"--root={tmp_path / 'root'}"])
  assert_one_error_line(line, "broken.py", *fragments)
  assert not (tmp_path / "root").exists()


def sweep_root(tmp_path: Path, record: object) -> Path:
  root = tmp_path / "root"
  root.mkdir()
  (root / SWEEP_FILE).write_text(record if isinstance(record, str) else json.dumps(record))
  return root


@pytest.mark.parametrize(
  "record",
  ['{"runs": [', {"sweep": "x"}, {"runs": [{"config": "c"}]}],
  ids=["cut", "no-runs", "no-name"],
)
def test_a_damaged_sweep_json_is_one_line_naming_it(record, tmp_path):
  root = sweep_root(tmp_path, record)
  before = digest(root)
  path = tmp_path / "s.py"
  path.write_text(f"def get_sweep(arg=None):\n  return [{RUN!r}]\n")
  for main, args in (
    (load_script("run_sweep"), [f"--sweep={path}", f"--root={root}"]),
    (load_script("summarize"), [f"--root={root}"]),
  ):
    assert_one_error_line(exit_line(main, args), f"cannot read {root / SWEEP_FILE}")
  assert digest(root) == before


def test_a_damaged_run_config_json_is_one_line_naming_it(tmp_path):
  run = tmp_path / "root" / "h16"
  run.mkdir(parents=True)
  (run / RESULTS_FILE).write_text(json.dumps({"step": 4, "test": {"exact_match": 1.0}}))
  (run / CONFIG_FILE).write_text('{"config": ')
  line = exit_line(load_script("summarize"), [f"--root={tmp_path / 'root'}"])
  assert_one_error_line(line, f"cannot read {run / CONFIG_FILE}")
  (run / CONFIG_FILE).write_text('{"config": {}}')
  line = exit_line(load_script("summarize"), [f"--root={tmp_path / 'root'}"])
  assert_one_error_line(line, f"cannot read {run / CONFIG_FILE}", "num_params")


def test_a_second_sweep_on_a_root_in_use_is_one_line_naming_the_first(tmp_path):
  path = tmp_path / "s.py"
  path.write_text(f"def get_sweep(arg=None):\n  return [{RUN!r}]\n")
  root = tmp_path / "root"
  with sweep.lock_root(root):  # this process is the first sweep
    before = digest(root)
    line = exit_line(load_script("run_sweep"), [f"--sweep={path}", f"--root={root}"])
    assert digest(root) == before
  assert_one_error_line(line, f"sweep root {root} is in use by another sweep", "pid")
  assert not (root / "h16").exists()


def test_reproduce_with_an_unknown_preset_is_one_line_and_runs_nothing(tmp_path):
  result = run_script("reproduce", "scorers", "--preset=nope", f"--root={tmp_path / 'root'}")
  assert result.returncode == 1
  assert_one_error_line(result.stderr, "unknown config variant(s) nope")
  assert "re-run" not in result.stderr and not (tmp_path / "root").exists()


def test_a_damaged_launches_jsonl_names_the_file_and_a_half_written_last_line_is_dropped(
  tmp_path,
):
  path = tmp_path / LAUNCHES_FILE
  path.write_text('{"name": "h16"}\n{"name": "h3')  # the last append cut by a kill
  assert report.read_launches(tmp_path) == [{"name": "h16"}]
  path.write_text('{"name": "h16"}\n[1, \n{"name": "h32"}\n')
  with pytest.raises(UserError, match=f"cannot read {path}: line 2 is not JSON"):
    report.read_launches(tmp_path)
