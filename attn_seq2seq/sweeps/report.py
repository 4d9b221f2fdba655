"""The published report of a finished sweep: `docs/results/<sweep>/README.md` and its PNGs.

    python scripts/reproduce.py attention_vs_fixed --preset=cpu   # runs the sweep, then this

`write_report(root, out, ...)` reads a sweep root (see `summary`), and writes into `out`:
  README.md                       the command, the date, the machine and versions, wall time per
                                  run and in total, one table per metric (per group: the varied
                                  fields, parameter count, seeds, and on every evaluation split
                                  the mean, sample std and 95% Student-t interval over seeds),
                                  the plots, what the numbers show, and the reference
  <metric>_vs_length_<split>.png  one line per group with its interval band
  attention_<group>.png           for each attention group: the heatmap of the longest source of
                                  the ranking split, decoded by the group's first run
  summary.json                    every number of the tables

What the numbers show is computed, not typed: the sweep file's `findings(summary)` returns the
sentences (with the numbers in them), so a report is exactly what its command wrote.
"""

import json
import re
import shlex
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

from attn_seq2seq.errors import UserError
from attn_seq2seq.metrics import plots
from attn_seq2seq.models.model_config import ATTENTION_DECODERS
from attn_seq2seq.run_files import CONFIG_FILE, LAUNCHES_FILE, SWEEP_FILE
from attn_seq2seq.sweeps import summary as summary_lib
from attn_seq2seq.training.progress import duration

REPORT_FILE = "README.md"


def write_report(
  root: str | Path,
  out: str | Path,
  *,
  title: str,
  command: Sequence[str],
  metrics: Sequence[str],
  split: str = "test",
  question: str = "",
  reference: str = "",
  findings: Callable[[summary_lib.Summary], list[str]] | None = None,
  data_dir: str | None = None,
) -> Path:
  """Writes the report of the finished sweep in `root` into `out` (see the module docstring).

  Args:
    root: the sweep root (`scripts/run_sweep.py --root`).
    out: the report directory, e.g. docs/results/attention_vs_fixed.
    title: the report's heading.
    command: the command line that ran the sweep and writes this report.
    metrics: metrics of results.json to tabulate and plot; the first ranks the groups.
    split: the evaluation split that ranks the groups (and supplies the heatmap's source).
    question: what the sweep asks, in a sentence or two.
    reference: the published result it is compared with.
    findings: summary -> sentences saying what the numbers show.
    data_dir: where the runs' dataset lives (for the heatmaps' sources); default: $TFDS_DATA_DIR
      or ~/tensorflow_datasets, as for training.

  Returns:
    The path of README.md. A root with unfinished runs is a UserError naming them.
  """
  summary = summary_lib.read_summary(root, metrics, split)
  if summary.unfinished or not summary.groups:
    more = ", ..." if summary.unfinished[5:] else ""
    raise UserError(
      f"{root}: {len(summary.unfinished)} unfinished run(s) "
      f"({', '.join(summary.unfinished[:5])}{more}); finish the sweep before "
      "writing its report"
    )
  out = Path(out)
  out.mkdir(parents=True, exist_ok=True)
  plot_files = [
    p.name for m in summary.metrics for p in summary_lib.plot_length_curves(summary, m, out)
  ]
  heatmaps = attention_heatmaps(summary, out, data_dir)
  launches = read_launches(summary.root)
  lines = [f"# {title}", ""]
  if question:
    lines += [question, ""]
  lines += _provenance(summary, command, launches) + [""]
  if findings is not None:
    lines += ["## What the numbers show", "", *findings(summary), ""]
  if reference:
    lines += ["## Reference", "", reference, ""]
  lines += [
    "## Results",
    "",
    f"Mean ± sample standard deviation over seeds [{summary_lib.CONFIDENCE:.0%} confidence "
    "interval of the mean: Student's t with n - 1 degrees of freedom, mean ± t · std / √n],"
    f" ranked by {summary.split} {summary.metrics[0]}. Parameter counts are exact.",
    "",
  ]
  for metric in summary.metrics:
    lines += [f"### {metric}", "", *summary.table(metric), ""]
  lines += ["## By source length", ""]
  lines += [f"![{name}]({name})" for name in plot_files] + [""]
  if heatmaps:
    lines += [
      "## Attention on a long source",
      "",
      f"The longest {summary.split} source, decoded greedily by the first seed of each "
      "attention group (rows: output tokens, columns: source tokens).",
      "",
    ]
    lines += [f"**{label}**\n\n![{label}]({name})\n" for label, name in heatmaps]
  lines += ["## Runs", "", *_run_table(summary, launches), ""]
  path = out / REPORT_FILE
  _write_atomic(path, "\n".join(lines))
  _write_atomic(
    out / "summary.json",
    json.dumps(
      {
        **summary.record(),
        "plots": plot_files,
        "heatmaps": [n for _, n in heatmaps],
        "command": shlex.join(command),
      },
      indent=2,
    )
    + "\n",
  )
  return path


def read_launches(root: Path) -> list[dict]:
  """The records of ROOT/launches.jsonl (see `sweep.record_launch`); [] if there are none."""
  path = Path(root) / LAUNCHES_FILE
  if not path.exists():
    return []
  return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def attention_heatmaps(
  summary: summary_lib.Summary, out: Path, data_dir: str | None = None
) -> list[tuple[str, str]]:
  """For each group of an attention decoder: the heatmap of the longest source of the ranking
  split, decoded by the group's first run. Returns [(group label, file name)]."""
  from attn_seq2seq import data  # noqa: PLC0415  (jax, TFDS)
  from attn_seq2seq.inference import trained_run, translate  # noqa: PLC0415

  written, sources = [], {}
  for group in summary.groups:
    first = min(group.runs, key=lambda r: r.config.get("seed", 0))
    if first.config.get("model.decoder") not in ATTENTION_DECODERS:
      continue
    run = trained_run.load_run(summary.root / first.name)
    data_config = run.config.data.copy_and_resolve_references()
    # This machine's data directory (TFDS_DATA_DIR), never a path recorded in the workdir.
    data_config.data_dir = data_dir or data.get_data_config(data_config.name).data_dir
    key = json.dumps(data_config.to_dict(), sort_keys=True)
    if key not in sources:
      texts = data.load_task(data_config, vocabs=(run.src_vocab, run.tgt_vocab)).source_texts(
        summary.split
      )
      sources[key] = max(texts, key=lambda text: (len(run.src_vocab.tokenize(text)), text))
    translation = translate.Translator(run).translate([sources[key]])[0]
    label = summary.label(group)
    name = "attention_" + re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_") + ".png"
    plots.plot_attention(
      translation.attn_weights,
      translation.src_tokens,
      translation.tgt_tokens,
      out / name,
      title=f"{label} (seed {first.config.get('seed')})",
    )
    written.append((label, name))
  return written


def _provenance(
  summary: summary_lib.Summary, command: Sequence[str], launches: list[dict]
) -> list[str]:
  """Command, date, machine, versions and wall time, as Markdown bullet lines."""
  # Invocations that trained something; a re-run that only rewrites the report adds nothing.
  invocations = [r for r in launches if "sweep" in r and r["launched"]]
  runs = [r for r in launches if "run" in r]
  host = invocations[-1]["host"] if invocations else {}
  record = json.loads((summary.root / summary.groups[0].runs[0].name / CONFIG_FILE).read_text())
  devices = record.get("devices", {})
  sweep_spec = (
    json.loads((summary.root / SWEEP_FILE).read_text())["sweep"]
    if (summary.root / SWEEP_FILE).exists()
    else "?"
  )
  per_run = _seconds_per_run(runs)
  lines = [
    f"- **Command:** `{shlex.join(command)}` (sweep `{sweep_spec}`)",
    f"- **Date:** {invocations[0]['started'] if invocations else '?'} to "
    f"{runs[-1]['ended'] if runs else '?'} (UTC)",
    f"- **Machine:** {host.get('cpu', '?')}, {host.get('cores', '?')} cores; JAX platform "
    f"{devices.get('platform', '?')} ({devices.get('count', '?')} × {devices.get('kind', '?')})",
    f"- **Versions:** Python {host.get('python', '?')}, jax {host.get('jax', '?')}, flax "
    f"{host.get('flax', '?')}",
  ]
  if invocations:
    total = sum(r["seconds"] for r in invocations)
    lines.append(
      f"- **Wall time:** {duration(total)} in total over {len(invocations)} invocation(s) of the "
      f"launcher (data generation and compilation included); per run: median "
      f"{duration(statistics.median(per_run.values()))}, range "
      f"{duration(min(per_run.values()))}–{duration(max(per_run.values()))}"
      if per_run
      else f"- **Wall time:** {duration(total)} in total"
    )
  lines.append(
    f"- **Runs:** {summary.num_runs} in {len(summary.groups)} groups; root `{summary.root}`"
  )
  return lines


def _seconds_per_run(run_launches: list[dict]) -> dict[str, float]:
  """Run name -> wall seconds summed over its launches (a resumed run has several)."""
  seconds = {}
  for record in run_launches:
    seconds[record["run"]] = seconds.get(record["run"], 0.0) + record["seconds"]
  return seconds


def _run_table(summary: summary_lib.Summary, launches: list[dict]) -> list[str]:
  """One row per run: name, seed, parameters, wall time, launches, ranking metric on split."""
  per_run = _seconds_per_run([r for r in launches if "run" in r])
  count = {}
  for record in launches:
    if "run" in record:
      count[record["run"]] = count.get(record["run"], 0) + 1
  metric, split = summary.metrics[0], summary.split
  rows = [
    "| run | seed | params | wall time | launches | " + f"{split} {metric} |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
  ]
  for group in summary.groups:
    for run in group.runs:
      top = run.name.split("/")[0]  # a stacked run's members share its launches
      wall = duration(per_run[top]) if top in per_run else "–"
      value = run.results.get(split, {}).get(metric)
      rows.append(
        f"| {run.name} | {run.config.get('seed')} | {run.num_params:,} | {wall} | "
        f"{count.get(top, 0)} | {'–' if value is None else f'{value:.4f}'} |"
      )
  return rows


def _write_atomic(path: Path, text: str) -> None:
  tmp = path.with_name(path.name + ".tmp")
  tmp.write_text(text)
  tmp.replace(path)
