"""Uncertainty that fits the data: intervals that stay in a metric's range, and tests of
differences that count both sources of variance, training seeds and the finite test set.

    seed_summary([1.0, 1.0, 1.0])["text"]                       # '3/3 seeds at 1.000'
    proportion_interval(299, 300)["interval"]                   # Wilson, inside [0, 1]
    runs_a = [read_outcomes(workdir, "test") for workdir in attention_runs]   # one per seed
    hierarchical_bootstrap(runs_a, "wer")                       # {'estimate', 'interval', ...}
    diff = paired_difference(runs_a, runs_b, "wer")             # {'difference', 'p_value', ...}
    format_difference(diff, "attention", "fixed")
    # 'attention - fixed = -0.050 [-0.061, -0.039], p < 0.001'

Every result is a plain dict of numbers, lists and strings (summary.json stores it as is) with a
'text' form. Metrics are ratios over examples, sum(numerator) / sum(denominator), read from the
per-example outcomes (`metrics/outcomes.py`): 'exact_match' = mean(exact), 'wer' = 1 -
mean(exact), 'per' = sum(edit_distance) / sum(ref_length) (the token edit rate of any task).
A group's value is the mean over its seeds of each seed's ratio, as `summary.py` averages runs.

The bootstrap is two-level (Bouthillier et al. 2021, "Accounting for Variance in Machine Learning
Benchmarks"; Koehn 2004, "Statistical Significance Tests for Machine Translation Evaluation"):
each replicate draws the seeds with replacement, and draws one resample of the test examples
(with replacement) that every seed, and in `paired_difference` both groups, is scored on: the
seeds of a run were all evaluated on the same test set, so a new test set is one draw for all of
them. The interval is the percentile interval of the replicates, clipped to the metric's range.
Replicates are vectorised: example resamples are count vectors [chunk, num_examples], and every
seed's sums come from one matrix product; the random generator is seeded, so a result is
reproducible. With one seed the seed level is a no-op and this is the ordinary percentile
bootstrap over examples (`tests/test_statistics.py` checks it against `scipy.stats.bootstrap`).
Caveat: with 3 seeds, resampling seeds can only see 3 values; the seed level of the interval is
as good as 3 seeds allow, which is why every result also lists the per-seed values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from scipy import stats as scipy_stats

from attn_seq2seq.choices import check_choice
from attn_seq2seq.metrics.outcomes import Outcomes

CONFIDENCE = 0.95  # of every interval
N_RESAMPLES = 10_000  # bootstrap replicates (~1.5 s for 10,000 examples x 3 seeds, 2 cores)
RNG_SEED = 0  # seeds the bootstrap's generator: the same inputs give the same result
_CHUNK_ELEMENTS = 4_000_000  # replicates x examples drawn at once (~50 MB of counts)

Columns = Mapping[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class RatioMetric:
  """A metric sum(numerator) / sum(denominator) over examples, from outcome columns."""

  name: str
  numerator: Callable[[Columns], np.ndarray]  # columns -> [num_examples]
  denominator: Callable[[Columns], np.ndarray]  # columns -> [num_examples], >= 0
  bounds: tuple[float, float]  # the metric's range; intervals are clipped to it
  lower_is_better: bool


_ones = lambda c: np.ones(len(c["id"]))
METRICS = {
  "exact_match": RatioMetric("exact_match", lambda c: c["exact"], _ones, (0.0, 1.0), False),
  "wer": RatioMetric("wer", lambda c: 1 - c["exact"], _ones, (0.0, 1.0), True),
  "per": RatioMetric(
    "per", lambda c: c["edit_distance"], lambda c: c["ref_length"], (0.0, np.inf), True
  ),
  # The same ratio for any task: token edits over reference tokens (PER, for G2P).
  "edit_rate": RatioMetric(
    "edit_rate", lambda c: c["edit_distance"], lambda c: c["ref_length"], (0.0, np.inf), True
  ),
}


def _check_confidence(confidence: float) -> None:
  if not 0 < confidence < 1:
    raise ValueError(f"confidence must be in (0, 1), got {confidence}")


@dataclasses.dataclass(frozen=True)
class Resampling:
  """How a bootstrap resamples; construction checks every field (a one-line ValueError)."""

  confidence: float = CONFIDENCE  # of the interval, in (0, 1)
  n_resamples: int = N_RESAMPLES  # bootstrap replicates, >= 1
  rng_seed: int = RNG_SEED  # seeds the generator

  def __post_init__(self):
    _check_confidence(self.confidence)
    if not (isinstance(self.n_resamples, int | np.integer) and self.n_resamples >= 1):
      raise ValueError(f"n_resamples must be a positive integer, got {self.n_resamples!r}")
    object.__setattr__(self, "n_resamples", int(self.n_resamples))

  def record(self) -> dict:
    """The settings as a result records them."""
    return dataclasses.asdict(self)

  def generator(self) -> np.random.Generator:
    return np.random.default_rng(self.rng_seed)


DEFAULT_RESAMPLING = Resampling()


def metric_of(metric: str | RatioMetric) -> RatioMetric:
  """`metric` itself, or the RatioMetric of a name in METRICS (an unknown name is an error)."""
  if isinstance(metric, RatioMetric):
    return metric
  check_choice("metric", metric, METRICS)
  return METRICS[metric]


def proportion_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> dict:
  """The Wilson score interval of a proportion (scipy's `binomtest(...).proportion_ci`), always
  inside [0, 1] and never of width 0 (unlike the normal approximation at 0/n or n/n).

  Returns:
    {'estimate': successes / n, 'successes', 'n', 'interval': [low, high], 'confidence',
    'method': 'wilson', 'text': '0.997 [0.981, 0.999]'}.
  """
  _check_confidence(confidence)
  if not (isinstance(n, int | np.integer) and n > 0 and 0 <= successes <= n):
    raise ValueError(f"a proportion needs 0 <= successes <= n and n >= 1, got {successes}/{n}")
  ci = scipy_stats.binomtest(int(successes), int(n)).proportion_ci(confidence, method="wilson")
  result = {
    "estimate": successes / n,
    "successes": int(successes),
    "n": int(n),
    "interval": [float(ci.low), float(ci.high)],
    "confidence": confidence,
    "method": "wilson",
  }
  return {**result, "text": format_interval(result)}


def seed_summary(values: Sequence[float], digits: int = 3) -> dict:
  """A metric over seeds, without pretending 3 values make a distribution: the mean, the values,
  and a text form that shows them, '0.936 (3 seeds: 0.921, 0.934, 0.953)', or '3/3 seeds at
  1.000' when they are all equal (not an interval of width 0).

  Returns:
    {'mean', 'values', 'n', 'min', 'max', 'std' (sample std, None for one value), 'all_equal',
    'text'}.
  """
  values = [float(v) for v in values]
  if not values or not np.all(np.isfinite(values)):
    raise ValueError(f"seed_summary needs at least one finite value, got {values}")
  n, mean = len(values), float(np.mean(values))
  all_equal = min(values) == max(values)
  if all_equal:
    text = f"{n}/{n} seeds at {values[0]:.{digits}f}"
  else:
    shown = ", ".join(f"{v:.{digits}f}" for v in values)
    text = f"{mean:.{digits}f} ({n} seeds: {shown})"
  return {
    "mean": mean,
    "values": values,
    "n": n,
    "min": min(values),
    "max": max(values),
    "std": float(np.std(values, ddof=1)) if n > 1 else None,
    "all_equal": all_equal,
    "text": text,
  }


def seed_values(outcomes_by_seed: Sequence[Outcomes | Columns], metric: str | RatioMetric) -> list:
  """[num_seeds] the metric of each seed's outcomes (what results.json reports per run)."""
  num, den, _ = _ratio_arrays(outcomes_by_seed, metric_of(metric))
  return (num.sum(axis=1) / den.sum(axis=1)).tolist()


def hierarchical_bootstrap(
  outcomes_by_seed: Sequence[Outcomes | Columns],
  metric: str | RatioMetric,
  resampling: Resampling = DEFAULT_RESAMPLING,
) -> dict:
  """A percentile interval of a group's metric over resampled seeds and test examples.

  Args:
    outcomes_by_seed: [num_seeds] one run's outcomes per seed (`read_outcomes`, or a mapping of
      columns), all on the same examples (paired by 'id').
    metric: a name in METRICS or a RatioMetric.
    resampling: the interval's confidence, the number of replicates, the generator's seed.

  Returns:
    {'metric', 'estimate' (mean over seeds of each seed's value), 'interval': [low, high],
    'seed_values', 'n_seeds', 'n_examples', 'confidence', 'n_resamples', 'rng_seed', 'method',
    'degenerate' (every replicate equal, e.g. every example right in every seed: the bootstrap
    sees no variation the sample does not show; `proportion_interval` of the test set's counts
    still bounds an exact-match rate), 'text': '0.298 [0.287, 0.309]' (degenerate: '1.000 in
    every resample (3 seeds x 300 examples)')}.
  """
  metric = metric_of(metric)
  num, den, _ = _ratio_arrays(outcomes_by_seed, metric)
  (replicates,) = _replicates([(num, den)], resampling.n_resamples, resampling.generator())
  per_seed = num.sum(axis=1) / den.sum(axis=1)
  result = {
    "metric": metric.name,
    "estimate": float(per_seed.mean()),
    "interval": _percentile_interval(replicates, resampling.confidence, metric.bounds),
    "seed_values": per_seed.tolist(),
    "n_seeds": len(per_seed),
    "n_examples": num.shape[1],
    **resampling.record(),
    "method": "percentile bootstrap: seeds, then test examples (shared by the seeds)",
    "degenerate": bool(np.ptp(replicates) == 0),
  }
  if result["degenerate"]:  # e.g. every example right in every seed: no variation to resample
    text = f"{result['estimate']:.3f} in every resample ({len(per_seed)} seeds x {num.shape[1]} "
    return {**result, "text": text + "examples)"}
  return {**result, "text": format_interval(result)}


def paired_difference(
  a_by_seed: Sequence[Outcomes | Columns],
  b_by_seed: Sequence[Outcomes | Columns],
  metric: str | RatioMetric,
  resampling: Resampling = DEFAULT_RESAMPLING,
) -> dict:
  """The difference A - B of a metric between two groups scored on the same test examples: its
  percentile interval and a two-sided p-value, from one two-level bootstrap.

  Each replicate draws one resample of the test examples, shared by both groups (paired by
  example id, Koehn 2004), and draws each group's seeds with replacement within the group (the
  seeds of A and B are not paired). The p-value is the bootstrap test of the shifted
  distribution (Efron & Tibshirani 1993, Sec. 16.4; Berg-Kirkpatrick et al. 2012): the replicates
  centred on the observed difference d approximate the difference's distribution under "no
  difference", so p = (1 + #{b : |d_b - d| >= |d|}) / (1 + n_resamples). It is never below
  1 / (1 + n_resamples), and it is exactly 1 when d = 0 (e.g. a group against itself).

  Args:
    a_by_seed: [num_seeds_a] outcomes of group A's runs (`read_outcomes`, or mappings of
      columns), all on the same example ids.
    b_by_seed: [num_seeds_b] outcomes of group B's runs, on the same example ids as A's.
    metric: a name in METRICS or a RatioMetric.
    resampling: the interval's confidence, the number of replicates, the generator's seed.

  Returns:
    {'metric', 'difference' (estimate_a - estimate_b), 'interval': [low, high], 'p_value',
    'estimate_a', 'estimate_b', 'seed_values_a', 'seed_values_b', 'n_seeds_a', 'n_seeds_b',
    'n_examples', 'confidence', 'n_resamples', 'rng_seed', 'lower_is_better', 'method',
    'text': '-0.050 [-0.061, -0.039], p < 0.001'}.
  """
  metric = metric_of(metric)
  num_a, den_a, ids = _ratio_arrays(a_by_seed, metric)
  num_b, den_b, _ = _ratio_arrays(b_by_seed, metric, ids=ids)
  n_resamples = resampling.n_resamples
  reps_a, reps_b = _replicates(
    [(num_a, den_a), (num_b, den_b)], n_resamples, resampling.generator()
  )
  seeds_a = num_a.sum(axis=1) / den_a.sum(axis=1)
  seeds_b = num_b.sum(axis=1) / den_b.sum(axis=1)
  difference = float(seeds_a.mean() - seeds_b.mean())
  replicates = reps_a - reps_b  # [n_resamples]
  extremes = np.count_nonzero(np.abs(replicates - difference) >= abs(difference))
  low, high = metric.bounds
  result = {
    "metric": metric.name,
    "difference": difference,
    "interval": _percentile_interval(replicates, resampling.confidence, (low - high, high - low)),
    "p_value": float((1 + extremes) / (1 + n_resamples)),
    "estimate_a": float(seeds_a.mean()),
    "estimate_b": float(seeds_b.mean()),
    "seed_values_a": seeds_a.tolist(),
    "seed_values_b": seeds_b.tolist(),
    "n_seeds_a": len(seeds_a),
    "n_seeds_b": len(seeds_b),
    "n_examples": len(ids),
    **resampling.record(),
    "lower_is_better": metric.lower_is_better,
    "method": "paired percentile bootstrap: seeds within each group, test examples shared; "
    "p-value of the shifted bootstrap distribution, two-sided",
  }
  return {**result, "text": format_difference(result)}


def format_p_value(p_value: float) -> str:
  """'p < 0.001' below 0.001, else 'p = 0.034' (two significant digits, at most 3 decimals)."""
  if p_value < 0.001:
    return "p < 0.001"
  return f"p = {p_value:.3f}" if p_value < 0.1 else f"p = {p_value:.2f}"


def format_interval(result: Mapping, digits: int = 3, percent: bool = False) -> str:
  """'0.298 [0.287, 0.309]' from a result with 'estimate' and 'interval' (percent: '29.8%
  [28.7, 30.9]', with `digits` - 2 decimals)."""
  scale, digits = (100, max(digits - 2, 0)) if percent else (1, digits)
  low, high = (v * scale for v in result["interval"])
  unit = "%" if percent else ""
  return f"{result['estimate'] * scale:.{digits}f}{unit} [{low:.{digits}f}, {high:.{digits}f}]"


def format_difference(
  result: Mapping,
  name_a: str | None = None,
  name_b: str | None = None,
  digits: int = 3,
  percent: bool = False,
) -> str:
  """'A - B = +0.123 [0.101, 0.145], p < 0.001' from a `paired_difference` result (without the
  names when none are given; percent: in percentage points, '+12.3 pp [10.1, 14.5]')."""
  scale, digits = (100, max(digits - 2, 0)) if percent else (1, digits)
  low, high = (v * scale for v in result["interval"])
  unit = " pp" if percent else ""
  text = (
    f"{result['difference'] * scale:+.{digits}f}{unit} [{low:.{digits}f}, {high:.{digits}f}], "
    f"{format_p_value(result['p_value'])}"
  )
  return f"{name_a} - {name_b} = {text}" if name_a is not None else text


def _ratio_arrays(
  outcomes_by_seed: Sequence[Outcomes | Columns], metric: RatioMetric, ids: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(numerator [num_seeds, num_examples], denominator [same], ids [num_examples]), every seed's
  examples in order of id; the runs (and `ids`, if given) must hold the same example ids."""
  if len(outcomes_by_seed) == 0:
    raise ValueError("no runs to summarise: need the outcomes of at least one seed")
  nums, dens = [], []
  for k, outcomes in enumerate(outcomes_by_seed):
    columns = outcomes.columns if isinstance(outcomes, Outcomes) else outcomes
    order = np.argsort(np.asarray(columns["id"]), kind="stable")
    run_ids = np.asarray(columns["id"])[order]
    if ids is None:
      ids = run_ids
    elif len(run_ids) != len(ids) or np.any(run_ids != ids):
      where = getattr(outcomes, "path", f"run {k}")
      raise ValueError(
        f"{where}: its examples are not those of the other runs "
        f"({len(run_ids)} ids against {len(ids)}); a comparison pairs the same test examples"
      )
    nums.append(np.asarray(metric.numerator(columns), dtype=np.float64)[order])
    dens.append(np.asarray(metric.denominator(columns), dtype=np.float64)[order])
  num, den = np.stack(nums), np.stack(dens)  # [num_seeds, num_examples]
  if num.shape[1] == 0 or np.any(den < 0) or np.any(den.sum(axis=1) <= 0):
    raise ValueError(f"{metric.name} is undefined here: no examples, or a zero denominator")
  return num, den, ids


def _replicates(
  groups: Sequence[tuple[np.ndarray, np.ndarray]], n_resamples: int, rng: np.random.Generator
) -> np.ndarray:
  """[num_groups, n_resamples] a group's metric in each bootstrap replicate: one resample of the
  examples shared by every group and seed, then each group's seeds drawn with replacement.

  Args:
    groups: per group, (numerator, denominator), each [num_seeds, num_examples].
    n_resamples: replicates.
    rng: the generator, advanced.
  """
  num_examples = groups[0][0].shape[1]
  sums_of = np.concatenate([np.concatenate([num, den]) for num, den in groups]).T  # [N, 2*S_all]
  chunk = max(1, _CHUNK_ELEMENTS // num_examples)
  out = np.empty((len(groups), n_resamples))
  for start in range(0, n_resamples, chunk):
    size = min(chunk, n_resamples - start)
    drawn = rng.integers(0, num_examples, size=(size, num_examples), dtype=np.int32)
    offsets = np.arange(size, dtype=np.int64)[:, None] * num_examples  # [size, 1]
    counts = np.bincount((drawn + offsets).ravel(), minlength=size * num_examples)
    sums = counts.reshape(size, num_examples).astype(np.float64) @ sums_of  # [size, 2*S_all]
    column = 0
    for g, (num, _) in enumerate(groups):
      num_seeds = num.shape[0]
      numerators = sums[:, column : column + num_seeds]  # [size, num_seeds]
      denominators = sums[:, column + num_seeds : column + 2 * num_seeds]
      with np.errstate(divide="ignore", invalid="ignore"):
        ratios = numerators / denominators  # [size, num_seeds]
      seed_counts = rng.multinomial(num_seeds, np.full(num_seeds, 1 / num_seeds), size=size)
      out[g, start : start + size] = (seed_counts * ratios).sum(axis=1) / num_seeds  # [size]
      column += 2 * num_seeds
  if not np.all(np.isfinite(out)):
    raise ValueError("a bootstrap resample has a zero denominator: too few examples to resample")
  return out


def _percentile_interval(
  replicates: np.ndarray, confidence: float, bounds: tuple[float, float]
) -> list[float]:
  """[low, high] percentiles of `replicates` ((1 -+ confidence) / 2), clipped to `bounds`."""
  low, high = np.quantile(replicates, [(1 - confidence) / 2, (1 + confidence) / 2])
  return [float(np.clip(low, *bounds)), float(np.clip(high, *bounds))]
