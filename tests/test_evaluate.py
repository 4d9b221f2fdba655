"""The evaluate CLI: metrics of a split under greedy or beam search go into results.json under
their own key, next to everything already there.

One tiny `reverse:short,quick` run (4 steps on the 4 fake CPU devices, checkpoints at steps 2 and
4) is trained once; each test works on a copy of its workdir.
"""

import json
import math
import shutil
from pathlib import Path

import pytest
from helpers import run_command

from attn_seq2seq import evaluate as evaluate_cli
from attn_seq2seq.inference import evaluate
from attn_seq2seq.run_files import CHECKPOINTS_DIR, CONFIG_FILE, RESULTS_FILE
from attn_seq2seq.search import SearchSpec


@pytest.fixture
def workdir(quick_reverse_run, tmp_path):
  copy = tmp_path / "run"
  shutil.copytree(quick_reverse_run, copy)
  return copy


@pytest.fixture(autouse=True)
def data_dir(quick_reverse_run, monkeypatch):
  """Evaluate reads the dataset from --data_dir or TFDS_DATA_DIR, never from config.json."""
  record = json.loads((quick_reverse_run / CONFIG_FILE).read_text())
  monkeypatch.setenv("TFDS_DATA_DIR", record["config"]["data"]["data_dir"])


def read_results(workdir: Path) -> dict:
  return json.loads((workdir / RESULTS_FILE).read_text())


def assert_close(got: dict, want: dict):
  assert set(got) == set(want)
  for name, value in want.items():
    assert math.isclose(got[name], value, rel_tol=1e-5, abs_tol=1e-6), name


def test_results_key_names_split_search_and_step():
  key = evaluate.results_key
  assert key("test", SearchSpec()) == "test"
  assert key("test", SearchSpec(alpha=0.6)) == "test"  # greedy ignores alpha
  assert key("test_long", SearchSpec(beam_size=5)) == "test_long/beam5"
  assert key("test", SearchSpec(beam_size=5, alpha=0.6), step_suffix=2) == (
    "test/beam5/alpha0.6/step2"
  )
  assert key("test", SearchSpec(beam_size=5, alpha=0.6, coverage_penalty=0.2)) == (
    "test/beam5/alpha0.6/coverage0.2"
  )
  assert key("test", SearchSpec(coverage_penalty=0.2)) == "test"  # greedy ignores it
  assert key("test_long", SearchSpec(min_len_a=1.0)) == "test_long/oracle_length"
  assert key("test", SearchSpec(beam_size=3, min_len_a=1.0)) == "test/beam3/oracle_length"
  assert key("test", SearchSpec(min_len_a=0.5, min_len_b=2.0)) == "test/min_len_a0.5_b2"


def test_greedy_evaluation_recomputes_the_results_of_training(workdir, capsys):
  trained = read_results(workdir)
  damaged = json.loads(json.dumps(trained))
  damaged["test"] = {"exact_match": -1.0}
  (workdir / RESULTS_FILE).write_text(json.dumps(damaged))
  run_command(evaluate_cli, workdir=workdir, split="test")
  results = read_results(workdir)
  assert {k: v for k, v in results.items() if k != "test"} == {
    k: v for k, v in trained.items() if k != "test"
  }
  assert_close(results["test"], trained["test"])
  outcomes = json.loads((workdir / "outcomes/test.json").read_text())
  assert outcomes["key"] == "test" and len(outcomes["columns"]["exact"]) == results["test"]["count"]
  assert math.isclose(
    sum(outcomes["columns"]["exact"]) / results["test"]["count"], results["test"]["exact_match"]
  )
  table = capsys.readouterr().out.splitlines()
  assert table[0].split()[:2] == ["split", "count"] and table[1].split()[0] == "test"
  assert any(line.split()[:2] == ["length", "1-9"] for line in table)


def test_beam_search_metrics_go_under_their_own_key(workdir):
  trained = read_results(workdir)
  run_command(evaluate_cli, workdir=workdir, split="test_long", beam_size=3, alpha=0.6)
  results = read_results(workdir)
  assert set(results) == {*trained, "test_long/beam3/alpha0.6"}
  assert {k: results[k] for k in trained} == trained
  beam, greedy = results["test_long/beam3/alpha0.6"], trained["test_long"]
  assert set(beam) == set(greedy)  # every metric, overall and per length bucket
  assert beam["count"] == greedy["count"] == 16
  for teacher_forced in ("loss", "perplexity", "next_token_accuracy"):  # search-independent
    assert math.isclose(beam[teacher_forced], greedy[teacher_forced], rel_tol=1e-5)
  assert 0.0 <= beam["exact_match"] <= 1.0 and 0.0 <= beam["gold_attention_mass"] <= 1.0


def test_oracle_length_metrics_go_under_their_own_key(workdir):
  trained = read_results(workdir)
  run_command(evaluate_cli, workdir=workdir, split="test_long", oracle_length=True)
  results = read_results(workdir)
  assert set(results) == {*trained, "test_long/oracle_length"}
  oracle, greedy = results["test_long/oracle_length"], trained["test_long"]
  assert set(oracle) == set(greedy) and oracle["count"] == greedy["count"]
  for teacher_forced in ("loss", "perplexity", "next_token_accuracy"):  # search-independent
    assert math.isclose(oracle[teacher_forced], greedy[teacher_forced], rel_tol=1e-5)
  outcomes = json.loads((workdir / "outcomes/test_long/oracle_length.json").read_text())
  assert (outcomes["split"], outcomes["key"], outcomes["step"]) == (
    "test_long",
    "test_long/oracle_length",
    results["step"],
  )
  columns = outcomes["columns"]
  assert len(columns["id"]) == oracle["count"]
  assert all(h >= s for h, s in zip(columns["hyp_length"], columns["src_length"], strict=True))


def test_an_earlier_checkpoint_is_stored_under_its_step(workdir):
  run_command(evaluate_cli, workdir=workdir, split="validation", checkpoint_step=2)
  results = read_results(workdir)
  assert "validation/step2" in results and results["step"] == 4
  assert results["validation/step2"]["count"] == 16
  outcomes = json.loads((workdir / "outcomes/validation/step2.json").read_text())
  assert (outcomes["key"], outcomes["step"]) == ("validation/step2", 2)


@pytest.mark.parametrize(
  "problem, message",
  [
    (
      "unknown_split",
      "algorithmic/reverse_short has no split 'dev'; splits: train, validation, test, test_long",
    ),
    ("no_checkpoint", "no checkpoint directory {workdir}/checkpoints"),
    ("corrupt_config", "cannot read {workdir}/config.json: "),
  ],
  ids=["unknown_split", "no_checkpoint", "corrupt_config"],
)
def test_bad_inputs_are_one_line_errors(workdir, problem, message):
  split = "dev" if problem == "unknown_split" else "test"
  if problem == "no_checkpoint":
    shutil.rmtree(workdir / CHECKPOINTS_DIR)
  if problem == "corrupt_config":
    (workdir / CONFIG_FILE).write_text('{"config": ')
  before = read_results(workdir)
  with pytest.raises(SystemExit) as exit_info:
    run_command(evaluate_cli, workdir=workdir, split=split)
  assert str(exit_info.value.code).startswith(f"error: {message.format(workdir=workdir)}")
  assert "\n" not in str(exit_info.value.code)
  assert read_results(workdir) == before
