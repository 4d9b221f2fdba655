"""The results of a sweep grouped by seeds, with statistics that fit them; `report.py` builds on
it. `scripts/summarize.py` is the command line:

    python scripts/summarize.py --root=runs/attention_vs_fixed [--metric=exact_match] [--split=test]

Reads ROOT/<run>/config.json and results.json (see `train.train_and_evaluate`), and where the runs
wrote them, their per-example outcomes (outcomes/<key>.json). Runs whose configs differ only in
`seed` (and in `data.data_dir`, where the data happen to live) form a group. When the sweep tuned
a field on validation (sweeps/selection.py), the group at the chosen value is the arm a report
compares, and the other values are its tuning trials.

A group's value on a split is the mean over its seeds (as each run's results.json reports it).
Its uncertainty (../shared/SCIENCE.md, sweeps/statistics.py):
  * with per-example outcomes (exact_match, wer, per, edit_rate): the percentile interval of a
    two-level bootstrap, seeds then test examples, which stays inside the metric's range; a
    group whose seeds all score the same reads '3/3 seeds at 1.000', with the Wilson interval of
    the pooled test examples beside it, never an interval of width 0;
  * otherwise (a metric the outcomes do not carry, e.g. token_accuracy or BLEU): the seeds'
    values as they are, '0.936 (3 seeds: 0.921, 0.934, 0.953)'.
Differences between groups are paired bootstraps over the shared test examples, with a p-value
(`Summary.difference`); every number a table or a finding prints is recorded in summary.json.

A stacked run (several seeds trained as one program) keeps each member in
`ROOT/<run>/members/<member>/`, laid out like a run of its own: each member is read as one run.
A run directory without final results (results.json with its `step`, as `sweep.is_finished`
reads it), or a run of ROOT/sweep.json without a directory, is listed as unfinished rather than
dropped.
"""

import collections
import dataclasses
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from attn_seq2seq import atomic_files
from attn_seq2seq.choices import check_choice
from attn_seq2seq.errors import UserError
from attn_seq2seq.metrics import LOWER_IS_BETTER, plots
from attn_seq2seq.metrics.by_length import parse_bucket_label
from attn_seq2seq.metrics.outcomes import outcomes_path, read_outcomes
from attn_seq2seq.models.model_config import ATTENTION_DECODERS
from attn_seq2seq.run_files import CONFIG_FILE, MEMBERS_DIR, RESULTS_FILE
from attn_seq2seq.sweeps import selection, statistics
from attn_seq2seq.sweeps.references import REFERENCES_DIR
from attn_seq2seq.sweeps.sweep import is_finished, read_sweep_json
from attn_seq2seq.training import workdir as workdir_lib

# Not part of what a group is: the seed mechanism (a stack's members record their shared data
# order; solo runs follow their seed), where the data happen to live, and which extra
# evaluations a run also wrote.
SCORER_FIELDS = ("model.scorer", "model.split_directions")  # read by attention decoders only
IGNORED_FIELDS = (
  "seed",
  "seeds",
  "learning_rates",
  "data_order_seed",
  "data.data_dir",
  "extra_evaluations",
)
OUTCOME_METRICS = tuple(statistics.METRICS)
_SEED_SUFFIX = re.compile(r"_s[0-9]+$")  # what sets one seed's run apart in its name
CONFIDENCE = statistics.CONFIDENCE


@dataclasses.dataclass(frozen=True)
class RunResult:
  """One finished run: `config` flattened to dotted keys ('model.decoder' -> 'luong')."""

  name: str
  workdir: Path
  config: dict
  num_params: int
  eval_splits: tuple[str, ...]
  results: dict  # results.json: split (or results key) -> flat metrics

  def value(self, split: str, metric: str) -> float | None:
    return self.results.get(split, {}).get(metric)

  @property
  def stopped(self) -> str | None:
    """How training ended: 'early' (validation stopped improving before the cap), 'cap' (it
    reached num_train_steps, whether or not patience ran out at that same last evaluation), or
    None where results.json does not say."""
    reason, last = self.results.get("stop_reason"), self.results.get("last_step")
    cap = self.config.get("num_train_steps")
    if reason is None:
      return None
    at_cap = last is not None and cap is not None and last >= cap
    return "cap" if reason == "num_train_steps" or at_cap else "early"

  def outcomes(self, key: str):
    """The run's per-example outcomes of results key `key`, or None if it wrote none."""
    return read_outcomes(self.workdir, key) if outcomes_path(self.workdir, key).exists() else None


@dataclasses.dataclass(frozen=True)
class Group:
  """Runs that differ only in seed; `fields` holds their values of the root's varied fields."""

  fields: dict
  runs: list[RunResult]
  _cache: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)

  def values(self, split: str, metric: str) -> list[float]:
    """The runs' values of `metric` on `split` (results key), in seed order."""
    return [v for r in self.runs if (v := r.value(split, metric)) is not None]

  def stats(self, split: str, metric: str) -> dict | None:
    """The group's value and uncertainty on `split` (see the module docstring), or None if no
    run has it: {'mean', 'values', 'n', 'min', 'max', 'text', 'interval' ([low, high] or None),
    'method', 'bootstrap' (statistics.hierarchical_bootstrap, or None), 'wilson' (the pooled
    test set's interval when every seed agrees, or None)}."""
    key = (split, metric)
    if key not in self._cache:
      self._cache[key] = self._stats(split, metric)
    return self._cache[key]

  def outcomes(self, split: str) -> list | None:
    """Every run's per-example outcomes of `split`, or None unless every run wrote them."""
    found = [r.outcomes(split) for r in self.runs]
    return found if found and all(o is not None for o in found) else None

  def _stats(self, split: str, metric: str) -> dict | None:
    values = self.values(split, metric)
    if not values or len(values) != len(self.runs):
      return None
    seeds = statistics.seed_summary(values)
    found = self.outcomes(split) if metric in OUTCOME_METRICS else None
    stats = {
      **{k: seeds[k] for k in ("mean", "values", "n", "min", "max")},
      "text": seeds["text"],
      "interval": None,
      "method": "seed values",
      "bootstrap": None,
      "wilson": None,
    }
    if found is None:
      return stats
    boot = statistics.hierarchical_bootstrap(found, metric)
    stats.update(bootstrap=boot, method=boot["method"])
    if not boot["degenerate"]:
      stats["interval"] = boot["interval"]
      low, high = boot["interval"]
      same = seeds["all_equal"] and seeds["n"] > 1  # 'n/n seeds at v', with the test set's range
      stats["text"] = f"{seeds['text']} [{low:.3f}, {high:.3f}]" if same else boot["text"]
    elif metric in ("exact_match", "wer"):  # every example right (or wrong) in every seed
      exact = int(sum(o.columns["exact"].sum() for o in found))
      total = int(sum(len(o) for o in found))
      successes = exact if metric == "exact_match" else total - exact
      stats["wilson"] = statistics.proportion_interval(successes, total)
      stats["interval"] = stats["wilson"]["interval"]
      low, high = stats["interval"]
      stats["text"] = f"{seeds['text']} (Wilson, pooled test examples: [{low:.3f}, {high:.3f}])"
    return stats


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
  results = workdir_lib.read_json(workdir / RESULTS_FILE)
  return RunResult(name, workdir, config, num_params, splits, results)


def load_references(root: str | Path) -> dict[str, Group]:
  """Reference name -> the group of its runs (see references.py): ROOT/references/<name>/ itself
  when it holds results.json, else each subdirectory that does."""
  found = {}
  base = Path(root) / REFERENCES_DIR
  for directory in sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []:
    if (directory / RESULTS_FILE).exists():
      runs = [directory]
    else:
      runs = sorted(p for p in directory.iterdir() if (p / RESULTS_FILE).exists())
    if runs:
      found[directory.name] = Group({}, [_read_reference(directory.name, run) for run in runs])
  return found


def _read_reference(name: str, workdir: Path) -> RunResult:
  """A reference run: its results.json, and its config.json when it has one (an ensemble's
  results directory has none)."""
  record = workdir_lib.read_json(workdir / CONFIG_FILE) if (workdir / CONFIG_FILE).exists() else {}
  return RunResult(
    f"{name}/{workdir.name}" if workdir.name != name else name,
    workdir,
    _flatten(record.get("config") or {}),
    record.get("num_params"),
    tuple(record.get("task", {}).get("eval_splits", ())),
    workdir_lib.read_json(workdir / RESULTS_FILE),
  )


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
    Group({k: members[0].config.get(k) for k in varied}, sorted(members, key=_seed))
    for members in groups.values()
  ]


@dataclasses.dataclass
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
  tuning: list[dict]  # selection.selections: the grid and the choice of each tuned group
  references: dict[str, Group] = dataclasses.field(default_factory=dict)  # references.py
  differences: list[dict] = dataclasses.field(default_factory=list)  # what findings compared

  @property
  def tuned_fields(self) -> list[str]:
    return sorted({t["field"] for t in self.tuning})

  @property
  def arms(self) -> list[Group]:
    """The groups a report compares, ranked: each tuned group at its chosen value (its other
    trials left out), and every group of a sweep that tuned nothing."""
    trials = {c["run"] for t in self.tuning for c in t["candidates"]}
    chosen = {t["chosen"]["run"] for t in self.tuning}
    return [
      g
      for g in self.groups
      if not any(r.name in trials for r in g.runs) or any(r.name in chosen for r in g.runs)
    ]

  def label(self, group: Group) -> str:
    """The group's name in its sweep when its runs share one (`luong_h64` for `luong_h64_s0`,
    `luong_h64_lr0.001_s1`, ...), else 'decoder=luong, hidden_size=75': the group's values of
    the varied fields (tuned fields aside), leaving out a field that always equals a later one
    (e.g. attention_size, when it follows hidden_size)."""
    for name, reference in self.references.items():
      if reference is group:
        return name
    stem = self._stem(group)
    if stem is not None and sum(self._stem(g) == stem for g in self.arms) == 1:
      return stem
    shown = [k for k in self.varied if k not in self.tuned_fields and not self._repeated_later(k)]
    fields = ", ".join(f"{self.names[k]}={_format(group.fields[k])}" for k in shown)
    return fields or f"mean of {len(group.runs)} run(s)"

  def _stem(self, group: Group) -> str | None:
    """The name the group's runs share in their sweep once the seed is cut off (a tuning
    trial: the name of the runs tuned on it), or None."""
    tuned = {  # a stack's member: the stack's name
      c["run"]: _SEED_SUFFIX.sub("", t["runs"][0].split("/")[0])
      for t in self.tuning
      for c in t["candidates"]
      if t["runs"]
    }
    stems = {tuned.get(r.name) or _SEED_SUFFIX.sub("", r.name.split("/")[0]) for r in group.runs}
    return stems.pop() if len(stems) == 1 else None

  def _repeated_later(self, key: str) -> bool:
    later = self.varied[self.varied.index(key) + 1 :]
    return any(all(g.fields[k] == g.fields[key] for g in self.groups) for k in later)

  def find(self, **fields) -> list[Group]:
    """The arms whose runs have these config values, e.g. `find(model__decoder='luong')`
    (dots in field names written as double underscores)."""
    wanted = {k.replace("__", "."): v for k, v in fields.items()}
    return [g for g in self.arms if all(g.runs[0].config.get(k) == v for k, v in wanted.items())]

  def group_of(self, run_name: str) -> Group:
    """The group holding the run named `run_name`."""
    return next(g for g in self.groups if any(r.name == run_name for r in g.runs))

  def difference(self, a: Group, b: Group, split: str, metric: str) -> dict | None:
    """A - B of `metric` on `split`: a paired bootstrap over the shared test examples (seeds
    resampled within each group), with its interval and p-value (statistics.paired_difference),
    recorded for summary.json once however often a finding asks; None without per-example
    outcomes."""
    key = {"a": self.label(a), "b": self.label(b), "split": split, "metric": metric}
    for recorded in self.differences:
      if all(recorded.get(k) == v for k, v in key.items()):
        return recorded
    found_a, found_b = a.outcomes(split), b.outcomes(split)
    if metric not in OUTCOME_METRICS or found_a is None or found_b is None:
      return None
    result = {**key, **statistics.paired_difference(found_a, found_b, metric)}
    self.differences.append(result)
    return result

  def table(self, metric: str) -> list[str]:
    """Markdown rows: varied fields, seeds, params, then per split the value and its
    uncertainty (see the module docstring)."""
    shown = [k for k in self.varied if k not in self.tuned_fields]
    header = ["arm", *(self.names[k] for k in shown), "seeds", "params"] + [
      f"{split} {metric}" for split in self.splits
    ]
    rows = [
      [self.label(g), *(_cell(g, k) for k in shown)]
      + [str(len(g.runs)), f"{g.runs[0].num_params:,}"]
      + [_text(g.stats(split, metric)) for split in self.splits]
      for g in self.arms
    ]
    align = ["---"] * (len(shown) + 1) + ["---:"] * (len(header) - len(shown) - 1)
    return ["| " + " | ".join(row) + " |" for row in (header, align, *rows)]

  def record(self) -> dict:
    """Every number as JSON: per group its fields, runs, seeds, parameter count, the statistics
    of every metric on every split and by source length; the tuning; the differences."""
    arms = {id(g) for g in self.arms}
    return {
      "root": str(self.root),
      "metrics": list(self.metrics),
      "split": self.split,
      "varied_fields": self.varied,
      "confidence": CONFIDENCE,
      "groups": [
        {
          "label": self.label(g),
          "arm": id(g) in arms,
          "fields": g.fields,
          "runs": [r.name for r in g.runs],
          "seeds": [r.config.get("seed") for r in g.runs],
          "num_params": g.runs[0].num_params,
          "metrics": {m: {s: g.stats(s, m) for s in self.splits} for m in self.metrics},
          "by_length": {s: {m: length_curve(g, s, m) for m in self.metrics} for s in self.splits},
        }
        for g in self.groups
      ],
      "tuning": self.tuning,
      "references": {
        name: {
          "runs": [str(r.workdir) for r in g.runs],
          "metrics": {m: {s: g.stats(s, m) for s in self.splits} for m in self.metrics},
        }
        for name, g in self.references.items()
      },
      "differences": self.differences,
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
  recorded = read_sweep_json(root)
  finished = {r.name for r in runs}
  tuning = selection.selections(
    [r for r in (recorded or {}).get("runs", []) if not selection.pending(r, finished)], root
  )
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
    tuning,
    load_references(root),
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
    f"{len(summary.arms)} group(s) of {summary.num_runs} finished run(s), ranked by "
    f"{summary.split}; the mean over seeds [{CONFIDENCE:.0%} interval: seeds, then test "
    "examples, bootstrapped, where the runs wrote per-example outcomes; otherwise the seeds' "
    "values].",
    "",
  ]
  for m in summary.metrics:
    lines += summary.table(m) + [""] if summary.groups else []
  if summary.unfinished:
    lines += [f"Unfinished (no results.json): {', '.join(summary.unfinished)}", ""]
  if written:
    lines += ["Plots: " + ", ".join(written), ""]
  markdown = "\n".join(lines)
  atomic_files.write_text(out / "summary.md", markdown)
  atomic_files.write_text(
    out / "summary.json", json.dumps({**summary.record(), "plots": written}, indent=2) + "\n"
  )
  return markdown


def rank(groups: list[Group], split: str, metric: str) -> list[Group]:
  """Best mean of `metric` on `split` first (lowest for LOWER_IS_BETTER); groups without it last."""
  sign = 1 if metric in LOWER_IS_BETTER else -1

  def key(group: Group) -> float:
    values = group.values(split, metric)
    return np.inf if not values else sign * float(np.mean(values))

  return sorted(groups, key=key)


def plot_length_curves(
  summary: Summary, metric: str, out: Path, groups: Sequence[Group] | None = None
) -> list[Path]:
  """One `<metric>_vs_length_<split>.png` per split with per-length values: a line per arm
  (default: every arm) at the mean over seeds, in a band from the lowest to the highest seed."""
  written = []
  for split in summary.splits:
    curves, bands = {}, {}
    for group in summary.arms if groups is None else groups:
      curve = length_curve(group, split, metric)
      if curve:
        label = summary.label(group)
        curves[label] = list(curve), [c["mean"] for c in curve.values()]
        bands[label] = tuple([c[b] for c in curve.values()] for b in ("min", "max"))
    if curves:
      name = metric.replace("_", " ")
      written.append(
        plots.plot_metric_vs_length(
          curves,
          out / f"{metric}_vs_length_{split}.png",
          name,
          bands=bands,
          title=f"{split}: {name} by source length\n(mean over seeds; band: lowest to highest "
          "seed)",
        )
      )
  return written


def length_curve(group: Group, split: str, metric: str) -> dict[str, dict] | None:
  """Source-length bucket label -> {'mean', 'min', 'max', 'values'} over the group's runs (in
  bucket order), or None if no run has per-length values."""
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
  return {
    label: {
      "mean": float(np.mean(values[label])),
      "min": float(np.min(values[label])),
      "max": float(np.max(values[label])),
      "values": values[label],
    }
    for label in labels
  }


def _seed(run: RunResult) -> int:
  return run.config.get("seed") or 0


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


def _text(stats: dict | None) -> str:
  return "–" if stats is None else stats["text"]


def _cell(group: Group, key: str) -> str:
  """The group's value of `key`, or '–' where its model never reads it (a fixed-vector
  decoder's scorer)."""
  decoder = group.fields.get("model.decoder", group.runs[0].config.get("model.decoder"))
  if key in SCORER_FIELDS and decoder is not None and decoder not in ATTENTION_DECODERS:
    return "–"
  return _format(group.fields[key])


def _format(value) -> str:
  return json.dumps(value) if isinstance(value, (list, dict, bool)) or value is None else str(value)
