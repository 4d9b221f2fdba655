"""Per-example outcomes of a decoded split, the raw material of paired statistics across runs
(a paired bootstrap over test examples, Koehn 2004; see SCIENCE.md).

    columns = example_outcomes(hyps, refs, src_lengths)        # in example-id order
    write_outcomes(outcomes_path(workdir, "test/beam5"), columns, split="test",
                   key="test/beam5", step=3000)

One row per example, in example-id order, as columns of the same length:
  id             the example id (0, 1, ... in the split)
  src_length     source tokens
  hyp_length     hypothesis tokens, EOS excluded
  ref_length     tokens of the closest reference (the one `edit_distance` is measured against)
  exact          1 if the hypothesis equals any reference token for token, else 0
  edit_distance  token Levenshtein distance to the closest reference (the first listed wins ties)

These are the terms the aggregate metrics sum: exact_match = mean(exact), WER = 1 - mean(exact),
PER (and the token edit rate of any task) = sum(edit_distance) / sum(ref_length): `exact` comes
from `matching.exact_match` and the closest reference from `g2p.phone_errors`, the functions the
aggregates call.

The file, `<workdir>/outcomes/<results key>.json` (a `/` in the key is a subdirectory), is
written atomically (a temporary file, then a rename):
  {"split": "test", "key": "test/beam5", "step": 3000,
   "columns": {"id": [...], "src_length": [...], "hyp_length": [...], "ref_length": [...],
               "exact": [...], "edit_distance": [...]}}
"""

import json
import os
from collections.abc import Sequence
from pathlib import Path

from attn_seq2seq.metrics.g2p import phone_errors
from attn_seq2seq.metrics.matching import exact_match

OUTCOMES_DIR = "outcomes"  # <workdir>/outcomes/<results key>.json
COLUMNS = ("id", "src_length", "hyp_length", "ref_length", "exact", "edit_distance")

Tokens = Sequence[str]


def example_outcomes(
  hyps: Sequence[Tokens],
  refs: Sequence[Sequence[Tokens]],
  src_lengths: Sequence[int],
  ids: Sequence[int] | None = None,
) -> dict[str, list[int]]:
  """The `COLUMNS` of every example (see the module docstring).

  Args:
    hyps: [num_examples][hyp_len] predicted tokens, EOS and padding removed.
    refs: [num_examples][num_refs][ref_len] acceptable references, at least one per example.
    src_lengths: [num_examples] source lengths in tokens.
    ids: [num_examples] example ids (default: 0, 1, ...).
  """
  if not len(hyps) == len(refs) == len(src_lengths):
    raise ValueError(
      f"hyps, refs and src_lengths differ in length: {len(hyps)}, {len(refs)}, {len(src_lengths)}"
    )
  columns = {name: [] for name in COLUMNS}
  for i, (hyp, example_refs) in enumerate(zip(hyps, refs, strict=True)):
    closest = phone_errors(hyp, example_refs)  # (distance, length) of the closest reference
    columns["id"].append(int(i if ids is None else ids[i]))
    columns["src_length"].append(int(src_lengths[i]))
    columns["hyp_length"].append(len(hyp))
    columns["ref_length"].append(int(closest.count))
    columns["exact"].append(int(exact_match(hyp, example_refs).total))
    columns["edit_distance"].append(int(closest.total))
  return columns


def outcomes_path(workdir: str | Path, key: str) -> Path:
  """Where the outcomes of results key `key` (e.g. `test/beam5`) go in `workdir`."""
  return Path(workdir) / OUTCOMES_DIR / f"{key}.json"


def write_outcomes(
  path: str | Path, columns: dict[str, list[int]], *, split: str, key: str, step: int | None
) -> None:
  """Writes the outcomes record to `path` (creating its directory) through a temporary file and
  a rename: readers see the old file or the new one, never a part. One column per line."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  header = {"split": split, "key": key, "step": step}
  lines = [f"  {json.dumps(name)}: {json.dumps(value)}," for name, value in header.items()]
  lines += ['  "columns": {']
  lines += [f"    {json.dumps(name)}: {json.dumps(columns[name])}," for name in COLUMNS]
  lines[-1] = lines[-1].removesuffix(",")
  text = "{\n" + "\n".join(lines) + "\n  }\n}\n"
  temporary = path.with_name(f".{path.name}.tmp")
  temporary.write_text(text)
  os.replace(temporary, path)
