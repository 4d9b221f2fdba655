"""Tuned groups (attn_seq2seq/sweeps/selection.py, define.tuned_group): the value is chosen on
validation from finished trials, never on test, and the launchers start a tuned run only then."""

import json

import pytest

from attn_seq2seq.run_files import CONFIG_FILE, RESULTS_FILE
from attn_seq2seq.sweeps import define, selection, sweep

GRID = (3e-4, 1e-3, 3e-3)


def tuned(metric: str = "exact_match") -> list[dict]:
  return define.tuned_group(
    "arm",
    "configs/reverse.py:short,quick",
    {"model.decoder": "luong"},
    grid={"learning_rate": GRID},
    seeds=(0, 1, 2),
    select_on=("validation", metric),
  )


def write_trial(root, name: str, lr: float, validation: float, test: float) -> None:
  workdir = root / name
  workdir.mkdir(parents=True)
  (workdir / CONFIG_FILE).write_text(json.dumps({"config": {"learning_rate": lr}}))
  results = {"step": 10, "validation": {"exact_match": validation}, "test": {"exact_match": test}}
  (workdir / RESULTS_FILE).write_text(json.dumps(results))


def test_a_tuned_group_has_one_trial_per_value_then_the_other_seeds():
  runs = tuned()
  assert [r["name"] for r in runs] == [
    "arm_lr0.0003_s0",
    "arm_lr0.001_s0",
    "arm_lr0.003_s0",
    "arm_s1",
    "arm_s2",
  ]
  assert [r["overrides"]["learning_rate"] for r in runs[:3]] == list(GRID)
  for run in runs[3:]:
    assert "learning_rate" not in run["overrides"]
    assert run["select"]["candidates"] == [r["name"] for r in runs[:3]]
  sweep.check_runs(runs)


def test_choosing_on_a_test_split_is_refused():
  with pytest.raises(ValueError, match="never on test"):
    define.tuned_group(
      "a", "c", {}, grid={"learning_rate": GRID}, seeds=(0,), select_on=("test", "x")
    )


@pytest.mark.parametrize(
  "scores,metric,best",
  [
    ([0.2, 0.9, 0.5], "exact_match", 1),
    ([0.2, 0.9, 0.5], "wer", 0),
    ([0.9, 0.9, 0.5], "exact_match", 0),  # ties: the first
    ([float("nan"), 0.1, 0.3], "exact_match", 2),  # NaN (a diverged trial) is never chosen
  ],
)
def test_choose_takes_the_best_for_the_metrics_direction(scores, metric, best):
  assert selection.choose(scores, metric) == best


def test_the_value_is_chosen_on_validation_never_on_test(tmp_path):
  runs = tuned()
  # The middle value is best on validation; the last would be best on test.
  for (name, lr), (val, test) in zip(
    [(r["name"], r["overrides"]["learning_rate"]) for r in runs[:3]],
    [(0.5, 0.5), (0.8, 0.6), (0.7, 0.99)],
    strict=True,
  ):
    write_trial(tmp_path, name, lr, val, test)
  resolved = selection.resolve(runs[3], tmp_path)
  assert resolved["overrides"]["learning_rate"] == 1e-3
  assert resolved["selected"]["candidate"] == "arm_lr0.001_s0"
  assert "--config.learning_rate=0.001" in sweep.command(resolved, tmp_path)
  (record,) = selection.selections(runs, tmp_path)
  assert record["chosen"] == {"run": "arm_lr0.001_s0", "value": 1e-3}
  assert record["runs"] == ["arm_s1", "arm_s2"]
  assert [c["score"] for c in record["candidates"]] == [0.5, 0.8, 0.7]


def test_a_tuned_run_starts_only_after_its_trials(tmp_path):
  runs = tuned()
  queue, status, echoed = [runs[3], *runs[:3]], {}, []
  taken = [sweep.take_runnable(queue, status, tmp_path, echoed.append)["name"] for _ in range(3)]
  assert taken == [r["name"] for r in runs[:3]]  # the trials jump the waiting tuned run
  assert sweep.take_runnable(queue, status, tmp_path, echoed.append) is None
  for run, score in zip(runs[:3], (0.1, 0.2, 0.3), strict=True):
    write_trial(tmp_path, run["name"], run["overrides"]["learning_rate"], score, 0.0)
    status[run["name"]] = "done"
  run = sweep.take_runnable(queue, status, tmp_path, echoed.append)
  assert run["overrides"]["learning_rate"] == 3e-3 and not queue
  assert any("learning_rate=0.003 chosen on validation exact_match" in line for line in echoed)


def test_a_sweep_naming_a_trial_it_lacks_is_refused():
  with pytest.raises(sweep.SweepError, match="tuning runs arm_lr0.0003_s0"):
    sweep.check_runs(tuned()[1:])


def test_an_unreadable_trial_is_a_one_line_error_naming_it(tmp_path):
  runs = tuned()
  (tmp_path / runs[0]["name"]).mkdir()
  with pytest.raises(
    selection.SelectionError, match=f"cannot read the tuning run .*{runs[0]['name']}"
  ):
    selection.resolve(runs[3], tmp_path)


@pytest.mark.parametrize(
  ("values", "chosen", "edge"),
  [
    ((1e-3, 3e-3, 1e-2), 1e-2, True),
    ((1e-3, 3e-3, 1e-2), 1e-3, True),
    ((1e-3, 3e-3, 1e-2), 3e-3, False),
    ((1e-3, 3e-3), 3e-3, False),
  ],
)
def test_a_choice_at_the_edge_of_a_grid_of_three_or_more_is_flagged(values, chosen, edge):
  tuned = {
    "candidates": [{"value": v, "run": f"r{v}"} for v in values],
    "chosen": {"value": chosen, "run": f"r{chosen}"},
  }
  assert selection.at_grid_edge(tuned) is edge
