"""The published report of a sweep (attn_seq2seq/sweeps/report.py, scripts/reproduce.py): every
section, the plots and an attention heatmap from a real trained run, the wall time from the
launcher's records, no report for an unfinished sweep, and the sweeps' computed findings.

The root is hand-made: two seeds of one trained quick run (the session fixture, its config.json
edited to another seed) and two fake fixed-vector runs.
"""

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
from command_line import run_script

from attn_seq2seq.errors import UserError
from attn_seq2seq.run_files import CONFIG_FILE, LAUNCHES_FILE, RESULTS_FILE
from attn_seq2seq.sweeps import report, summary

ROOT = Path(__file__).resolve().parents[1]


def load_module(path: Path):
  spec = importlib.util.spec_from_file_location(f"test_report_{path.stem}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def fake_results(em: float) -> dict:
  split = {
    "exact_match": em,
    "token_accuracy": em,
    "count": 10,
    "by_length/1-4/exact_match": em,
    "by_length/1-4/count": 5,
    "by_length/5-9/exact_match": em / 2,
    "by_length/5-9/count": 5,
    "by_length/1-4/token_accuracy": em,
    "by_length/5-9/token_accuracy": em / 2,
  }
  return {"step": 4, "validation": split, "test": split, "test_long": split}


@pytest.fixture(scope="module")
def sweep_root(quick_reverse_run, tmp_path_factory):
  """ROOT with bahdanau seeds 0, 1 (real trained runs) and fixed_init seeds 0, 1 (fake)."""
  root = tmp_path_factory.mktemp("root")
  record = json.loads((quick_reverse_run / CONFIG_FILE).read_text())
  for seed in (0, 1):
    workdir = root / f"bahdanau_s{seed}"
    shutil.copytree(quick_reverse_run, workdir)
    record["config"]["seed"] = seed
    (workdir / CONFIG_FILE).write_text(json.dumps(record))
    fixed = root / f"fixed_init_s{seed}"
    fixed.mkdir()
    fixed_record = json.loads(json.dumps(record))
    fixed_record["config"]["model"]["decoder"] = "fixed_init"
    (fixed / CONFIG_FILE).write_text(json.dumps(fixed_record))
    (fixed / RESULTS_FILE).write_text(json.dumps(fake_results(0.1 + 0.1 * seed)))
  with open(root / LAUNCHES_FILE, "w") as f:
    for name, seconds in [
      ("bahdanau_s0", 30.0),
      ("bahdanau_s1", 20.0),
      ("fixed_init_s0", 10.0),
      ("fixed_init_s1", 12.0),
      ("fixed_init_s1", 8.0),
    ]:
      f.write(
        json.dumps(
          {"ended": "2026-11-30T01:00:00+00:00", "run": name, "status": "done", "seconds": seconds}
        )
        + "\n"
      )
    host = {"cpu": "Test CPU", "cores": 2, "python": "3.11", "jax": "0.10.2", "flax": "0.12.8"}
    f.write(
      json.dumps(
        {
          "ended": "2026-11-30T01:02:00+00:00",
          "sweep": "launch",
          "started": "2026-11-30T00:58:00+00:00",
          "seconds": 95.0,
          "launched": ["bahdanau_s0"],
          "host": host,
        }
      )
      + "\n"
    )
    # A later re-run that found every run finished (e.g. to rewrite the report) trains nothing.
    f.write(
      json.dumps(
        {
          "ended": "2026-11-30T02:00:00+00:00",
          "sweep": "launch",
          "started": "2026-11-30T02:00:00+00:00",
          "seconds": 1.0,
          "launched": [],
          "host": host,
        }
      )
      + "\n"
    )
  return root, record["config"]["data"]["data_dir"]


def test_report_has_every_section_plot_and_heatmap(sweep_root, tmp_path):
  root, data_dir = sweep_root
  path = report.write_report(
    root,
    tmp_path,
    title="T",
    command=["python", "x.py", "--a=1"],
    metrics=["exact_match", "token_accuracy"],
    question="Q?",
    reference="R.",
    findings=lambda s: [f"{len(s.groups)} groups."],
    data_dir=data_dir,
  )
  text = path.read_text()
  for section in (
    "# T",
    "Q?",
    "## What the numbers show",
    "2 groups.",
    "## Reference",
    "R.",
    "## Results",
    "### exact_match",
    "### token_accuracy",
    "## By source length",
    "## Attention on a long source",
    "## Runs",
  ):
    assert section in text, section
  assert "- **Command:** `python x.py --a=1`" in text
  assert "Test CPU, 2 cores" in text and "jax 0.10.2" in text
  assert "1m35s in total over 1 invocation(s)" in text  # the launcher's records
  assert "2026-11-30T00:58:00+00:00 to 2026-11-30T01:00:00+00:00" in text  # first to last run
  assert "| fixed_init_s1 | 1 | " in text and "| 0m20s | 2 |" in text  # two launches summed
  assert "Student's t" in text and "[" in text  # intervals in the tables
  for metric in ("exact_match", "token_accuracy"):
    for split in ("test", "test_long"):
      assert (tmp_path / f"{metric}_vs_length_{split}.png").stat().st_size > 0
  heatmaps = sorted(tmp_path.glob("attention_*.png"))
  assert [p.name for p in heatmaps] == ["attention_decoder_bahdanau.png"]  # attention only
  assert f"]({heatmaps[0].name})" in text
  record = json.loads((tmp_path / "summary.json").read_text())
  assert record["command"] == "python x.py --a=1" and len(record["groups"]) == 2


def test_no_report_for_an_unfinished_sweep(sweep_root, tmp_path):
  root, _ = sweep_root
  unfinished = tmp_path / "root"
  shutil.copytree(root, unfinished)
  (unfinished / "fixed_init_s1" / RESULTS_FILE).unlink()
  with pytest.raises(UserError, match="1 unfinished run.*fixed_init_s1"):
    report.write_report(
      unfinished, tmp_path / "out", title="T", command=["x"], metrics=["exact_match"]
    )
  assert not (tmp_path / "out" / report.REPORT_FILE).exists()


def write_run(workdir: Path, config: dict, em: float) -> None:
  workdir.mkdir(parents=True)
  record = {"config": config, "num_params": 1000, "task": {"eval_splits": ["test", "test_long"]}}
  (workdir / CONFIG_FILE).write_text(json.dumps(record))
  (workdir / RESULTS_FILE).write_text(json.dumps(fake_results(em)))


def test_attention_vs_fixed_findings_are_computed_from_the_numbers(tmp_path):
  findings = load_module(ROOT / "experiments/attention_vs_fixed.py").findings
  for decoder, em in [
    ("bahdanau", 1.0),
    ("luong", 0.99),
    ("fixed_init", 0.4),
    ("fixed_context", 0.5),
  ]:
    for seed in (0, 1):
      config = {
        "seed": seed,
        "model": {"decoder": decoder, "attention_size": 64, "hidden_size": 64},
      }
      write_run(tmp_path / f"{decoder}_s{seed}", config, em)
  text = " ".join(findings(summary.read_summary(tmp_path, "exact_match")))
  assert "1.0000 (bahdanau), 0.9900 (luong)" in text
  assert "fixed_init from 0.4000 (1-4 symbols) to 0.2000 (5-9)" in text
  # attention's own length bucket 5-9 is at 0.5: below 0.95, so not the paper's shape
  assert "differs from Bahdanau et al.'s Fig. 2" in text


def test_scorers_findings_rank_and_compare_with_luong(tmp_path):
  findings = load_module(ROOT / "experiments/scorers.py").findings
  means = {
    "dot": 0.9,
    "location": 0.8,
    "general": 0.7,
    "scaled_dot": 0.6,
    "cosine": 0.5,
    "additive": 0.4,
  }
  for scorer, em in means.items():
    for seed in (0, 1, 2):
      config = {"seed": seed, "model": {"scorer": scorer, "hidden_size": 32}}
      write_run(tmp_path / f"{scorer}_s{seed}", config, em + 0.01 * seed)
  text = " ".join(findings(summary.read_summary(tmp_path, "exact_match")))
  assert "best first: dot 0.9100, location 0.8100, general 0.7100" in text
  assert "dot's 95% interval lies above every other scorer's" in text
  assert "dot > location > general, as in their Table 4" in text
  assert "ranks 6 of 6, in the lower half" in text


def test_reproduce_rejects_an_unknown_result_in_one_line():
  result = run_script("reproduce", "no_such_sweep")
  assert result.returncode != 0
  assert result.stderr.strip().splitlines() == [
    "error: unknown result 'no_such_sweep'; valid choices: attention_vs_fixed, cmudict, scorers"
  ]
