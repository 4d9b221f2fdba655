"""The report of a sweep: one table row per group of seeds, and metric-versus-length plots.
`scripts/summarize.py` is the command line:

    python scripts/summarize.py --root=runs/attention_vs_fixed [--metric=exact_match] [--split=test]

Reads ROOT/<run>/config.json and results.json (see `train.train_and_evaluate`). Runs whose configs
differ only in `seed` (and in `data.data_dir`, where the data happen to live) form a group. A
group's row gives the config fields that vary across the root (e.g. `decoder`, `hidden_size`), its
number of seeds, its parameter count, and the mean ± sample standard deviation over seeds of the
metric on every evaluation split of the task (e.g. test, test_long); rows are ranked by the mean
on `split`, best first. The plots draw the metric against source length, one line per group
(mean over seeds), one PNG per evaluation split: Bahdanau et al. 2015, Fig. 2.

A run directory without results.json, or a run of ROOT/sweep.json without a directory, is listed
as unfinished rather than dropped.
"""

import collections
import dataclasses
import json
from pathlib import Path

import numpy as np

from attn_seq2seq import plots
from attn_seq2seq.metrics.buckets import parse_bucket_label
from attn_seq2seq.sweep import RESULTS_FILE, SWEEP_FILE

CONFIG_FILE = "config.json"
IGNORED_FIELDS = ("seed", "data.data_dir")  # not part of what a group is
LOWER_IS_BETTER = ("loss", "perplexity", "wer", "per", "alignment_error_rate")


@dataclasses.dataclass(frozen=True)
class RunResult:
  """One finished run: `config` flattened to dotted keys ('model.decoder' -> 'luong')."""

  name: str
  config: dict
  num_params: int
  eval_splits: tuple[str, ...]
  results: dict  # results.json: split -> flat metrics


@dataclasses.dataclass(frozen=True)
class Group:
  """Runs that differ only in seed; `fields` holds their values of the root's varied fields."""

  fields: dict
  runs: list[RunResult]

  def stats(self, split: str, metric: str) -> dict | None:
    """{'mean', 'std' (sample std; None for one seed), 'n', 'values'}, or None without values."""
    values = [r.results[split][metric] for r in self.runs if metric in r.results.get(split, {})]
    if not values:
      return None
    std = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return {"mean": float(np.mean(values)), "std": std, "n": len(values), "values": values}


def load_runs(root: str | Path) -> tuple[list[RunResult], list[str]]:
  """(finished runs, names of unfinished runs) of a sweep root."""
  root = Path(root)
  names = {p.name for p in root.iterdir()
           if p.is_dir() and ((p / CONFIG_FILE).exists() or (p / RESULTS_FILE).exists())}
  if (root / SWEEP_FILE).exists():
    names |= {run["name"] for run in json.loads((root / SWEEP_FILE).read_text())["runs"]}
  finished, unfinished = [], []
  for name in sorted(names):
    workdir = root / name
    if not ((workdir / RESULTS_FILE).exists() and (workdir / CONFIG_FILE).exists()):
      unfinished.append(name)
      continue
    record = json.loads((workdir / CONFIG_FILE).read_text())
    finished.append(RunResult(name, _flatten(record["config"]), record["num_params"],
                              tuple(record["task"]["eval_splits"]),
                              json.loads((workdir / RESULTS_FILE).read_text())))
  return finished, unfinished


def group_runs(runs: list[RunResult]) -> tuple[list[str], list[Group]]:
  """(varied fields, groups): the config fields whose values differ between runs (seed and
  IGNORED_FIELDS aside), and the runs grouped by their values of those fields."""
  keys = sorted({key for run in runs for key in run.config} - set(IGNORED_FIELDS))
  varied = [k for k in keys if len({json.dumps(run.config.get(k)) for run in runs}) > 1]
  groups = collections.defaultdict(list)
  for run in runs:
    groups[tuple(json.dumps(run.config.get(k)) for k in varied)].append(run)
  return varied, [Group({k: members[0].config.get(k) for k in varied}, members)
                  for members in groups.values()]


def summarize(root: str | Path, metric: str = "exact_match", split: str = "test",
              out: str | Path | None = None) -> str:
  """Writes summary.md, summary.json and one `<metric>_vs_length_<split>.png` per evaluation
  split into `out` (default: ROOT); returns the Markdown. Unknown metric or split: ValueError."""
  root, out = Path(root), Path(out or root)
  runs, unfinished = load_runs(root)
  varied, groups = group_runs(runs)
  splits = list(dict.fromkeys(s for run in runs for s in run.eval_splits))
  if runs:
    _check_choice("split", split, splits)
    _check_choice("metric", metric, sorted({k for run in runs for s in splits
                                            for k in run.results.get(s, {}) if "/" not in k}))
  groups = rank(groups, split, metric)
  out.mkdir(parents=True, exist_ok=True)
  names = _short_names(varied)
  written = [path.name for path in plot_length_curves(groups, names, splits, metric, out)]

  lines = [f"# {root}: {metric}", "",
           f"{len(groups)} group(s) of {len(runs)} finished run(s), ranked by {split}; "
           "mean ± sample std over seeds.", ""]
  if groups:
    lines += _table(groups, varied, names, splits, metric) + [""]
  if unfinished:
    lines += [f"Unfinished (no results.json): {', '.join(unfinished)}", ""]
  if written:
    lines += ["Plots: " + ", ".join(written), ""]
  markdown = "\n".join(lines)
  (out / "summary.md").write_text(markdown)
  record = {
      "root": str(root), "metric": metric, "split": split, "varied_fields": varied,
      "groups": [{"fields": g.fields, "runs": [r.name for r in g.runs],
                  "seeds": [r.config.get("seed") for r in g.runs],
                  "num_params": g.runs[0].num_params,
                  "metrics": {s: g.stats(s, metric) for s in splits}} for g in groups],
      "unfinished": unfinished, "plots": written,
  }
  (out / "summary.json").write_text(json.dumps(record, indent=2) + "\n")
  return markdown


def rank(groups: list[Group], split: str, metric: str) -> list[Group]:
  """Best mean of `metric` on `split` first (lowest for LOWER_IS_BETTER); groups without it last."""
  sign = 1 if metric in LOWER_IS_BETTER else -1

  def key(group: Group) -> float:
    stats = group.stats(split, metric)
    return np.inf if stats is None else sign * stats["mean"]

  return sorted(groups, key=key)


def plot_length_curves(groups: list[Group], names: dict[str, str], splits: list[str], metric: str,
                       out: Path) -> list[Path]:
  """One `<metric>_vs_length_<split>.png` per split with per-length values: a line per group."""
  written = []
  for split in splits:
    curves = {_label(group, names): curve for group in groups
              if (curve := _mean_length_curve(group, split, metric))}
    if curves:
      name = metric.replace("_", " ")
      written.append(plots.plot_metric_vs_length(
          curves, out / f"{metric}_vs_length_{split}.png", name,
          title=f"{split}: {name} by source length, mean over seeds"))
  return written


def _table(groups, varied, names, splits, metric) -> list[str]:
  header = [names[k] for k in varied] + ["seeds", "params"] + [f"{s} {metric}" for s in splits]
  rows = [[_format(g.fields[k]) for k in varied] + [str(len(g.runs)), f"{g.runs[0].num_params:,}"]
          + [_mean_std(g.stats(s, metric)) for s in splits] for g in groups]
  align = ["---"] * len(varied) + ["---:"] * (len(header) - len(varied))
  return ["| " + " | ".join(row) + " |" for row in (header, align, *rows)]


def _mean_length_curve(group: Group, split: str, metric: str) -> tuple[list, list] | None:
  """(bucket labels, mean over the group's runs), or None if no run has per-length values."""
  values = collections.defaultdict(list)
  for run in group.runs:
    try:
      labels, ys = plots.length_curve(run.results.get(split, {}), metric)
    except ValueError:  # this run has no per-length values of `metric` on `split`
      continue
    for label, y in zip(labels, ys):
      values[label].append(y)
  if not values:
    return None
  labels = sorted(values, key=lambda label: parse_bucket_label(label)[0])
  return labels, [float(np.mean(values[label])) for label in labels]


def _flatten(tree: dict, prefix: str = "") -> dict:
  flat = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      flat.update(_flatten(value, f"{prefix}{key}."))
    else:
      flat[f"{prefix}{key}"] = value
  return flat


def _short_names(keys: list[str]) -> dict[str, str]:
  """'model.decoder' -> 'decoder', unless another varied key has the same last part."""
  last = collections.Counter(k.rsplit(".", 1)[-1] for k in keys)
  return {k: k.rsplit(".", 1)[-1] if last[k.rsplit(".", 1)[-1]] == 1 else k for k in keys}


def _label(group: Group, names: dict[str, str]) -> str:
  fields = ", ".join(f"{names[k]}={_format(v)}" for k, v in group.fields.items())
  return fields or f"mean of {len(group.runs)} run(s)"


def _mean_std(stats: dict | None) -> str:
  if stats is None:
    return "–"
  return f"{stats['mean']:.4f}" + ("" if stats["std"] is None else f" ± {stats['std']:.4f}")


def _format(value) -> str:
  return json.dumps(value) if isinstance(value, (list, dict, bool)) or value is None else str(value)


def _check_choice(kind: str, value: str, valid: list[str]) -> None:
  if value not in valid:
    raise ValueError(f"no {kind} {value!r} in the results; valid: {', '.join(valid)}")
