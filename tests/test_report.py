"""The published report of a sweep (attn_seq2seq/sweeps/report.py, scripts/reproduce.py): every
section, the plots and an attention heatmap from a real trained run, the wall time from the
launcher's records, no report for an unfinished sweep, and the sweeps' computed findings.

The root is hand-made: two seeds of one trained quick run (the session fixture, its config.json
edited to another seed) and two fake fixed-vector runs.
"""

import json
import shutil
from pathlib import Path

import pytest
from helpers import ROOT, load_module, run_script

from attn_seq2seq.errors import UserError
from attn_seq2seq.metrics.outcomes import outcomes_path, write_outcomes
from attn_seq2seq.run_files import (
  CHECKPOINTS_DIR,
  CONFIG_FILE,
  LAUNCHES_FILE,
  METRICS_FILE,
  RESULTS_FILE,
)
from attn_seq2seq.sweeps import report, summary


def fake_results(em: float) -> dict:
  split = {
    "exact_match": em,
    "token_accuracy": em,
    "count": 20,
    "by_length/1-4/exact_match": em,
    "by_length/1-4/count": 10,
    "by_length/5-9/exact_match": em / 2,
    "by_length/5-9/count": 10,
    "by_length/1-4/token_accuracy": em,
    "by_length/5-9/token_accuracy": em / 2,
  }
  return {
    "step": 4,
    "last_step": 6,
    "stop_reason": "early_stopping",
    "train_seconds": 3.0,
    "flops": 1e9,
    "validation": split,
    "test": split,
    "test_long": split,
  }


def write_fake_outcomes(workdir: Path, em: float, keys=("test", "test_long")) -> None:
  """The 16 examples of the quick run's splits, lengths 2..8 (by id), the first 16 * em right."""
  right = round(16 * em)
  for key in keys:
    write_outcomes(
      workdir,
      key,
      4,
      {
        "id": list(range(16)),
        "src_length": [2 + i % 7 for i in range(16)],
        "hyp_length": [2 + i % 7 for i in range(16)],
        "ref_length": [2 + i % 7 for i in range(16)],
        "exact": [int(i < right) for i in range(16)],
        "edit_distance": [0 if i < right else 2 for i in range(16)],
      },
    )


def write_fake_curve(workdir: Path, values: list[float]) -> None:
  lines = [
    {"step": 2 * (i + 1), "eval/exact_match": v, "train/seconds": float(i + 1)}
    for i, v in enumerate(values)
  ]
  (workdir / METRICS_FILE).write_text("".join(json.dumps(line) + "\n" for line in lines))


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
    fixed_record["config"]["num_train_steps"] = 20  # its fake results stop early, at step 6
    (fixed / CONFIG_FILE).write_text(json.dumps(fixed_record))
    em = (2 + 2 * seed) / 16  # 0.125, 0.25
    (fixed / RESULTS_FILE).write_text(json.dumps(fake_results(em)))
    write_fake_outcomes(fixed, em)
    write_fake_curve(fixed, [0.05, em, 0.1])
  with open(root / LAUNCHES_FILE, "w") as f:
    # fixed_init_s1's first launch began before the recorded invocation: one cut short by a
    # machine restart, which records nothing itself.
    for name, seconds, ended in [
      ("fixed_init_s1", 12.0, "2026-11-30T00:57:00+00:00"),
      ("bahdanau_s0", 30.0, "2026-11-30T01:00:00+00:00"),
      ("bahdanau_s1", 20.0, "2026-11-30T01:00:00+00:00"),
      ("fixed_init_s0", 10.0, "2026-11-30T01:00:00+00:00"),
      ("fixed_init_s1", 8.0, "2026-11-30T01:00:00+00:00"),
    ]:
      f.write(
        json.dumps({"ended": ended, "run": name, "status": "done", "seconds": seconds}) + "\n"
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

  def findings(summary):
    bahdanau, fixed = (summary.find(model__decoder=d)[0] for d in ("bahdanau", "fixed_init"))
    summary.difference(bahdanau, fixed, "test", "exact_match")
    return [f"{len(summary.arms)} arms."]

  path = report.write_report(
    root,
    tmp_path,
    title="T",
    command=["python", "x.py", "--a=1"],
    metrics=["exact_match", "token_accuracy"],
    question="Q?",
    reference="R.",
    findings=findings,
    levels=(0.15,),
    diagnose="test_long",
    compute=True,
    data_dir=data_dir,
    derived=[["python", "scripts/g2p_reference.py", "--workdir=runs/x/references/a b"]],
  )
  text = path.read_text()
  for section in (
    "# T",
    "Q?",
    "## What the numbers show",
    "2 arms.",
    "## Reference",
    "R.",
    "## Rows made after the sweep",
    "python scripts/g2p_reference.py '--workdir=runs/x/references/a b'",  # as a shell reads it
    "## Results",
    "### exact_match",
    "### token_accuracy",
    "### Differences",
    "## Trained to its own best",
    "## Quality against compute",
    "## Diagnostics: test_long",
    "## By source length",
    "## Attention on a long source",
    "## Runs",
  ):
    assert section in text, section
  assert "- **Command:** `python x.py --a=1`" in text
  assert "Test CPU, 2 cores" in text and "jax 0.10.2" in text
  assert "launches add up to 1m20s" in text  # every launch's record, resumed ones included
  assert "1 completed invocation(s)" in text  # the re-run that trained nothing is not counted
  assert "2026-11-30T00:56:48+00:00 to 2026-11-30T01:00:00+00:00" in text  # first run to last
  assert "| fixed_init_s1 | 1 | " in text and "| 0m20s | 2 |" in text  # two launches summed
  assert "Student's t" not in text
  assert "| 0.188 [" in text  # the bootstrap interval of seeds that differ (0.125, 0.25)
  assert "2/2 early" in text and "steps to 0.15" in text  # how the runs stopped, their cost
  for name in (
    "exact_match_vs_length_test.png",
    "exact_match_vs_length_test_long.png",
    "token_accuracy_vs_length_test.png",
    "learning_curve_exact_match_step.png",
    "exact_match_vs_training_flops_test.png",
    "hypothesis_length_test_long.png",
  ):
    assert (tmp_path / name).stat().st_size > 0, name
  heatmaps = sorted(tmp_path.glob("attention_*.png"))
  assert len(heatmaps) == 2 and all("bahdanau" in p.name for p in heatmaps)  # attention only
  assert f"]({heatmaps[0].name})" in text
  record = json.loads((tmp_path / "summary.json").read_text())
  assert record["command"] == "python x.py --a=1" and len(record["groups"]) == 2
  assert record["derived"] == ["python scripts/g2p_reference.py '--workdir=runs/x/references/a b'"]
  (difference,) = record["differences"]
  assert difference["split"] == "test" and 0 <= difference["p_value"] <= 1
  fixed = next(g for g in record["groups"] if "fixed_init" in g["label"])
  low, high = fixed["metrics"]["exact_match"]["test"]["interval"]
  assert 0 <= low <= 0.1875 <= high <= 1  # every printed interval is in summary.json, in [0, 1]
  assert "Diagnostics: test_long" in record["sections"]
  # the provenance, the findings and every run's row (with its results.json) are recorded too
  assert record["provenance"]["started"] == "2026-11-30T00:56:48+00:00"
  assert record["provenance"]["run_wall_seconds"]["fixed_init_s1"] == 20.0
  assert record["findings"] == ["2 arms."]
  fixed_s1 = next(r for r in record["runs"] if r["run"] == "fixed_init_s1")
  assert fixed_s1["launches"] == 2 and fixed_s1["stopped"] == "early"
  assert fixed_s1["results"] == json.loads((root / "fixed_init_s1" / RESULTS_FILE).read_text())


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


def write_run(
  workdir: Path, config: dict, em: float, stop: str = "early_stopping", extra: dict | None = None
) -> None:
  """A finished run's files with `em` everywhere; `extra`: more results.json entries (a key's
  metrics join those of `fake_results` under the same key)."""
  workdir.mkdir(parents=True)
  record = {"config": config, "num_params": 1000, "task": {"eval_splits": ["test", "test_long"]}}
  (workdir / CONFIG_FILE).write_text(json.dumps(record))
  results = {**fake_results(em), "stop_reason": stop, "last_step": 8}
  for key, metrics in (extra or {}).items():
    results[key] = {**results.get(key, {}), **metrics}
  lengths = [2 + i % 7 for i in range(16)]
  g2p = {"wer": 1 - em, "per": sum(2 for i in range(16) if i >= 16 * em) / sum(lengths)}
  for key in ("test", "test/beam5"):
    results[key] = {**results["test"], **g2p}
  (workdir / RESULTS_FILE).write_text(json.dumps(results))
  write_fake_outcomes(workdir, em, keys=("test", "test_long", "test/beam5"))
  write_fake_curve(workdir, [em / 2, em, em])


def test_attention_vs_fixed_findings_are_computed_from_the_numbers(tmp_path):
  findings = load_module(ROOT / "experiments/attention_vs_fixed.py").findings
  for arm, em in [("bahdanau", 1.0), ("luong", 1.0), ("fixed_init", 0.25), ("fixed_context", 0.5)]:
    for seed in (0, 1):
      decoder = arm
      config = {"seed": seed, "model": {"decoder": decoder, "attention_size": 64}}
      stop = "num_train_steps" if arm == "fixed_init" else "early_stopping"
      write_run(tmp_path / f"{arm}_h64_s{seed}", config, em, stop)
  result = summary.read_summary(tmp_path, "exact_match")
  text = " ".join(findings(result))
  assert "attention bahdanau 2/2 seeds at 1.000 (Wilson" in text
  assert "bahdanau - fixed_init = +0.750 [" in text and "(separated)" in text
  assert "fixed_init from 0.250 (1-4 symbols) to 0.125 (5-9)" in text
  # attention's own length bucket 5-9 is at 0.5: below 0.95, so not the paper's shape
  assert "not the shape of Bahdanau et al.'s Fig. 2" in text
  assert "fixed_init: 2/2 reached the cap" in text and "bahdanau: 2/2 stopped early" in text
  assert "more robust to sentence length" in text and "kept most of its BLEU" not in text
  assert {d["b"] for d in result.differences} == {"fixed_init_h64", "fixed_context_h64"}


def test_scorers_findings_rank_and_say_which_differences_separate(tmp_path):
  findings = load_module(ROOT / "experiments/scorers.py").findings
  means = {"dot": 0.875, "location": 0.5, "general": 0.8125, "cosine": 0.875, "additive": 0.25}
  for scorer, em in means.items():
    for seed in (0, 1, 2):
      config = {"seed": seed, "model": {"scorer": scorer, "hidden_size": 32}}
      write_run(tmp_path / f"luong_{scorer}_h32_s{seed}", config, em)
  result = summary.read_summary(tmp_path, "exact_match")
  text = " ".join(findings(result))
  assert "best first: cosine 3/3 seeds at 0.875 [" in text  # a tie, ranked by name
  assert "does not separate cosine from dot" in text  # equal outcomes: p = 1
  assert "`location` cannot extrapolate by construction" in text
  # 14/16 against 13/16 correct is no separation, 13/16 against 8/16 is
  assert "Table 4 the order here is dot ~ general > location (~: not separated" in text
  assert "dot > location > general" in text  # theirs, said as given to this project
  # the best against each other scorer, and Luong's neighbours (dot-general, general-location)
  assert len(result.differences) == 6


def test_scorers_findings_diagnose_test_long_from_the_diagnostics(tmp_path):
  findings = load_module(ROOT / "experiments/scorers.py").findings
  # cosine: 14/16 right, its attention on the copied position; dot: 8/16, attention elsewhere,
  # and 12/16 once EOS is suppressed until the source length
  for scorer, em, mass, oracle in [("cosine", 0.875, 0.9, 0.875), ("dot", 0.5, 0.4, 0.75)]:
    extra = {
      "test": {"gold_attention_mass": 0.95},
      "test_long": {"gold_attention_mass": mass},
      "test_long/oracle_length": {"exact_match": oracle},
      "test_long/ablation_uniform": {"exact_match": 0.125},
    }
    for seed in (0, 1):
      config = {"seed": seed, "model": {"scorer": scorer, "hidden_size": 32}}
      write_run(tmp_path / f"luong_{scorer}_h32_s{seed}", config, em, extra=extra)
  text = " ".join(findings(summary.read_summary(tmp_path, "exact_match")))
  assert (
    "dot: 0% of its test_long outputs are shorter than their source; outputs stop early: with "
    "EOS suppressed until the source length, exact match rises from 0.500 to 0.750; its gold "
    "attention mass falls from 0.950 (test) to 0.400 (test_long); with uniform attention it "
    "scores 0.125." in text
  )
  assert "cosine: 0% of its test_long outputs" in text
  assert "stopping early is not the cause (oracle lengths: 0.875 against 0.875)" in text
  assert (
    "The scorer that extrapolates best, cosine, is also the one whose attention stays on the "
    "copied position (test_long gold attention mass 0.900, the others 0.400-0.400)." in text
  )  # dot's oracle gain of 0.25: no claim that stopping is not what fails
  assert "With uniform attention no scorer exceeds 0.125 on test_long" in text


def test_scorers_ablate_every_run_after_the_sweep_where_evaluate_writes(tmp_path):
  derived = load_module(ROOT / "experiments/scorers.py").derived
  for scorer in ("dot", "cosine"):
    for seed in (0, 1):
      config = {"seed": seed, "model": {"scorer": scorer, "hidden_size": 32}}
      write_run(tmp_path / f"luong_{scorer}_h32_s{seed}", config, 0.5)
  steps = derived(summary.read_summary(tmp_path, "exact_match"), "python", data_dir="/data")
  assert len(steps) == 4 * 3  # every run, three ablations each
  for step in steps:
    flags = dict(arg[2:].split("=", 1) for arg in step.argv[3:])
    assert step.argv[:3] == ["python", "-m", "attn_seq2seq.evaluate"]
    assert flags["split"] == "test_long" and flags["data_dir"] == "/data"
    key = f"test_long/ablation_{flags['ablation']}"
    assert step.marker == outcomes_path(flags["workdir"], key)  # the file evaluate writes
  assert {dict(a.split("=") for a in s.argv[3:])["--ablation"] for s in steps} == {
    "uniform",
    "shuffled",
    "zero_context",
  }


def test_cmudict_averages_the_checkpoints_each_run_kept_and_evaluates_the_average(tmp_path):
  """The derived rows' steps: Phonetisaurus, the ensemble, then per seed the average of its
  latest checkpoints (at most AVERAGED, fewer where the run kept fewer) marked done by the
  results.json averaging writes last, and its evaluation marked done by its test outcomes."""
  module = load_module(ROOT / "experiments/cmudict.py")
  for seed, kept in ((0, (2, 4, 6, 8)), (1, (2, 4))):
    workdir = tmp_path / f"bahdanau_h128_s{seed}"
    write_run(workdir, {"seed": seed, "model": {"decoder": "bahdanau"}}, 0.5)
    for step in kept:
      (workdir / CHECKPOINTS_DIR / str(step)).mkdir(parents=True)
  steps = module.derived(summary.read_summary(tmp_path, "exact_match"), "python")
  assert [s.argv[1] for s in steps[:2]] == ["scripts/g2p_reference.py", "-m"]
  averaged = tmp_path / "references" / "bahdanau_averaged"
  for (average, evaluate), seed, last in zip(
    zip(steps[2::2], steps[3::2], strict=True), (0, 1), (module.AVERAGED, 2), strict=True
  ):
    out = averaged / f"bahdanau_h128_s{seed}"
    assert average.argv[1] == "scripts/average_checkpoints.py" and f"--last={last}" in average.argv
    assert average.marker == out / RESULTS_FILE
    assert f"--workdir={out}" in evaluate.argv and "--split=test" in evaluate.argv
    assert evaluate.marker == outcomes_path(out, "test")


def test_cmudict_findings_compare_with_the_same_split_reference(tmp_path):
  findings = load_module(ROOT / "experiments/cmudict.py").findings
  for decoder, em in [("bahdanau", 0.75), ("fixed_init", 0.5)]:
    for seed in (0, 1):
      config = {"seed": seed, "model": {"decoder": decoder}}
      write_run(tmp_path / f"{decoder}_h128_s{seed}", config, em)
  reference = tmp_path / "references" / "phonetisaurus"
  reference.mkdir(parents=True)
  (reference / RESULTS_FILE).write_text(json.dumps({"step": 0, "test": {"wer": 0.125}}))
  write_fake_outcomes(reference, 0.875, keys=("test",))
  result = summary.read_summary(tmp_path, "exact_match")
  result.metrics = ("exact_match",)
  text = " ".join(findings(result))
  assert "| phonetisaurus | greedy | – | 0.125 [" in text
  assert "| bahdanau (2 seeds) | beam 5 | 1,000 | 2/2 seeds at 0.250 [" in text
  assert "bahdanau - phonetisaurus = +0.125 [" in text  # in WER: the reference is better
  assert "No attention model of this CPU preset beats the same-split reference" in text
  assert "training past the cap" not in text  # these runs stopped early
  assert "fixed_init: 2/2 stopped early (at steps 8)" in text
  assert [d["b"] for d in result.differences].count("phonetisaurus") == 1  # recorded once
  assert "(indicative)" in text and "not this one" in text


def test_reproduce_rejects_an_unknown_result_in_one_line():
  result = run_script("reproduce", "no_such_sweep")
  assert result.returncode != 0
  assert result.stderr.strip().splitlines() == [
    "error: unknown result 'no_such_sweep'; valid choices: attention_vs_fixed, cmudict, scorers"
  ]


@pytest.mark.parametrize(
  ("reason", "last_step", "stopped"),
  [
    ("early_stopping", 6, "early"),
    ("early_stopping", 8, "cap"),  # patience ran out at the cap's own evaluation
    ("num_train_steps", 8, "cap"),
    (None, 8, None),  # a run from before early stopping says nothing
  ],
)
def test_a_run_stopped_early_only_before_the_cap(reason, last_step, stopped):
  results = {"last_step": last_step} | ({"stop_reason": reason} if reason else {})
  run = summary.RunResult("r", Path("r"), {"num_train_steps": 8}, 1, ("test",), results)
  assert run.stopped == stopped


def test_a_fixed_vector_arm_shows_no_scorer(tmp_path):
  for decoder, scorer in [("luong", "dot"), ("luong", "cosine"), ("fixed_init", "additive")]:
    config = {"seed": 0, "model": {"decoder": decoder, "scorer": scorer}}
    write_run(tmp_path / f"{decoder}_{scorer}_s0", config, 0.5)
  rows = summary.read_summary(tmp_path, "exact_match").table("exact_match")
  assert rows[0].startswith("| arm | decoder | scorer |")
  assert any(r.startswith("| fixed_init_additive | fixed_init | – |") for r in rows), rows
  assert any(r.startswith("| luong_dot | luong | dot |") for r in rows), rows
