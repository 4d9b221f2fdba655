"""Hyperparameters tuned on validation: a run whose value is chosen, at launch, from the finished
runs of a grid.

    runs = define.tuned_group("bahdanau_h64", "configs/reverse.py:short", {...},
                              grid={"learning_rate": (3e-4, 1e-3, 3e-3)}, seeds=(0, 1, 2))

gives one trial run per grid value (`bahdanau_h64_lr0.0003_s0`, ...: the tuning seed) and the
other seeds' runs (`bahdanau_h64_s1`, `bahdanau_h64_s2`), which carry a `select` entry instead of
the tuned value:

    {"name": "bahdanau_h64_s1", "config": ..., "overrides": {..., "seed": 1},
     "select": {"field": "learning_rate", "candidates": ["bahdanau_h64_lr0.0003_s0", ...],
                "split": "validation", "metric": "exact_match"}}

The launchers start such a run only when every candidate has finished, and then with the value of
the candidate whose `split` `metric` is best (`choose`: ties go to the first listed). The test
split is never read. The trial at the chosen value is the group's tuning seed, so the group
(every seed at the chosen value) is the one a report compares; the other trials are the tuning
budget, reported as such (`selections`).

A stacked learning-rate grid (`define.tuned_group(..., stacked=True)`: one run whose members are
every (learning rate, seed) pair, carrying `tuned_in_stack` instead) is chosen the same way once
it has finished: each member stands for the run it equals (`<run>/members/lr<lr>_seed_<k>`), the
tuning seed's members are the candidates, and the other seeds' members at the chosen value are
the tuned runs.
"""

import json
import math
from pathlib import Path

from attn_seq2seq.errors import UserError
from attn_seq2seq.metrics import LOWER_IS_BETTER
from attn_seq2seq.run_files import CONFIG_FILE, RESULTS_FILE
from attn_seq2seq.training import members


class SelectionError(UserError):
  """A tuned run whose candidates cannot be read or did not finish; names the run and file."""


def choose(scores: list[float], metric: str) -> int:
  """The index of the best of `scores` for `metric` (highest, or lowest for LOWER_IS_BETTER);
  ties and NaN: the first of the best. A selection rule the launchers and the reports share."""
  sign = 1.0 if metric in LOWER_IS_BETTER else -1.0
  keyed = [sign * s if math.isfinite(s) else math.inf for s in scores]
  return min(range(len(keyed)), key=keyed.__getitem__)


def pending(run: dict, finished: set[str]) -> list[str]:
  """The candidates of a tuned `run` that have not finished (all of them if it is not tuned:
  none)."""
  return [name for name in run.get("select", {}).get("candidates", ()) if name not in finished]


def resolve(run: dict, root: str | Path) -> dict:
  """`run` with its tuned field set to the chosen candidate's value (a run without `select` is
  returned as it is), and the choice recorded under `selected`: {value, candidate, scores}."""
  select = run.get("select")
  if not select:
    return run
  trials = [_trial(Path(root) / name, select) for name in select["candidates"]]
  best = choose([score for _, score in trials], select["metric"])
  value = trials[best][0]
  return {
    **run,
    "overrides": {**run["overrides"], select["field"]: value},
    "selected": {
      "value": value,
      "candidate": select["candidates"][best],
      "scores": {
        name: score for name, (_, score) in zip(select["candidates"], trials, strict=True)
      },
    },
  }


def selections(runs: list[dict], root: str | Path) -> list[dict]:
  """For each tuned field of a sweep (one entry per distinct `select`), the grid and the choice:
  {field, split, metric, candidates: [{run, value, score}], chosen: {run, value}, runs: [the
  tuned runs]}. Read from the candidates' own records, as the launcher chose."""
  grouped = {}
  for run in runs:
    if run.get("select"):
      key = json.dumps(run["select"], sort_keys=True)
      grouped.setdefault(key, (run["select"], []))[1].append(run["name"])
  out = []
  for select, tuned in grouped.values():
    trials = [_trial(Path(root) / name, select) for name in select["candidates"]]
    out.append(_selection(select, select["candidates"], trials, tuned))
  for run in runs:
    if run.get("tuned_in_stack") and (Path(root) / run["name"] / RESULTS_FILE).exists():
      out.append(_stack_selection(run["name"], run["tuned_in_stack"], root))
  return out


def _selection(select: dict, candidates: list[str], trials: list, tuned: list[str]) -> dict:
  """One entry of `selections`: the candidates' values and scores, the choice, the tuned runs."""
  best = choose([score for _, score in trials], select["metric"])
  return {
    "field": select["field"],
    "split": select["split"],
    "metric": select["metric"],
    "candidates": [
      {"run": name, "value": value, "score": score}
      for name, (value, score) in zip(candidates, trials, strict=True)
    ],
    "chosen": {"run": candidates[best], "value": trials[best][0]},
    "runs": tuned,
  }


def _stack_selection(name: str, select: dict, root: str | Path) -> dict:
  """`selections`' entry of a finished stacked grid: its members read as the runs they equal."""
  directories = members.stack_member_dirs(Path(root) / name)
  if directories is None:
    raise SelectionError(f"cannot read the stacked tuning run {Path(root) / name}")
  found = {}  # member run name -> (its seed, (value, score))
  for directory in directories:
    seed = json.loads((directory / CONFIG_FILE).read_text())["config"]["seed"]
    found[f"{name}/{directory.parent.name}/{directory.name}"] = (seed, _trial(directory, select))
  candidates = [run for run, (seed, _) in found.items() if seed == select["tuning_seed"]]
  entry = _selection(select, candidates, [found[run][1] for run in candidates], [])
  chosen = entry["chosen"]["value"]
  entry["runs"] = [
    run
    for run, (seed, (value, _)) in found.items()
    if seed != select["tuning_seed"] and value == chosen
  ]
  return entry


def _trial(workdir: Path, select: dict) -> tuple[object, float]:
  """(the candidate's value of the tuned field, its `split` `metric`) from its config.json and
  results.json."""
  try:
    config = json.loads((workdir / CONFIG_FILE).read_text())["config"]
    results = json.loads((workdir / RESULTS_FILE).read_text())
  except (OSError, ValueError) as e:
    raise SelectionError(f"cannot read the tuning run {workdir}: {e}") from None
  value = config
  try:
    for part in select["field"].split("."):
      value = value[part]
    score = float(results[select["split"]][select["metric"]])
  except (KeyError, TypeError, ValueError):
    raise SelectionError(
      f"{workdir} has no {select['field']} in its config or no {select['split']} "
      f"{select['metric']} in its results"
    ) from None
  return value, score


def at_grid_edge(tuned: dict) -> bool:
  """Whether a tuned field's chosen value is the smallest or largest of a grid of three or more
  (with two, every choice is an edge and says nothing)."""
  values = [c["value"] for c in tuned["candidates"]]
  chosen = tuned["chosen"]["value"]
  return len(values) >= 3 and chosen in (min(values), max(values))
