"""What the sweep files' `findings(summary)` functions say, built from the numbers: each helper
returns a phrase whose numbers come from the summary (and so from summary.json), in the words a
reviewer expects: an arm's value with its interval, a difference with its interval and p-value
and whether it separates the arms, how the runs stopped.

    findings.value(group, "test", "exact_match")     # '0.998 [0.996, 0.999]', '3/3 seeds at ...'
    findings.compared(summary, a, b, "test", "exact_match", "attention", "fixed_init")
    # 'attention - fixed_init = +0.712 [0.690, 0.733], p < 0.001 (separated)'
    findings.diagnosis(group, "luong")   # why test_long fails: early stops, alignment, ablation
    findings.trained_to_best(summary, arms, "wer", "...")   # how each arm stopped, caps, grids
"""

from attn_seq2seq.metrics import LOWER_IS_BETTER
from attn_seq2seq.sweeps import curves, selection, statistics
from attn_seq2seq.sweeps.summary import Group, Summary

SIGNIFICANCE = 0.05  # a difference is 'separated' when p < this and its interval excludes 0


def value(group: Group, split: str, metric: str) -> str:
  """The group's value of `metric` on `split` with its uncertainty (summary.Group.stats)."""
  stats = group.stats(split, metric)
  return "–" if stats is None else stats["text"]


def mean(group: Group, split: str, metric: str) -> float | None:
  stats = group.stats(split, metric)
  return None if stats is None else stats["mean"]


def separated(difference: dict | None) -> bool:
  """Whether a paired difference separates its arms: p < SIGNIFICANCE and 0 outside its
  interval."""
  if difference is None:
    return False
  low, high = difference["interval"]
  return difference["p_value"] < SIGNIFICANCE and (low > 0 or high < 0)


def compared(
  summary: Summary, a: Group, b: Group, split: str, metric: str, name_a: str, name_b: str
) -> str:
  """'A - B = +0.123 [0.101, 0.145], p < 0.001 (separated)': the paired difference (recorded in
  summary.json), or the difference of the seed means when the runs wrote no outcomes."""
  difference = summary.difference(a, b, split, metric)
  if difference is None:
    mean_a, mean_b = mean(a, split, metric), mean(b, split, metric)
    if mean_a is None or mean_b is None:
      return f"{name_a} - {name_b}: not measured"
    return f"{name_a} - {name_b} = {mean_a - mean_b:+.3f} (seed means; no per-example outcomes)"
  verdict = "separated" if separated(difference) else "not separated"
  return f"{statistics.format_difference(difference, name_a, name_b)} ({verdict})"


def stops(group: Group) -> str:
  """'3/3 stopped early (steps 2,500-4,000)' / '2/3 reached the cap of 8,000 steps'."""
  runs = [r.results for r in group.runs]
  early = [r.results for r in group.runs if r.stopped == "early"]
  capped = [r.results for r in group.runs if r.stopped == "cap"]
  parts = []
  if early:
    steps = sorted(r["last_step"] for r in early)
    span = f"{steps[0]:,}" if steps[0] == steps[-1] else f"{steps[0]:,}-{steps[-1]:,}"
    parts.append(f"{len(early)}/{len(runs)} stopped early (at steps {span})")
  if capped:
    cap = group.runs[0].config.get("num_train_steps")
    cap = "the cap" if cap is None else f"the cap of {cap:,} steps"
    parts.append(f"{len(capped)}/{len(runs)} reached {cap}")
  return " and ".join(parts) or "stopping not recorded"


def still_improving(group: Group, metric: str, window: int = 3, by: float = 0.01) -> int:
  """How many of the group's runs that reached the cap were still improving at it: validation
  `metric` at the last evaluation better by more than `by` than `window` evaluations earlier."""
  count = 0
  for run in group.runs:
    if run.stopped != "cap":
      continue
    curve = curves.read_curve(run.workdir, metric)
    if curve is None or len(curve.value) <= window:
      continue
    gain = curve.value[-1] - curve.value[-1 - window]
    lower = metric in LOWER_IS_BETTER
    count += bool((-gain if lower else gain) > by)
  return count


def grid_edge(summary: Summary, group: Group) -> str:
  """', its learning rate 0.003 the grid's largest (a wider grid could still improve it)' when
  the group's tuned value sits at an edge of its grid, else ''."""
  run_names = {r.name for r in group.runs}
  for tuned in summary.tuning:
    if tuned["chosen"]["run"] in run_names and selection.at_grid_edge(tuned):
      values = [c["value"] for c in tuned["candidates"]]
      chosen = tuned["chosen"]["value"]
      side = "largest" if chosen == max(values) else "smallest"
      field = tuned["field"].replace("_", " ")
      return f", its {field} {chosen:g} the grid's {side} (a wider grid could still improve it)"
  return ""


def trained_to_best(summary: Summary, arms: dict[str, Group], metric: str, capped: str) -> str:
  """'**Trained to their own best?** ... arm: 3/3 reached the cap of 8,000 steps, 2 of them still
  improving at the cap (CAPPED), its learning rate 0.003 the grid's largest (...); ...': how
  every arm stopped, and which were cut by the cap or the grid (`capped` says what that means)."""
  parts = []
  for name, group in arms.items():
    improving = still_improving(group, metric)
    note = f", {improving} of them still improving at the cap ({capped})" if improving else ""
    parts.append(f"{name}: {stops(group)}{note}{grid_edge(summary, group)}")
  return (
    "**Trained to their own best?** Each arm's learning rate was chosen on validation, and each "
    f"run trained until validation {metric.replace('_', ' ')} stopped improving or hit the cap: "
    + "; ".join(parts)
    + ". The learning curves below show each arm's progress against steps and seconds.\n"
  )


def diagnosis(group: Group, name: str, split: str = "test_long") -> str | None:
  """Why an attention arm fails on `split` (the report's diagnostics section, in words): the share
  of outputs shorter than their source, whether oracle-length decoding helps, where its gold
  attention mass goes from test to `split`, and its exact match with uniform attention; None
  where the run did not measure these."""
  exact = mean(group, split, "exact_match")
  oracle = mean(group, f"{split}/oracle_length", "exact_match")
  mass = mean(group, split, "gold_attention_mass")
  mass_in = mean(group, "test", "gold_attention_mass")
  uniform = mean(group, f"{split}/ablation_uniform", "exact_match")
  found = group.outcomes(split)
  shorter = (
    sum(float((o.columns["hyp_length"] < o.columns["src_length"]).mean()) for o in found)
    / len(found)
    if found
    else None
  )
  if None in (exact, oracle, mass, mass_in, shorter):
    return None
  cause = (
    "outputs stop early: with EOS suppressed until the source length, exact match rises from "
    f"{exact:.3f} to {oracle:.3f}"
    if oracle > exact + 0.05
    else f"stopping early is not the cause (oracle lengths: {oracle:.3f} against {exact:.3f})"
  )
  return (
    f"{name}: {shorter:.0%} of its {split} outputs are shorter than their source; {cause}; "
    f"its gold attention mass falls from {mass_in:.3f} (test) to {mass:.3f} ({split})"
    + (f"; with uniform attention it scores {uniform:.3f}." if uniform is not None else ".")
  )
