"""The results of a sweep grouped by seeds: one table row per group (mean ± std, 95% t-interval)
and metric-versus-length plots; `report.py` builds on it. `scripts/summarize.py` is the command
line:

    python scripts/summarize.py --root=runs/attention_vs_fixed [--metric=exact_match] [--split=test]

Reads ROOT/<run>/config.json and results.json (see `train.train_and_evaluate`). Runs whose configs
differ only in `seed` (and in `data.data_dir`, where the data happen to live) form a group. A
group's row gives the config fields that vary across the root (e.g. `decoder`, `hidden_size`), its
number of seeds, its parameter count, and the mean ± sample standard deviation over seeds of the
metric on every evaluation split of the task (e.g. test, test_long), with a 95% confidence
interval for the mean (Student's t with n - 1 degrees of freedom: mean ± t * std / sqrt(n));
rows are ranked by the mean on `split`, best first. The plots draw the metric against source
length, one line per group (mean over seeds) in a band of the same interval, one PNG per
evaluation split: Bahdanau et al. 2015, Fig. 2.

A stacked run (several seeds trained as one program) keeps each member in
`ROOT/<run>/members/<member>/`, laid out like a run of its own: each member is read as one run.
A run directory without final results (results.json with its `step`, as `sweep.is_finished`
reads it), or a run of ROOT/sweep.json without a directory, is listed as unfinished rather than
dropped.
"""

import collections
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import stats as scipy_stats

from attn_seq2seq.choices import check_choice
from attn_seq2seq.errors import UserError
from attn_seq2seq.metrics import LOWER_IS_BETTER, plots
from attn_seq2seq.metrics.by_length import parse_bucket_label
from attn_seq2seq.run_files import CONFIG_FILE, MEMBERS_DIR, RESULTS_FILE
from attn_seq2seq.sweeps.sweep import is_finished, read_sweep_json
from attn_seq2seq.training import workdir as workdir_lib

# Not part of what a group is: the seed mechanism (a stack's members record their shared data
# order; solo runs follow their seed) and where the data happen to live.
IGNORED_FIELDS = ("seed", "seeds", "data_order_seed", "data.data_dir")
CONFIDENCE = 0.95  # of the t-intervals over seeds


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
    """`describe` of the runs' values of `metric` on `split`, or None if no run has it."""
    values = [r.results[split][metric] for r in self.runs if metric in r.results.get(split, {})]
    return describe(values) if values else None


def describe(values: list[float]) -> dict:
  """{'mean', 'std' (sample std), 'ci95' ([low, high]: Student's t interval of the mean), 'n',
  'values'}; std and ci95 are None for a single value."""
  n, mean = len(values), float(np.mean(values))
  if n < 2:
    return {"mean": mean, "std": None, "ci95": None, "n": n, "values": list(values)}
  std = float(np.std(values, ddof=1))
  half = float(scipy_stats.t.ppf((1 + CONFIDENCE) / 2, n - 1)) * std / np.sqrt(n)
  return {
    "mean": mean,
    "std": std,
    "ci95": [mean - half, mean + half],
    "n": n,
    "values": list(values),
  }


def load_runs(root: str | Path) -> tuple[list[RunResult], list[str]]:
  """(finished runs, names of unfinished runs) of a sweep root."""
  root = Path(root)
  names = {
    p.name
    for p in root.iterdir()
    if p.is_dir() and ((p / CONFIG_FILE).exists() or (p / RESULTS_FILE).exists())
  }
  recorded = read_sweep_json(root)
  if recorded is not None:
    names |= {run["name"] for run in recorded["runs"]}
  names = {
    f"{name}/{MEMBERS_DIR}/{member.name}" if (root / name / MEMBERS_DIR).is_dir() else name
    for name in names
    for member in _members(root / name)
  }
  finished, unfinished = [], []
  for name in sorted(names):
    workdir = root / name
    if not (is_finished(workdir) and (workdir / CONFIG_FILE).exists()):
      unfinished.append(name)
      continue
    finished.append(_read_run(name, workdir))
  return finished, unfinished


def _read_run(name: str, workdir: Path) -> RunResult:
  """One finished run's record; a damaged config.json or results.json is a one-line
  WorkdirError naming the file."""
  path = workdir / CONFIG_FILE
  record = workdir_lib.read_json(path)
  try:
    config, num_params = _flatten(record["config"]), record["num_params"]
    splits = tuple(record["task"]["eval_splits"])
  except (KeyError, TypeError) as e:
    raise workdir_lib.WorkdirError(f"cannot read {path}: no {e} in it") from None
  return RunResult(name, config, num_params, splits, workdir_lib.read_json(workdir / RESULTS_FILE))


def _members(workdir: Path) -> list[Path]:
  """The member directories of a stacked run; [workdir] itself for any other run."""
  members = workdir / MEMBERS_DIR
  return sorted(p for p in members.iterdir() if p.is_dir()) if members.is_dir() else [workdir]


def group_runs(runs: list[RunResult]) -> tuple[list[str], list[Group]]:
  """(varied fields, groups): the config fields whose values differ between runs (seed and
  IGNORED_FIELDS aside), and the runs grouped by their values of those fields."""
  keys = sorted({key for run in runs for key in run.config} - set(IGNORED_FIELDS))
  varied = [k for k in keys if len({json.dumps(run.config.get(k)) for run in runs}) > 1]
  groups = collections.defaultdict(list)
  for run in runs:
    groups[tuple(json.dumps(run.config.get(k)) for k in varied)].append(run)
  return varied, [
    Group({k: members[0].config.get(k) for k in varied}, members) for members in groups.values()
  ]


@dataclasses.dataclass(frozen=True)
class Summary:
  """A sweep root read and grouped: what `summarize` and `report` write out."""

  root: Path
  metrics: tuple[str, ...]  # the first ranks the groups
  split: str  # the evaluation split that ranks the groups
  splits: tuple[str, ...]  # evaluation splits of the task, e.g. ('test', 'test_long')
  varied: list[str]  # config fields that differ between groups
  names: dict[str, str]  # varied field -> short column name
  groups: list[Group]  # ranked, best first
  num_runs: int
  unfinished: list[str]

  def label(self, group: Group) -> str:
    """'decoder=luong, hidden_size=75': the group's values of the varied fields, leaving out a
    field that always equals a later one (e.g. attention_size, when it follows hidden_size)."""
    fields = ", ".join(
      f"{self.names[k]}={_format(group.fields[k])}"
      for k in self.varied
      if not self._repeated_later(k)
    )
    return fields or f"mean of {len(group.runs)} run(s)"

  def _repeated_later(self, key: str) -> bool:
    later = self.varied[self.varied.index(key) + 1 :]
    return any(all(g.fields[k] == g.fields[key] for g in self.groups) for k in later)

  def find(self, **fields) -> list[Group]:
    """The groups whose runs have these config values, e.g. `find(model__decoder='luong')`
    (dots in field names written as double underscores)."""
    wanted = {k.replace("__", "."): v for k, v in fields.items()}
    return [g for g in self.groups if all(g.runs[0].config.get(k) == v for k, v in wanted.items())]

  def table(self, metric: str) -> list[str]:
    """Markdown rows: varied fields, seeds, params, then per split 'mean ± std [95% CI]'."""
    header = (
      [self.names[k] for k in self.varied]
      + ["seeds", "params"]
      + [f"{split} {metric}" for split in self.splits]
    )
    rows = [
      [_format(g.fields[k]) for k in self.varied]
      + [str(len(g.runs)), f"{g.runs[0].num_params:,}"]
      + [_mean_std_ci(g.stats(split, metric)) for split in self.splits]
      for g in self.groups
    ]
    align = ["---"] * len(self.varied) + ["---:"] * (len(header) - len(self.varied))
    return ["| " + " | ".join(row) + " |" for row in (header, align, *rows)]

  def record(self) -> dict:
    """The numbers as JSON: per group its fields, runs, seeds, parameter count and stats."""
    return {
      "root": str(self.root),
      "metrics": list(self.metrics),
      "split": self.split,
      "varied_fields": self.varied,
      "confidence": CONFIDENCE,
      "groups": [
        {
          "fields": g.fields,
          "runs": [r.name for r in g.runs],
          "seeds": [r.config.get("seed") for r in g.runs],
          "num_params": g.runs[0].num_params,
          "metrics": {m: {s: g.stats(s, m) for s in self.splits} for m in self.metrics},
        }
        for g in self.groups
      ],
      "unfinished": self.unfinished,
    }


def read_summary(
  root: str | Path, metrics: str | Sequence[str] = "exact_match", split: str = "test"
) -> Summary:
  """Reads and groups the runs of `root`; `metrics` is one name, a comma-separated list or a
  sequence. A missing root, an unknown metric or split is a one-line UserError naming it."""
  root = Path(root)
  if not root.is_dir():
    raise UserError(f"no sweep root {root}")
  metrics = (
    tuple(m.strip() for m in metrics.split(",")) if isinstance(metrics, str) else tuple(metrics)
  )
  runs, unfinished = load_runs(root)
  varied, groups = group_runs(runs)
  splits = tuple(dict.fromkeys(s for run in runs for s in run.eval_splits))
  if runs:
    check_choice("split", split, splits)
    known = sorted(
      {k for run in runs for s in splits for k in run.results.get(s, {}) if "/" not in k}
    )
    for metric in metrics:
      check_choice("metric", metric, known)
  return Summary(
    root,
    metrics,
    split,
    splits,
    varied,
    _short_names(varied),
    rank(groups, split, metrics[0]),
    len(runs),
    unfinished,
  )


def summarize(
  root: str | Path,
  metric: str | Sequence[str] = "exact_match",
  split: str = "test",
  out: str | Path | None = None,
) -> str:
  """Writes summary.md, summary.json and one `<metric>_vs_length_<split>.png` per metric and
  evaluation split into `out` (default: ROOT); returns the Markdown. Unknown metric or split:
  UserError."""
  summary = read_summary(root, metric, split)
  out = Path(out or summary.root)
  out.mkdir(parents=True, exist_ok=True)
  written = [path.name for m in summary.metrics for path in plot_length_curves(summary, m, out)]
  lines = [
    f"# {summary.root}: {', '.join(summary.metrics)}",
    "",
    f"{len(summary.groups)} group(s) of {summary.num_runs} finished run(s), ranked by "
    f"{summary.split}; mean ± sample std over seeds [{CONFIDENCE:.0%} confidence interval "
    "of the mean, Student's t].",
    "",
  ]
  for m in summary.metrics:
    lines += summary.table(m) + [""] if summary.groups else []
  if summary.unfinished:
    lines += [f"Unfinished (no results.json): {', '.join(summary.unfinished)}", ""]
  if written:
    lines += ["Plots: " + ", ".join(written), ""]
  markdown = "\n".join(lines)
  (out / "summary.md").write_text(markdown)
  (out / "summary.json").write_text(
    json.dumps({**summary.record(), "plots": written}, indent=2) + "\n"
  )
  return markdown


def rank(groups: list[Group], split: str, metric: str) -> list[Group]:
  """Best mean of `metric` on `split` first (lowest for LOWER_IS_BETTER); groups without it last."""
  sign = 1 if metric in LOWER_IS_BETTER else -1

  def key(group: Group) -> float:
    stats = group.stats(split, metric)
    return np.inf if stats is None else sign * stats["mean"]

  return sorted(groups, key=key)


def plot_length_curves(
  summary: Summary, metric: str, out: Path, groups: Sequence[Group] | None = None
) -> list[Path]:
  """One `<metric>_vs_length_<split>.png` per split with per-length values: a line per group
  (default: every group) at the mean over seeds, in a band of the 95% t-interval."""
  written = []
  for split in summary.splits:
    curves, bands = {}, {}
    for group in summary.groups if groups is None else groups:
      curve = length_curve(group, split, metric)
      if curve:
        label = summary.label(group)
        curves[label] = curve[0], [c["mean"] for c in curve[1]]
        bands[label] = tuple(
          [np.nan if c["ci95"] is None else c["ci95"][i] for c in curve[1]] for i in (0, 1)
        )
    if curves:
      name = metric.replace("_", " ")
      written.append(
        plots.plot_metric_vs_length(
          curves,
          out / f"{metric}_vs_length_{split}.png",
          name,
          bands=bands,
          title=f"{split}: {name} by source length\n(mean over seeds, band: "
          f"{CONFIDENCE:.0%} t-interval)",
        )
      )
  return written


def length_curve(group: Group, split: str, metric: str) -> tuple[list[str], list[dict]] | None:
  """(bucket labels, `describe` of the group's runs per bucket), or None if no run has
  per-length values."""
  values = collections.defaultdict(list)
  for run in group.runs:
    try:
      labels, ys = plots.length_curve(run.results.get(split, {}), metric)
    except ValueError:  # this run has no per-length values of `metric` on `split`
      continue
    for label, y in zip(labels, ys, strict=True):
      values[label].append(y)
  if not values:
    return None
  labels = sorted(values, key=lambda label: parse_bucket_label(label)[0])
  return labels, [describe(values[label]) for label in labels]


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


def _mean_std_ci(stats: dict | None) -> str:
  """'0.7000 ± 0.2000 [0.2032, 1.1968]': mean ± sample std [95% t-interval]."""
  if stats is None:
    return "–"
  if stats["std"] is None:
    return f"{stats['mean']:.4f}"
  low, high = stats["ci95"]
  return f"{stats['mean']:.4f} ± {stats['std']:.4f} [{low:.4f}, {high:.4f}]"


def _format(value) -> str:
  return json.dumps(value) if isinstance(value, (list, dict, bool)) or value is None else str(value)
