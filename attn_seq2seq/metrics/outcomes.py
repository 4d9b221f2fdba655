"""Per-example outcomes of one evaluated split: what the statistics resample.

A run's `results.json` holds each split's metrics over the whole split; the uncertainty of a
comparison also needs them per example (the test set is a sample too; Koehn 2004), and paired by
example between runs. Each evaluated split of a run writes one file:

    <workdir>/outcomes/<key>.json        key as in results.json: 'test', 'test_long',
                                          'validation', 'test/beam5' ('/' = a subdirectory)
    {"split": "test", "key": "test", "step": 3000,
     "columns": {"id": [...], "src_length": [...], "hyp_length": [...], "ref_length": [...],
                 "exact": [...], "edit_distance": [...]}}

Every column is a list of non-negative integers, one per example, sorted by `id`, the example's
index in its split (`Task.references(split)[id]`): the same examples in every run of a task, so
runs pair up by id. `exact` is 1 when the hypothesis equals any reference (`matching.exact_match`,
`g2p.word_error`); `edit_distance` is the token Levenshtein distance to the closest reference (the
first listed wins ties) and `ref_length` that reference's length (`g2p.phone_errors`). Hence
exact match = mean(exact), WER = 1 - mean(exact) and PER (the token edit rate of any task) =
sum(edit_distance) / sum(ref_length), as `compute_metrics` reports them. More integer columns may
follow; readers ignore those they do not know.

    columns = outcome_columns(hyps, refs, src_lengths)        # [num_examples] lists
    write_outcomes(workdir, "test", step, columns)           # atomic: tmp file + os.replace
    outcomes = read_outcomes(workdir, "test")                # Outcomes; OutcomesError if unusable
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from attn_seq2seq import atomic_files
from attn_seq2seq.metrics.g2p import phone_errors
from attn_seq2seq.metrics.matching import exact_match
from attn_seq2seq.run_files import OUTCOMES_DIR

COLUMNS = ("id", "src_length", "hyp_length", "ref_length", "exact", "edit_distance")
_KEY_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.=-]*")  # one '/'-separated part of a key


class OutcomesError(ValueError):
  """An outcomes file that is missing or cannot be used; the message is one line naming it."""


@dataclasses.dataclass(frozen=True)
class Outcomes:
  """One evaluated split of one run, read back by `read_outcomes`.

  Attributes:
    path: the file it was read from.
    split: the split, e.g. 'test'.
    key: its results.json key, e.g. 'test' or 'test/beam5'.
    step: the training step of the evaluated parameters.
    columns: name -> int64 array [num_examples], sorted by 'id'.
  """

  path: Path
  split: str
  key: str
  step: int
  columns: dict[str, np.ndarray]

  def __len__(self) -> int:
    return len(self.columns["id"])


def outcome_columns(
  hyps: Sequence[Sequence[str]],
  refs: Sequence[Sequence[Sequence[str]]],
  src_lengths: Sequence[int],
  ids: Sequence[int] | None = None,
) -> dict[str, list[int]]:
  """The per-example columns of a decoded split, scored as `compute_metrics` scores it.

  Args:
    hyps: [num_examples][hyp_len] predicted tokens, EOS and padding removed.
    refs: [num_examples][num_refs][ref_len] acceptable references, at least one per example.
    src_lengths: [num_examples] source lengths in tokens.
    ids: [num_examples] example ids in the split; default 0..num_examples-1.
  """
  if not len(hyps) == len(refs) == len(src_lengths):
    raise ValueError(
      f"hyps, refs and src_lengths differ in length: {len(hyps)}, {len(refs)}, {len(src_lengths)}"
    )
  ids = range(len(hyps)) if ids is None else ids
  closest = [phone_errors(hyp, example_refs) for hyp, example_refs in zip(hyps, refs, strict=True)]
  return {
    "id": [int(i) for i in ids],
    "src_length": [int(n) for n in src_lengths],
    "hyp_length": [len(hyp) for hyp in hyps],
    "ref_length": [int(pair.count) for pair in closest],
    "exact": [int(exact_match(h, r).total) for h, r in zip(hyps, refs, strict=True)],
    "edit_distance": [int(pair.total) for pair in closest],
  }


def outcomes_path(workdir: str | os.PathLike, key: str) -> Path:
  """<workdir>/outcomes/<key>.json; a key that is not a results.json split key is an error."""
  parts = key.split("/") if isinstance(key, str) else [None]
  if not all(isinstance(p, str) and _KEY_PART.fullmatch(p) for p in parts):
    raise OutcomesError(
      f"bad outcomes key {key!r}; allowed: a results.json split key such as 'test' or "
      "'test/beam5' (letters, digits, _ . = -, parts separated by '/')"
    )
  return Path(workdir, OUTCOMES_DIR, *parts[:-1], parts[-1] + ".json")


def write_outcomes(
  workdir: str | os.PathLike, key: str, step: int, columns: Mapping[str, Sequence[int]]
) -> Path:
  """Writes `columns` (see `outcome_columns`) as <workdir>/outcomes/<key>.json (see
  `write_outcomes_file`). Returns the path."""
  return write_outcomes_file(outcomes_path(workdir, key), key, step, columns)


def write_outcomes_file(
  path: str | os.PathLike, key: str, step: int, columns: Mapping[str, Sequence[int]]
) -> Path:
  """Writes `columns` to `path` with their results key and checkpoint step, atomically (a
  temporary file, then `os.replace`): readers see the old file or the new one. Rows are sorted
  by id. The split recorded is the key's first part."""
  path = Path(path)
  arrays = _checked_columns(columns)
  order = np.argsort(arrays["id"], kind="stable")
  record = {
    "split": key.split("/")[0],
    "key": key,
    "step": int(step),
    "columns": {name: array[order].tolist() for name, array in arrays.items()},
  }
  path.parent.mkdir(parents=True, exist_ok=True)
  return atomic_files.write_json(path, record, separators=(",", ":"))


def read_outcomes(workdir: str | os.PathLike, key: str) -> Outcomes:
  """The outcomes `write_outcomes` wrote for `key` in `workdir`; `OutcomesError` (one line
  naming the file) if it is missing or damaged."""
  path = outcomes_path(workdir, key)
  if not path.is_file():
    raise OutcomesError(
      f"no per-example outcomes for {key!r} in {workdir}: {path} does not exist "
      "(a run evaluated before outcomes were recorded must be evaluated again)"
    )
  try:
    record = _parse(path.read_text())
    if not isinstance(record, dict) or not isinstance(record.get("columns"), dict):
      raise ValueError("not an object with 'columns'")
    if not isinstance(record.get("step"), int) or record.get("key") != key:
      raise ValueError(f"its 'step' or 'key' (expected {key!r}) is missing or wrong")
    arrays = _checked_columns(record["columns"])
  except (OSError, UnicodeDecodeError, ValueError) as e:
    reason = " ".join(str(e).split()) or type(e).__name__
    raise OutcomesError(f"damaged outcomes file {path}: {reason}") from None
  if np.any(np.diff(arrays["id"]) <= 0):
    raise OutcomesError(f"damaged outcomes file {path}: ids are not sorted and distinct")
  return Outcomes(path, str(record.get("split", key.split("/")[0])), key, record["step"], arrays)


def _parse(text: str) -> object:
  """The JSON value of `text`; ValueError 'not valid JSON (where)' if it is not (truncated)."""
  try:
    return json.loads(text)
  except json.JSONDecodeError as e:
    raise ValueError(f"not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None


def _checked_columns(columns: Mapping[str, Sequence[int]]) -> dict[str, np.ndarray]:
  """`columns` as int64 arrays, after checking they are the required columns of non-negative
  integers, all of one length, with distinct ids; ValueError saying what is wrong."""
  missing = [name for name in COLUMNS if name not in columns]
  if missing:
    raise ValueError(f"missing columns {missing}; required: {', '.join(COLUMNS)}")
  arrays = {}
  for name, values in columns.items():
    values = list(values) if not isinstance(values, np.ndarray) else values
    if not all(_is_count(v) for v in values):
      raise ValueError(f"column {name!r} holds a value that is not a non-negative integer")
    arrays[name] = np.asarray(values, dtype=np.int64).reshape(-1)
  lengths = {name: len(array) for name, array in arrays.items()}
  if len(set(lengths.values())) > 1:
    raise ValueError(f"columns differ in length: {lengths}")
  if np.any(arrays["exact"] > 1):
    raise ValueError("column 'exact' holds a value other than 0 and 1")
  if len(np.unique(arrays["id"])) != len(arrays["id"]):
    raise ValueError("column 'id' repeats an id")
  return arrays


def _is_count(value: object) -> bool:
  """Whether `value` is a non-negative integer (a bool or a float, even a whole one, is not)."""
  return isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= 0
