"""Statistics of comparisons: intervals in the metric's range, a two-level bootstrap that agrees
with scipy where they overlap, and paired differences whose p-values behave."""

import time

import numpy as np
import pytest
from scipy import stats as scipy_stats

from attn_seq2seq.metrics.outcomes import read_outcomes, write_outcomes
from attn_seq2seq.sweeps import statistics

MEAN_OF_VALUE = statistics.RatioMetric(
  "value", lambda c: c["value"], lambda c: np.ones(len(c["id"])), (-np.inf, np.inf), False
)
RATIO_OF_VALUE = statistics.RatioMetric(
  "ratio", lambda c: c["value"], lambda c: c["weight"], (0.0, np.inf), True
)


def g2p_run(rng, num_examples: int, accuracy: float) -> dict:
  """Outcome columns of a run that gets each word right with probability `accuracy`."""
  exact = (rng.random(num_examples) < accuracy).astype(np.int64)
  ref_length = rng.integers(2, 12, num_examples)
  edits = np.where(exact == 1, 0, rng.integers(1, 4, num_examples))
  return {
    "id": np.arange(num_examples),
    "exact": exact,
    "edit_distance": edits,
    "ref_length": ref_length,
  }


@pytest.mark.parametrize("metric", [MEAN_OF_VALUE, RATIO_OF_VALUE], ids=["mean", "sum_ratio"])
def test_single_seed_bootstrap_agrees_with_scipy_percentile_bootstrap(metric):
  rng = np.random.default_rng(0)
  value, weight = rng.gamma(2.0, size=300), rng.integers(1, 6, size=300).astype(float)
  run = {"id": np.arange(300), "value": value, "weight": weight}
  ours = statistics.hierarchical_bootstrap([run], metric, statistics.Resampling(n_resamples=20_000))

  def statistic(v, w, axis):
    return v.sum(axis) / (w.sum(axis) if metric is RATIO_OF_VALUE else v.shape[axis])

  reference = scipy_stats.bootstrap(
    (value, weight),
    statistic,
    paired=True,
    vectorized=True,
    n_resamples=20_000,
    method="percentile",
    rng=np.random.default_rng(1),
  ).confidence_interval
  width = reference.high - reference.low
  assert ours["estimate"] == pytest.approx(statistic(value, weight, 0))
  assert ours["interval"] == pytest.approx([reference.low, reference.high], abs=0.03 * width)


@pytest.mark.parametrize("successes", [0, 1, 150, 299, 300])
def test_wilson_intervals_stay_inside_0_1_and_hold_the_estimate(successes):
  result = statistics.proportion_interval(successes, 300)
  low, high = result["interval"]
  assert 0 <= low <= result["estimate"] <= high <= 1
  assert high - low > 0  # not the width-0 interval of the normal approximation at 0/n or n/n


@pytest.mark.parametrize("num_wrong", [0, 1, 3])
def test_bootstrap_intervals_of_proportions_near_1_stay_inside_0_1(num_wrong):
  exact = np.ones(300, dtype=np.int64)
  exact[:num_wrong] = 0
  runs = [{"id": np.arange(300), "exact": np.roll(exact, k)} for k in range(3)]
  for metric in ("exact_match", "wer"):
    result = statistics.hierarchical_bootstrap(
      runs, metric, statistics.Resampling(n_resamples=2_000)
    )
    low, high = result["interval"]
    assert 0 <= low <= result["estimate"] <= high <= 1
    assert result["degenerate"] == (num_wrong == 0)
  if num_wrong == 0:
    assert result["text"] == "0.000 in every resample (3 seeds x 300 examples)"


def test_equal_seeds_read_n_of_n_seeds_at_the_value():
  assert statistics.seed_summary([1.0, 1.0, 1.0])["text"] == "3/3 seeds at 1.000"
  assert statistics.seed_summary([0.5])["text"] == "1/1 seeds at 0.500"
  summary = statistics.seed_summary([0.921, 0.934, 0.953])
  assert summary["text"] == "0.936 (3 seeds: 0.921, 0.934, 0.953)"
  assert not summary["all_equal"] and summary["std"] > 0


def test_a_group_against_itself_differs_by_exactly_0_with_p_1():
  rng = np.random.default_rng(0)
  runs = [g2p_run(rng, 500, 0.7) for _ in range(3)]
  for metric in statistics.METRICS:
    result = statistics.paired_difference(
      runs, runs, metric, statistics.Resampling(n_resamples=1_000)
    )
    assert result["difference"] == 0.0
    assert result["p_value"] == 1.0
    assert result["interval"][0] <= 0 <= result["interval"][1]


def test_a_large_real_difference_has_a_small_p_and_an_interval_excluding_0():
  rng = np.random.default_rng(0)
  better = [g2p_run(rng, 500, 0.8) for _ in range(3)]
  worse = [g2p_run(rng, 500, 0.6) for _ in range(3)]
  for metric in ("wer", "per"):
    result = statistics.paired_difference(
      better, worse, metric, statistics.Resampling(n_resamples=2_000)
    )
    assert result["difference"] < 0 and result["interval"][1] < 0
    assert result["p_value"] < 0.01
    assert result["text"].endswith("p < 0.001")
  flipped = statistics.paired_difference(
    worse, better, "exact_match", statistics.Resampling(n_resamples=2_000)
  )
  assert flipped["difference"] < 0 and flipped["interval"][1] < 0  # B is better in exact match


def test_single_seed_p_value_agrees_with_a_paired_permutation_test():
  """40 discordant words, 25 won by A and 15 by B: a difference near the edge of significance,
  where a wrongly scaled p-value would show."""
  a = np.array([1] * 250 + [1] * 25 + [0] * 15 + [0] * 110)
  b = np.array([1] * 250 + [0] * 25 + [1] * 15 + [0] * 110)
  ours = statistics.paired_difference(
    [{"id": np.arange(400), "exact": a}], [{"id": np.arange(400), "exact": b}], "exact_match"
  )
  permutation = scipy_stats.permutation_test(
    (a, b),
    lambda x, y, axis: np.mean(x, axis=axis) - np.mean(y, axis=axis),
    permutation_type="samples",
    vectorized=True,
    n_resamples=10_000,
    rng=np.random.default_rng(0),
  )
  assert ours["difference"] == pytest.approx(permutation.statistic)
  assert 0.05 < permutation.pvalue < 0.5
  assert ours["p_value"] == pytest.approx(permutation.pvalue, abs=0.05)


def test_seed_spread_widens_the_interval_beyond_test_set_sampling():
  rng = np.random.default_rng(0)
  base = g2p_run(rng, 2_000, 0.7)
  same = [base] * 3
  spread = [{**base, "exact": np.where(rng.random(2_000) < p, 1, 0)} for p in (0.55, 0.7, 0.85)]
  narrow = statistics.hierarchical_bootstrap(
    same, "exact_match", statistics.Resampling(n_resamples=2_000)
  )["interval"]
  wide = statistics.hierarchical_bootstrap(
    spread, "exact_match", statistics.Resampling(n_resamples=2_000)
  )["interval"]
  assert wide[1] - wide[0] > 3 * (narrow[1] - narrow[0])


def test_bootstrap_is_reproducible_and_fast_on_10k_examples_x_3_seeds():
  rng = np.random.default_rng(0)
  runs = [g2p_run(rng, 10_000, 0.7) for _ in range(3)]
  start = time.perf_counter()
  first = statistics.hierarchical_bootstrap(runs, "per", statistics.Resampling(n_resamples=10_000))
  seconds = time.perf_counter() - start
  assert (
    statistics.hierarchical_bootstrap(runs, "per", statistics.Resampling(n_resamples=10_000))
    == first
  )
  assert seconds < 10  # about 1.5 s on a 2-core laptop-class CPU


def test_runs_on_different_examples_are_not_compared():
  rng = np.random.default_rng(0)
  a, b = g2p_run(rng, 100, 0.7), g2p_run(rng, 99, 0.7)
  with pytest.raises(ValueError, match="run 0: its examples are not those of the other runs"):
    statistics.paired_difference([a], [b], "wer")


def test_unknown_metric_and_bad_settings_are_one_line_errors():
  run = g2p_run(np.random.default_rng(0), 10, 0.5)
  with pytest.raises(ValueError, match="unknown metric 'bleu'; valid choices: exact_match, wer"):
    statistics.hierarchical_bootstrap([run], "bleu")
  with pytest.raises(ValueError, match="confidence must be in"):
    statistics.hierarchical_bootstrap([run], "wer", statistics.Resampling(confidence=95))
  with pytest.raises(ValueError, match="n_resamples must be a positive integer, got 0"):
    statistics.paired_difference([run], [run], "wer", statistics.Resampling(n_resamples=0))


def test_the_difference_text_reads_as_a_claim():
  result = {"difference": 0.1234, "interval": [0.101, 0.145], "p_value": 0.0002}
  assert (
    statistics.format_difference(result, "A", "B") == "A - B = +0.123 [0.101, 0.145], p < 0.001"
  )
  result["p_value"] = 0.0342
  assert statistics.format_difference(result, percent=True) == "+12.3 pp [10.1, 14.5], p = 0.034"


def test_runs_pair_by_example_id_whatever_their_row_order(tmp_path):
  rng = np.random.default_rng(0)
  a, b = g2p_run(rng, 300, 0.7), g2p_run(rng, 300, 0.5)
  order = rng.permutation(300)
  shuffled_b = {name: column[order] for name, column in b.items()}
  expected = statistics.paired_difference([a], [b], "per", statistics.Resampling(n_resamples=500))
  assert (
    statistics.paired_difference([a], [shuffled_b], "per", statistics.Resampling(n_resamples=500))
    == expected
  )
  for name, run in (("a", a), ("b", shuffled_b)):
    columns = {**run, "src_length": run["ref_length"], "hyp_length": run["ref_length"]}
    write_outcomes(tmp_path / name, "test", 100, columns)
  read_a, read_b = (read_outcomes(tmp_path / name, "test") for name in ("a", "b"))
  assert (
    statistics.paired_difference([read_a], [read_b], "per", statistics.Resampling(n_resamples=500))
    == expected
  )
