"""Learning curves of a sweep's runs, from their metrics.jsonl: a validation metric against
training steps, seconds and FLOPs, and what it cost each group to reach a level of quality.

    curve = read_curve(workdir, "exact_match")          # every evaluation of the run
    cost_to(curve, 0.95, "exact_match")                 # {'step', 'seconds', 'flops'} or None

The trainer logs `eval/<metric>` at every evaluation, and cumulative `train/seconds` (training
steps only: no evaluation, checkpointing or compilation), `train/flops` (the analytic FLOP model of
models/flops.py over the real tokens seen) and `train/tgt_tokens` in its records. A group's curve
is the mean over its seeds at each evaluation step (a seed that stopped early drops out after its
last evaluation), with the band from the lowest to the highest seed: with three seeds, the
range says more than an interval. Sample efficiency ("steps to 0.95") is kept apart from final
quality: a group that gets there later may still end higher.
"""

import dataclasses
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from attn_seq2seq.metrics import LOWER_IS_BETTER, plots
from attn_seq2seq.run_files import METRICS_FILE

COST_FIELDS = {"seconds": "train/seconds", "flops": "train/flops", "tgt_tokens": "train/tgt_tokens"}
X_AXES = {
  "step": "training steps",
  "seconds": "training seconds",
  "flops": "training FLOPs",
}


@dataclasses.dataclass(frozen=True)
class Curve:
  """One run's evaluations: `[evaluations]` arrays, in step order (NaN where not logged)."""

  step: np.ndarray
  seconds: np.ndarray
  flops: np.ndarray
  tgt_tokens: np.ndarray
  value: np.ndarray


def read_curve(workdir: str | Path, metric: str, split: str = "validation") -> Curve | None:
  """The run's `eval/<metric>` at every evaluation of `split` (validation: the `eval/` prefix;
  another split: `<split>/`), with the cumulative cost logged at that step; None without any."""
  prefix = "eval" if split == "validation" else split
  path = Path(workdir) / METRICS_FILE
  if not path.exists():
    return None
  latest_cost, rows = {}, {}
  for line in path.read_text().splitlines():
    try:
      record = json.loads(line)
    except ValueError:  # a half-written last line (the trainer drops it on resume)
      continue
    for name, field in COST_FIELDS.items():
      if record.get(field) is not None:
        latest_cost[name] = record[field]
    value = record.get(f"{prefix}/{metric}")
    if value is not None:
      rows[record["step"]] = (
        record["step"],
        *(latest_cost.get(n, math.nan) for n in COST_FIELDS),
        value,
      )
  if not rows:
    return None
  columns = np.array([rows[step] for step in sorted(rows)], np.float64).T
  return Curve(*columns)


def cost_to(curve: Curve, level: float, metric: str) -> dict | None:
  """{'step', 'seconds', 'flops', 'tgt_tokens'} at the first evaluation whose value reaches
  `level` (at least it, or at most it for LOWER_IS_BETTER), or None if none does."""
  reached = curve.value <= level if metric in LOWER_IS_BETTER else curve.value >= level
  if not reached.any():
    return None
  i = int(np.argmax(reached))
  return {
    "step": int(curve.step[i]),
    **{name: _number(getattr(curve, name)[i]) for name in COST_FIELDS},
  }


def group_curve(curves: Sequence[Curve], x: str = "step") -> dict:
  """The mean curve of a group's runs: at every evaluation step any run reached, the mean, lowest
  and highest value over the runs that have it, against the mean `x` ('step', 'seconds',
  'flops') of those runs there. Returns {'x', 'mean', 'low', 'high', 'n'} lists."""
  steps = sorted({int(s) for c in curves for s in c.step})
  out = {"x": [], "mean": [], "low": [], "high": [], "n": []}
  for step in steps:
    at = [
      (getattr(c, x)[c.step == step][0], c.value[c.step == step][0])
      for c in curves
      if step in c.step
    ]
    xs, values = np.array(at).T
    out["x"].append(float(np.mean(xs)))
    out["mean"].append(float(np.mean(values)))
    out["low"].append(float(np.min(values)))
    out["high"].append(float(np.max(values)))
    out["n"].append(len(at))
  return out


def plot_group_curves(
  groups: dict[str, Sequence[Curve]],
  path: str | Path,
  metric: str,
  x: str = "step",
  bounds: tuple[float, float] | None = (0.0, 1.0),
) -> Path | None:
  """One line per group (the mean over its seeds) in a band from its lowest to its highest seed,
  clipped to the metric's `bounds`, against `x`; groups without cost records of `x` are left
  out (None, and no file, if that is every group)."""
  lines, bands = {}, {}
  for label, curves in groups.items():
    curve = group_curve(curves, x)
    keep = [i for i, value in enumerate(curve["x"]) if math.isfinite(value)]
    if not keep:
      continue
    clip = (lambda v: np.clip(v, *bounds)) if bounds else np.asarray
    lines[label] = [curve["x"][i] for i in keep], [curve["mean"][i] for i in keep]
    bands[label] = tuple(clip([curve[b][i] for i in keep]).tolist() for b in ("low", "high"))
  if not lines:
    return None
  name = metric.replace("_", " ")
  return plots.plot_metric_vs_length(
    lines,
    path,
    f"validation {name}",
    xlabel=X_AXES[x],
    bands=bands,
    title=f"validation {name} during training\n(mean over seeds; band: lowest to highest seed)",
  )


def _number(value: float) -> float | None:
  return float(value) if math.isfinite(value) else None
