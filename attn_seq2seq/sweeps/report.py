"""The published report of a finished sweep: `docs/results/<sweep>/README.md` and its PNGs.

    python scripts/reproduce.py attention_vs_fixed --preset=cpu   # runs the sweep, then this

`write_report(root, out, ...)` reads a sweep root (see `summary`), and writes into `out`:
  README.md                       the command, the date, the machine and versions, wall time per
                                  run and in total; what the numbers show; the commands that
                                  made the rows after the sweep (references/); one table per metric
                                  (per arm: the varied fields, parameter count, seeds, and on every
                                  evaluation split the mean over seeds with an interval that fits
                                  the data, see summary.py); the differences the findings state,
                                  each with its paired bootstrap interval and p-value; whether
                                  every arm was trained to its own best (stop reasons, learning
                                  curves, cost to reach each level: sections.py); quality against
                                  training compute; the tuning grid and the choices; the plots by
                                  source length; the diagnostics of a failing split; heatmaps
  <metric>_vs_length_<split>.png  one line per arm, its band from the lowest to the highest seed
  learning_curve_*.png            validation metric against steps and training seconds
  attention_<arm>_<split>.png     for each attention arm: the heatmap of the longest source of a
                                  split, decoded by the arm's first seed
  summary.json                    every number the report prints

What the numbers show is computed, not typed: the sweep file's `findings(summary)` returns the
sentences (with the numbers in them), so a report is exactly what its command wrote.
"""

import datetime
import json
import re
import shlex
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

from absl import logging

from attn_seq2seq import atomic_files, data
from attn_seq2seq.errors import UserError
from attn_seq2seq.inference import trained_run, translate
from attn_seq2seq.metrics import plots
from attn_seq2seq.models.model_config import ATTENTION_DECODERS
from attn_seq2seq.run_files import CONFIG_FILE, LAUNCHES_FILE
from attn_seq2seq.sweeps import sections
from attn_seq2seq.sweeps import statistics as stats_lib
from attn_seq2seq.sweeps import summary as summary_lib
from attn_seq2seq.sweeps.sweep import read_sweep_json
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
  levels: Sequence[float] = (),
  diagnose: str | None = None,
  compute: bool = False,
  data_dir: str | None = None,
  derived: Sequence[Sequence[str]] = (),
) -> Path:
  """Writes the report of the finished sweep in `root` into `out` (see the module docstring).

  Args:
    root: the sweep root (`scripts/run_sweep.py --root`).
    out: the report directory, e.g. docs/results/attention_vs_fixed.
    title: the report's heading.
    command: the command line that ran the sweep and writes this report.
    metrics: metrics of results.json to tabulate and plot; the first ranks the groups and is
      the validation metric of the learning curves.
    split: the evaluation split that ranks the groups (and supplies a heatmap's source).
    question: what the sweep asks, in a sentence or two.
    reference: the published result it is compared with.
    findings: summary -> sentences saying what the numbers show.
    levels: validation levels of the first metric whose cost (steps, seconds) is tabulated.
    diagnose: a split to diagnose (sections.diagnostics_section), e.g. test_long; None: none.
    compute: whether to plot the first metric against training FLOPs.
    data_dir: where the runs' dataset lives (for the heatmaps' sources); default: $TFDS_DATA_DIR
      or ~/tensorflow_datasets, as for training.
    derived: the commands that wrote the rows under ROOT/references/ after the sweep (a sweep
      file's `derived` steps), listed in the report so that each row's origin is on the page.

  Returns:
    The path of README.md. A root with unfinished runs is a UserError naming them.
  """
  summary = summary_lib.read_summary(root, metrics, split)
  check_finished(summary, root)
  out = Path(out)
  out.mkdir(parents=True, exist_ok=True)
  launches = read_launches(summary.root)
  lines = [f"# {title}", ""] + ([question, ""] if question else [])
  provenance_lines, provenance = _provenance(summary, command, launches)
  lines += [*provenance_lines, ""]
  finding_lines = [] if findings is None else findings(summary)
  if finding_lines:
    lines += ["## What the numbers show", "", *finding_lines, ""]
  if reference:
    lines += ["## Reference", "", reference, ""]
  lines += _derived_lines(derived) + _results(summary)
  section_lines, record = _sections(summary, out, split, levels, compute, diagnose)
  lines += section_lines
  plot_files = [
    p.name for m in summary.metrics for p in summary_lib.plot_length_curves(summary, m, out)
  ]
  lines += ["## By source length", "", *[f"![{name}]({name})" for name in plot_files], ""]
  heatmaps = attention_heatmaps(summary, out, data_dir, splits=(split, diagnose))
  lines += _heatmap_lines(heatmaps)
  run_rows, run_records = _run_table(summary, launches)
  lines += ["## Runs", "", *run_rows, ""]
  path = out / REPORT_FILE
  _write_atomic(path, "\n".join(lines))
  summary_record = {
    **summary.record(),
    "sections": record,
    "plots": plot_files,
    "heatmaps": [n for _, n in heatmaps],
    "command": shlex.join(command),
    "derived": [shlex.join(argv) for argv in derived],
    "provenance": provenance,
    "findings": finding_lines,
    "runs": run_records,
  }
  _write_atomic(out / "summary.json", json.dumps(summary_record, indent=2, default=float) + "\n")
  return path


def check_finished(summary: summary_lib.Summary, root: str | Path) -> None:
  """A UserError naming the unfinished runs of the sweep in `root` (or saying it has none)."""
  if summary.unfinished or not summary.groups:
    more = ", ..." if summary.unfinished[5:] else ""
    raise UserError(
      f"{root}: {len(summary.unfinished)} unfinished run(s) "
      f"({', '.join(summary.unfinished[:5])}{more}); finish the sweep before "
      "writing its report"
    )


def _sections(
  summary: summary_lib.Summary,
  out: Path,
  split: str,
  levels: Sequence[float],
  compute: bool,
  diagnose: str | None,
) -> tuple[list[str], dict]:
  """The report's optional sections (sections.py) that have something to say, as lines, and
  their records by heading (see `write_report` for the arguments)."""
  metric = summary.metrics[0]
  extra = [
    ("Trained to its own best", sections.training_section(summary, out, metric, levels)),
    (
      "Quality against compute",
      sections.compute_section(summary, out, split, metric) if compute else ([], {}),
    ),
    ("Tuning", sections.tuning_section(summary)),
    (
      "Diagnostics: " + (diagnose or ""),
      sections.diagnostics_section(summary, out, diagnose) if diagnose else ([], {}),
    ),
  ]
  lines, record = [], {}
  for heading, (section, section_record) in extra:
    if section:
      lines += [f"## {heading}", "", *section]
      record[heading] = section_record
  return lines, record


def _heatmap_lines(heatmaps: list[tuple[str, str]]) -> list[str]:
  """The section of the attention heatmaps, (label, file name) each; none without heatmaps."""
  if not heatmaps:
    return []
  return [
    "## Attention on a long source",
    "",
    "The longest source of each split, decoded greedily by the first seed of each attention "
    "arm (rows: output tokens, columns: source tokens).",
    "",
    *[f"**{label}**\n\n![{label}]({name})\n" for label, name in heatmaps],
  ]


def _derived_lines(derived: Sequence[Sequence[str]]) -> list[str]:
  """The section listing the commands that wrote the rows under ROOT/references/."""
  if not derived:
    return []
  return [
    "## Rows made after the sweep",
    "",
    "The command above ran these after the last run finished, in this order (each is skipped "
    "when its output exists, so re-running the command resumes); none retrains a neural model "
    "of the sweep:",
    "",
    "```sh",
    *(shlex.join(argv) for argv in derived),
    "```",
    "",
  ]


def _results(summary: summary_lib.Summary) -> list[str]:
  """The result tables, and the differences the findings computed."""
  lines = [
    "## Results",
    "",
    f"Mean over seeds on each split, ranked by {summary.split} {summary.metrics[0]}, with a "
    f"{summary_lib.CONFIDENCE:.0%} interval that stays inside the metric's range: a two-level "
    "bootstrap (seeds, then test examples) where the runs wrote per-example outcomes; seeds "
    "that all agree read 'n/n seeds at v' with the Wilson interval of the pooled test examples; "
    "metrics without per-example outcomes show each seed's value. Parameter counts are exact.",
    "",
  ]
  for metric in summary.metrics:
    lines += [f"### {metric}", "", *summary.table(metric), ""]
  if summary.differences:
    lines += [
      "### Differences",
      "",
      "Each difference a finding states: A - B, with the percentile interval and the two-sided "
      "p-value of a paired bootstrap (the same test examples resampled for both, seeds "
      "resampled within each arm; sweeps/statistics.py).",
      "",
      "| A | B | split | metric | A - B [95% interval], p |",
      "| --- | --- | --- | --- | ---: |",
    ]
    lines += [
      f"| {d['a']} | {d['b']} | {d['split']} | {d['metric']} | {stats_lib.format_difference(d)} |"
      for d in summary.differences
    ]
    lines.append("")
  return lines


def read_launches(root: Path) -> list[dict]:
  """The records of ROOT/launches.jsonl (see `sweep.record_launch`); [] if there are none."""
  path = Path(root) / LAUNCHES_FILE
  if not path.exists():
    return []
  lines = [line for line in path.read_text().splitlines() if line.strip()]
  records = []
  for number, line in enumerate(lines, start=1):
    try:
      record = json.loads(line)
    except ValueError as e:
      if number == len(lines):  # the append of a launch killed mid-write: that launch is lost
        logging.warning("ignored the half-written last line of %s", path)
        break
      raise UserError(f"cannot read {path}: line {number} is not JSON ({e})") from None
    if not isinstance(record, dict):
      raise UserError(f"cannot read {path}: line {number} is not a JSON object")
    records.append(record)
  return records


def attention_heatmaps(
  summary: summary_lib.Summary,
  out: Path,
  data_dir: str | None = None,
  splits: Sequence[str | None] = ("test",),
) -> list[tuple[str, str]]:
  """For each attention arm and each of `splits`: the heatmap of the split's longest source,
  decoded by the arm's first seed. Returns [(label, file name)]."""
  written, sources = [], {}
  for group in summary.arms:
    first = group.runs[0]
    if first.config.get("model.decoder") not in ATTENTION_DECODERS:
      continue
    run = trained_run.load_run(first.workdir)
    data_config = run.config.data.copy_and_resolve_references()
    # This machine's data directory (TFDS_DATA_DIR), never a path recorded in the workdir.
    data_config.data_dir = data_dir or data.get_data_config(data_config.name).data_dir
    for split in dict.fromkeys(s for s in splits if s):
      key = json.dumps(data_config.to_dict(), sort_keys=True) + split
      if key not in sources:
        task = data.load_task(data_config, vocabs=(run.src_vocab, run.tgt_vocab))
        texts = task.source_texts(split)
        sources[key] = max(texts, key=lambda text: (len(run.src_vocab.tokenize(text)), text))
      translation = translate.Translator(run).translate([sources[key]])[0]
      label = f"{summary.label(group)}, {split}"
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
) -> tuple[list[str], dict]:
  """Command, date, machine, versions and wall time, as Markdown bullet lines and a record."""
  # Invocations that trained something; a re-run that only rewrites the report adds nothing.
  invocations = [r for r in launches if "sweep" in r and r["launched"]]
  runs = [r for r in launches if "run" in r and "seconds" in r]
  host = invocations[-1]["host"] if invocations else {}
  first = summary.groups[0].runs[0].workdir / CONFIG_FILE
  devices = json.loads(first.read_text()).get("devices", {})
  recorded = read_sweep_json(summary.root)
  per_run = _seconds_per_run(runs)
  record = {
    "sweep": (recorded or {}).get("sweep"),
    "started": _first_start(invocations, runs),
    "ended": runs[-1]["ended"] if runs else None,
    "host": host,
    "devices": devices,
    "invocations": len(invocations),
    "run_wall_seconds": per_run,
  }
  lines = [
    f"- **Command:** `{shlex.join(command)}` (sweep `{record['sweep'] or '?'}`)",
    f"- **Date:** {record['started']} to {record['ended'] or '?'} (UTC)",
    f"- **Machine:** {host.get('cpu', '?')}, {host.get('cores', '?')} cores; JAX platform "
    f"{devices.get('platform', '?')} ({devices.get('count', '?')} × {devices.get('kind', '?')})",
    f"- **Versions:** Python {host.get('python', '?')}, jax {host.get('jax', '?')}, flax "
    f"{host.get('flax', '?')}",
  ]
  if per_run:
    lines.append(
      f"- **Wall time:** the runs' launches add up to {duration(sum(per_run.values()))} (data "
      f"generation and compilation included); per run: median "
      f"{duration(statistics.median(per_run.values()))}, range "
      f"{duration(min(per_run.values()))}–{duration(max(per_run.values()))}; "
      f"{len(invocations)} completed invocation(s) of the launcher recorded"
    )
  lines.append(
    f"- **Runs:** {summary.num_runs} in {len(summary.arms)} arms"
    + (
      f" and {len(summary.groups) - len(summary.arms)} tuning trials"
      if len(summary.groups) > len(summary.arms)
      else ""
    )
    + f"; root `{summary.root}`"
  )
  return lines, record


def _first_start(invocations: list[dict], runs: list[dict]) -> str:
  """When the sweep began: its first recorded launcher invocation or run launch, whichever is
  earlier (an invocation cut short by a machine restart records nothing, its runs do)."""
  starts = [datetime.datetime.fromisoformat(r["started"]) for r in invocations]
  starts += [
    datetime.datetime.fromisoformat(r["ended"]) - datetime.timedelta(seconds=r["seconds"])
    for r in runs
  ]
  return min(starts).isoformat(timespec="seconds") if starts else "?"


def _seconds_per_run(run_launches: list[dict]) -> dict[str, float]:
  """Run name -> wall seconds summed over its launches (a resumed run has several)."""
  seconds = {}
  for record in run_launches:
    seconds[record["run"]] = seconds.get(record["run"], 0.0) + record["seconds"]
  return seconds


def _run_table(summary: summary_lib.Summary, launches: list[dict]) -> tuple[list[str], list]:
  """One row per run: name, seed, learning rate, parameters, selected and last step, why it
  stopped, training seconds and FLOPs, wall time, launches, the ranking metric on its split;
  and one record per run with those values and its whole results.json."""
  timed = [r for r in launches if "run" in r and "seconds" in r]
  per_run = _seconds_per_run(timed)
  count = {}
  for record in timed:
    count[record["run"]] = count.get(record["run"], 0) + 1
  metric, split = summary.metrics[0], summary.split
  rows = [
    "| run | seed | lr | params | step | trained | stopped | train time | training FLOPs | "
    f"wall time | launches | {split} {metric} |",
    "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
  ]
  records = []
  for group in summary.groups:
    for run in group.runs:
      top = run.name.split("/")[0]  # a stacked run's members share its launches
      results = run.results
      value = run.value(split, metric)
      records.append(
        {
          "run": run.name,
          "seed": run.config.get("seed"),
          "learning_rate": run.config.get("learning_rate"),
          "num_params": run.num_params,
          "stopped": run.stopped,
          "wall_seconds": per_run.get(top),
          "launches": count.get(top, 0),
          "results": results,
        }
      )
      cells = [
        run.name,
        str(run.config.get("seed")),
        f"{run.config.get('learning_rate'):g}",
        f"{run.num_params:,}",
        _number(results.get("step")),
        _number(results.get("last_step")),
        run.stopped or "–",
        "–" if results.get("train_seconds") is None else f"{results['train_seconds']:.0f} s",
        "–" if results.get("flops") is None else f"{results['flops']:.3g}",
        duration(per_run[top]) if top in per_run else "–",
        str(count.get(top, 0)),
        "–" if value is None else f"{value:.4f}",
      ]
      rows.append("| " + " | ".join(cells) + " |")
  return rows, records


def _number(value) -> str:
  return "–" if value is None else f"{value:,}"


def _write_atomic(path: Path, text: str) -> None:
  atomic_files.write_text(path, text)
