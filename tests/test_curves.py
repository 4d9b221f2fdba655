"""Learning curves from metrics.jsonl (attn_seq2seq/sweeps/curves.py): the evaluations of a run
with their cumulative cost, the cost to reach a level, a group's mean and range."""

import json
import math

import numpy as np

from attn_seq2seq.run_files import METRICS_FILE
from attn_seq2seq.sweeps import curves


def write_metrics(workdir, evals: dict[int, float], seconds_per_step: float = 0.1) -> None:
  workdir.mkdir(parents=True, exist_ok=True)
  records = []
  for step in range(100, max(evals) + 1, 100):
    records.append({"step": step, "train/loss": 1.0, "train/seconds": step * seconds_per_step})
    if step in evals:
      records.append({"step": step, "eval/exact_match": evals[step], "eval/loss": 1 - evals[step]})
  text = "".join(json.dumps(r) + "\n" for r in records)
  (workdir / METRICS_FILE).write_text(text + '{"step": 99')  # a half-written last line


def test_a_curve_has_every_evaluation_with_the_cost_logged_by_then(tmp_path):
  write_metrics(tmp_path, {200: 0.5, 400: 0.9, 600: 0.97})
  curve = curves.read_curve(tmp_path, "exact_match")
  assert curve.step.tolist() == [200, 400, 600]
  assert curve.value.tolist() == [0.5, 0.9, 0.97]
  assert np.allclose(curve.seconds, [20, 40, 60])
  assert np.isnan(curve.flops).all()  # not logged: unknown, not zero
  assert curves.read_curve(tmp_path, "wer") is None


def test_cost_to_a_level_is_the_first_evaluation_reaching_it(tmp_path):
  write_metrics(tmp_path, {200: 0.5, 400: 0.96, 600: 0.94, 800: 0.99})
  curve = curves.read_curve(tmp_path, "exact_match")
  assert curves.cost_to(curve, 0.95, "exact_match") == {
    "step": 400,
    "seconds": 40.0,
    "flops": None,
    "tgt_tokens": None,
  }
  assert curves.cost_to(curve, 0.999, "exact_match") is None
  loss = curves.read_curve(tmp_path, "loss")
  assert curves.cost_to(loss, 0.05, "loss")["step"] == 400  # lower is better


def test_a_group_curve_is_the_mean_and_range_of_the_seeds_still_training(tmp_path):
  write_metrics(tmp_path / "a", {100: 0.2, 200: 0.6, 300: 0.8})
  write_metrics(tmp_path / "b", {100: 0.4, 200: 0.8})  # stopped early
  group = curves.group_curve([curves.read_curve(tmp_path / r, "exact_match") for r in "ab"])
  assert group["x"] == [100, 200, 300] and group["n"] == [2, 2, 1]
  assert np.allclose(group["mean"], [0.3, 0.7, 0.8])
  assert np.allclose(group["low"], [0.2, 0.6, 0.8]) and np.allclose(group["high"], [0.4, 0.8, 0.8])


def test_curves_are_plotted_against_steps_and_seconds(tmp_path):
  write_metrics(tmp_path / "a", {100: 0.2, 200: 0.6})
  groups = {"a": [curves.read_curve(tmp_path / "a", "exact_match")]}
  for x in ("step", "seconds"):
    path = curves.plot_group_curves(groups, tmp_path / f"{x}.png", "exact_match", x=x)
    assert path.stat().st_size > 0
  assert curves.plot_group_curves(groups, tmp_path / "f.png", "exact_match", x="flops") is None
  assert not (tmp_path / "f.png").exists() and math.isnan(groups["a"][0].flops[0])
