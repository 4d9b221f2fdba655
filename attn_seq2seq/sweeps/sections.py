"""The sections of a published report beyond its result tables, each returned as Markdown lines
and the record of every number it prints (which `report.py` stores in summary.json):

  training_section      was every arm trained to its own best? stop reasons and steps, learning
                        curves against steps and seconds, the cost to reach each level
  compute_section       quality against training FLOPs, one point per run
  tuning_section        each arm's grid, the trials' validation scores and the value chosen
  diagnostics_section   why a split fails: length, alignment, oracle lengths, attention ablations
"""

import math
import statistics as py_statistics
from pathlib import Path

import numpy as np

from attn_seq2seq.metrics import LOWER_IS_BETTER, plots
from attn_seq2seq.sweeps import curves, selection
from attn_seq2seq.sweeps.summary import Group, Summary

ABLATIONS = ("uniform", "shuffled", "zero_context")


def training_section(summary: Summary, out: Path, metric: str, levels) -> tuple[list[str], dict]:
  """Per arm: the learning rate chosen, how its runs stopped (early stopping or the cap), the
  steps and seconds they trained; curves of validation `metric`; the cost to reach `levels`."""
  arms = summary.arms
  run_curves = {
    summary.label(g): [curves.read_curve(r.workdir, metric) for r in g.runs] for g in arms
  }
  run_curves = {k: [c for c in v if c is not None] for k, v in run_curves.items()}
  files = []
  for x in ("step", "seconds"):
    name = f"learning_curve_{metric}_{x}.png"
    if curves.plot_group_curves({k: v for k, v in run_curves.items() if v}, out / name, metric, x):
      files.append(name)
  rows, record = [], {}
  for group in arms:
    label = summary.label(group)
    stops = _stops(group)
    costs = {
      str(level): [curves.cost_to(c, level, metric) for c in run_curves[label]] for level in levels
    }
    record[label] = {"stops": stops, "cost_to": costs}
    rows.append(_training_row(label, group, stops, costs, levels))
  header = ["arm", "learning rate", "stopped", "selected step", "trained steps", "train time"]
  header += [f"steps to {level:g}" for level in levels]
  header += [f"seconds to {level:g}" for level in levels]
  lines = [
    f"Each run trained until validation {metric} stopped improving (early stopping) or reached "
    "the cap; the checkpoint with the best validation score is the one evaluated. "
    f"'steps to X': the first evaluation at which validation {metric} reached X (median over "
    "the seeds that did, and how many did); sample efficiency, kept apart from final quality.",
    "",
    *_table(header, rows),
    "",
    *[f"![{name}]({name})" for name in files],
    "",
  ]
  return lines, {"arms": record, "plots": files}


def _stops(group: Group) -> dict:
  results = [r.results for r in group.runs]
  return {
    "early_stopping": sum(r.stopped == "early" for r in group.runs),
    "num_train_steps": sum(r.stopped == "cap" for r in group.runs),
    "cap": group.runs[0].config.get("num_train_steps"),
    "learning_rate": sorted({r.config.get("learning_rate") for r in group.runs}),
    "selected_step": [r.get("step") for r in results],
    "last_step": [r.get("last_step") for r in results],
    "train_seconds": [r.get("train_seconds") for r in results],
    "flops": [r.get("flops") for r in results],
  }


def _training_row(label: str, group: Group, stops: dict, costs: dict, levels) -> list[str]:
  n = len(group.runs)
  cap = "" if stops["cap"] is None else f" ({stops['cap']:,})"
  stopped = f"{stops['early_stopping']}/{n} early" + (
    f", {stops['num_train_steps']}/{n} at the cap{cap}" if stops["num_train_steps"] else ""
  )
  row = [
    label,
    ", ".join(f"{lr:g}" for lr in stops["learning_rate"] if lr is not None),
    stopped,
    _spread(stops["selected_step"]),
    _spread(stops["last_step"]),
    _spread(stops["train_seconds"], "{:.0f} s"),
  ]
  for field in ("step", "seconds"):
    for level in levels:
      reached = [c[field] for c in costs[str(level)] if c is not None and c[field] is not None]
      fmt = "{:,.0f}" if field == "step" else "{:.0f} s"
      row.append(
        f"{fmt.format(py_statistics.median(reached))} ({len(reached)}/{n})"
        if reached
        else f"– (0/{n})"
      )
  return row


def compute_section(summary: Summary, out: Path, split: str, metric: str) -> tuple[list[str], dict]:
  """`metric` on `split` against each run's training FLOPs (log scale), a point per run."""
  points = {}
  for group in summary.arms:
    pairs = sorted(
      (r.results["flops"], v)
      for r in group.runs
      if r.results.get("flops") and (v := r.value(split, metric)) is not None
    )
    if pairs:
      points[summary.label(group)] = pairs
  if not points:
    return [], {}
  name = f"{metric}_vs_training_flops_{split}.png"
  plots.plot_points(
    {k: ([x for x, _ in v], [y for _, y in v]) for k, v in points.items()},
    out / name,
    xlabel="training FLOPs (analytic count, log scale)",
    ylabel=f"{split} {metric.replace('_', ' ')}",
    title=f"{split} {metric.replace('_', ' ')} against training compute (one point per run)",
    log_x=True,
  )
  lines = [
    "The parameter counts are matched; the compute is not. Each point is one run: its test score "
    "against the FLOPs it trained for (the analytic count of models/flops.py over the real tokens "
    "it saw, up to its last step), so equal-compute comparisons can be read off the plot.",
    "",
    f"![{name}]({name})",
    "",
  ]
  return lines, {"points": points, "plot": name}


def tuning_section(summary: Summary) -> tuple[list[str], dict]:
  """Each tuned arm's grid: every trial's value and validation score, and the value chosen."""
  if not summary.tuning:
    return [], {}
  rows, at_edge = [], []
  for tuned in summary.tuning:
    arm = summary.label(summary.group_of(tuned["chosen"]["run"]))
    trials = ", ".join(
      f"{c['value']:g}: {c['score']:.4f}"
      + (" (chosen)" if c["run"] == tuned["chosen"]["run"] else "")
      for c in tuned["candidates"]
    )
    rows.append([arm, tuned["field"], f"{tuned['split']} {tuned['metric']}", trials])
    if selection.at_grid_edge(tuned):
      at_edge.append(f"{arm} ({tuned['field']} {tuned['chosen']['value']:g})")
  lines = [
    "Every arm had the same tuning budget: one trial per value of the grid (seed 0), the value "
    "chosen on the validation split (never on test), then the other seeds trained at it; the "
    "trial at the chosen value is the arm's seed 0.",
    "",
    *_table(["arm", "field", "chosen on", "value: validation score of its trial"], rows),
    "",
  ]
  if at_edge:
    lines += [
      f"Chosen at the edge of the grid: {', '.join(at_edge)}. The grid does not bracket these "
      "arms' best value, so a wider grid could still improve them.",
      "",
    ]
  return lines, {"tuning": summary.tuning, "at_grid_edge": at_edge}


def diagnostics_section(summary: Summary, out: Path, split: str) -> tuple[list[str], dict]:
  """Why `split` fails, per arm: exact match and token edit rate, where the attention goes (gold
  attention mass, alignment error rate), whether outputs stop early (hypothesis minus source
  length, the share shorter than their source, exact match with oracle lengths), and how much
  the model relies on its attention (the same split with uniform or shuffled weights or no
  context)."""
  rows, record, lengths = [], {}, {}
  for group in summary.arms:
    label = summary.label(group)
    entry = _diagnose(group, split)
    record[label] = entry
    if entry["length_by_source"]:
      lengths[label] = entry["length_by_source"]
    rows.append(
      [label]
      + [_mean_text(entry[k]) for k in ("exact_match", "token_accuracy", "edit_rate")]
      + [_mean_text(entry[k]) for k in ("gold_attention_mass", "alignment_error_rate")]
      + [_mean_text(entry["length_gap"], "{:+.2f}"), _mean_text(entry["shorter"])]
      + [_mean_text(entry["oracle_exact_match"])]
      + [_mean_text(entry["ablations"].get(a)) for a in ABLATIONS]
    )
  header = ["arm", "exact", "token acc.", "edit rate", "gold attn mass", "AER"]
  header += ["hyp - src length", "shorter than src", "exact, oracle length"]
  header += [f"exact, {a.replace('_', ' ')}" for a in ABLATIONS]
  files = _length_plot(lengths, out, split)
  lines = [
    f"Each cell is the mean over the arm's seeds on {split}. Token accuracy compares position by "
    "position (one missing token shifts everything after it); the edit rate is token edits over "
    "reference tokens. Gold attention mass: the attention weight on the source position the "
    "output token copies; AER: the alignment error rate of the argmax links. 'Oracle length': "
    "decoded with EOS suppressed until the output is as long as the source. The last three "
    "columns decode with the attention replaced at every step (uniform over the source, the "
    "model's weights shuffled over positions, or no context at all): how much the model relies "
    "on its attention. '–': not measured (fixed-vector decoders have no attention).",
    "",
    *_table(header, rows),
    "",
    *[f"![{name}]({name})" for name in files],
    "",
  ]
  return lines, {"split": split, "arms": record, "plots": files}


def _diagnose(group: Group, split: str) -> dict:
  mean = lambda key, metric: _mean(group.values(key, metric), len(group.runs))
  found = group.outcomes(split)
  gaps, shorter, by_source = None, None, None
  if found:
    gaps = [float(np.mean(o.columns["hyp_length"] - o.columns["src_length"])) for o in found]
    shorter = [float(np.mean(o.columns["hyp_length"] < o.columns["src_length"])) for o in found]
    by_source = _length_by_source(found)
  return {
    "exact_match": mean(split, "exact_match"),
    "token_accuracy": mean(split, "token_accuracy"),
    "edit_rate": _mean(
      [float(o.columns["edit_distance"].sum() / o.columns["ref_length"].sum()) for o in found]
      if found
      else [],
      len(group.runs),
    ),
    "gold_attention_mass": mean(split, "gold_attention_mass"),
    "alignment_error_rate": mean(split, "alignment_error_rate"),
    "length_gap": _mean(gaps or [], len(group.runs)),
    "shorter": _mean(shorter or [], len(group.runs)),
    "oracle_exact_match": mean(f"{split}/oracle_length", "exact_match"),
    "ablations": {a: mean(f"{split}/ablation_{a}", "exact_match") for a in ABLATIONS},
    "length_by_source": by_source,
  }


def _length_by_source(found) -> dict:
  """Source length -> mean hypothesis length over the seeds' outputs."""
  src = np.concatenate([o.columns["src_length"] for o in found])
  hyp = np.concatenate([o.columns["hyp_length"] for o in found])
  return {int(n): float(hyp[src == n].mean()) for n in np.unique(src)}


def _length_plot(lengths: dict, out: Path, split: str) -> list[str]:
  if not lengths:
    return []
  name = f"hypothesis_length_{split}.png"
  sources = sorted({n for v in lengths.values() for n in v})
  curves = {"source length (a perfect output)": (sources, [float(n) for n in sources])}
  curves.update({k: (list(v), list(v.values())) for k, v in lengths.items()})
  plots.plot_metric_vs_length(
    curves,
    out / name,
    "mean hypothesis length (tokens)",
    title=f"{split}: output length against source length (mean over seeds)",
  )
  return [name]


def _mean(values: list, n: int) -> dict | None:
  """{'mean', 'values'} when every one of the `n` runs has a value, else None."""
  values = [float(v) for v in values if v is not None and math.isfinite(v)]
  return {"mean": float(np.mean(values)), "values": values} if values and len(values) == n else None


def _mean_text(entry: dict | None, fmt: str = "{:.3f}") -> str:
  return "–" if entry is None else fmt.format(entry["mean"])


def _spread(values: list, fmt: str = "{:,}") -> str:
  """'2,500' when every seed has the same value, else 'min–max'."""
  values = [v for v in values if v is not None]
  if not values:
    return "–"
  low, high = min(values), max(values)
  return fmt.format(low) if low == high else f"{fmt.format(low)}–{fmt.format(high)}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
  align = ["---"] + ["---:"] * (len(header) - 1)
  return ["| " + " | ".join(row) + " |" for row in (header, align, *rows)]


def better(metric: str) -> str:
  """'lower' or 'higher': which way `metric` improves."""
  return "lower" if metric in LOWER_IS_BETTER else "higher"
