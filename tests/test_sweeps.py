"""Sweeps: every experiments/*.py expands to valid runs (the baselines size-matched to attention);
run_sweep.py validates up front, trains, and resumes; summarize.py groups seeds into a table and
length plots.

The only training is two `quick` runs (4 steps each, as subprocesses of run_sweep.py, in parallel);
the summary is tested on a hand-made sweep root.
"""

import contextlib
import functools
import io
import json
import re
from pathlib import Path

import pytest
from helpers import ROOT, load_module, load_script

from attn_seq2seq.metrics.outcomes import write_outcomes
from attn_seq2seq.models import SCORERS, ModelConfig, abstract_params, build_model, count_params
from attn_seq2seq.run_files import CONFIG_FILE, LOG_FILE, MEMBERS_DIR, RESULTS_FILE, SWEEP_FILE
from attn_seq2seq.sweeps import define, summary, sweep

SWEEP_FILES = sorted((ROOT / "experiments").glob("*.py"))
pytestmark = pytest.mark.usefixtures("in_repo_root")  # sweeps name configs from the root
SPECS = [f"experiments/{p.name}{arg}" for p in SWEEP_FILES for arg in ("", ":cpu", ":quick")]


def run_seeds(run: dict) -> tuple[int, ...]:
  """The seeds a run of a sweep trains: its `seeds` (stacked) or its one `seed` (default 0)."""
  overrides = run["overrides"]
  if "seeds" in overrides:
    return tuple(int(s) for s in str(overrides["seeds"]).split(","))
  return (int(overrides.get("seed", 0)),)


@pytest.fixture(scope="module")
def sweeps(in_repo_root):
  return {spec: sweep.load_sweep(spec) for spec in SPECS}


def field(config, key: str):
  for part in key.split("."):
    config = config[part]
  return config


def _count_params(config, src_vocab: int, tgt_vocab: int) -> int:
  """The parameter count of an experiment config's model (shapes only)."""
  return _model_params(ModelConfig.of_experiment(config), src_vocab, tgt_vocab)


@functools.cache
def _model_params(model: ModelConfig, src_vocab: int, tgt_vocab: int) -> int:
  """Traced once per model: a sweep's runs share a few models (its learning rates, seeds and
  size-matched targets repeat them)."""
  return count_params(abstract_params(build_model(model, src_vocab, tgt_vocab)))


# -- sweep definitions --------------------------------------------------------------------------


def test_expected_sweeps_exist_and_document_their_command():
  assert {"attention_vs_fixed", "scorers"} <= {p.stem for p in SWEEP_FILES}
  for path in SWEEP_FILES:
    docstring = load_module(path).__doc__
    assert f"python scripts/run_sweep.py --sweep=experiments/{path.name}" in docstring
    assert "python scripts/summarize.py --root=" in docstring


@pytest.mark.parametrize("spec", SPECS)
def test_names_are_unique_and_filesystem_safe(spec, sweeps):
  names = [run["name"] for run in sweeps[spec]]
  assert len(names) == len(set(names))
  assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name) for name in names)
  if spec.endswith(":quick"):
    assert len(names) <= 12 and all("quick" in run["config"] for run in sweeps[spec])


@pytest.mark.parametrize("spec", SPECS)
def test_every_override_applies_to_its_config(spec, sweeps):
  for run in sweeps[spec]:
    config = sweep.run_config(run)  # what run_sweep.py validates with
    for key, value in run["overrides"].items():
      if key == "seeds":  # '0,1,2' on the command line, a tuple in the config
        value = run_seeds(run)
      if key == "learning_rates":  # '0.001,0.003' on the command line, a tuple in the config
        value = tuple(float(x) for x in value.split(","))
      assert field(config, key) == value, (run["name"], key)


def test_attention_vs_fixed_covers_every_arm_size_and_seed_with_one_tuning_budget(sweeps):
  module = load_module(ROOT / "experiments/attention_vs_fixed.py")
  solo = {
    "experiments/attention_vs_fixed.py": sweep.load_sweep("experiments/attention_vs_fixed.py:solo"),
    "experiments/attention_vs_fixed.py:cpu": sweeps["experiments/attention_vs_fixed.py:cpu"],
  }
  for spec, runs in solo.items():
    assert {re.match(r"(.+)_h[0-9]+_", r["name"]).group(1) for r in runs} == set(module.ARMS)
    assert {seed for r in runs for seed in run_seeds(r)} == {0, 1, 2}
    trials = [r for r in runs if "select" not in r]
    tuned = [r for r in runs if "select" in r]
    assert len(trials) == len(module.LR_GRID) * len(module.ARMS) * (1 if ":cpu" in spec else 2)
    assert {r["overrides"]["learning_rate"] for r in trials} == set(module.LR_GRID)
    assert all(r["select"]["split"] == "validation" for r in tuned)  # never chosen on test
    assert all(r["overrides"]["early_stopping.patience"] > 0 for r in runs)
  full = sweeps["experiments/attention_vs_fixed.py"]  # stacked: one run per arm and budget
  assert len({r["overrides"]["model.attention_size"] for r in full}) >= 2  # two budgets
  assert {re.fullmatch(r"(.+)_h[0-9]+", r["name"]).group(1) for r in full} == set(module.ARMS)
  grid = {(lr, seed) for lr in module.LR_GRID for seed in module.SEEDS}
  for run in full:  # every (learning rate, seed) pair a member, chosen on validation afterwards
    rates = [float(x) for x in run["overrides"]["learning_rates"].split(",")]
    assert sorted(zip(rates, run_seeds(run), strict=True)) == sorted(grid)
    assert run["tuned_in_stack"]["split"] == "validation" and "select" not in run
  sutskever = [r for r in full if r["name"].startswith("sutskever")]
  assert all(r["overrides"]["data.reverse_source"] for r in sutskever)
  assert all(r["overrides"]["model.decoder_layers"] == 2 for r in sutskever)


@pytest.mark.parametrize(
  "spec",
  [
    "experiments/attention_vs_fixed.py",
    "experiments/attention_vs_fixed.py:cpu",
    "experiments/attention_vs_fixed.py:quick",
  ],
)
def test_size_matched_runs_are_within_2_percent(spec, sweeps):
  vocab_size = load_module(ROOT / "experiments/attention_vs_fixed.py").vocab_size
  runs = [run for run in sweeps[spec] if run_seeds(run)[0] == 0]
  reference = {run["size_matched_to"]: run for run in runs if run["name"].startswith("bahdanau_")}

  def num_params(run):
    config = sweep.run_config(run)
    return _count_params(config, vocab_size(config), vocab_size(config))

  matched = [run for run in runs if not run["name"].startswith("bahdanau_")]
  assert {r["overrides"]["model.decoder"] for r in matched} == {
    "luong",
    "fixed_init",
    "fixed_context",
  }
  tolerance = 0.05 if spec.endswith(":quick") else 0.02  # hidden 16: coarse steps of size
  for run in matched:
    target = num_params(reference[run["size_matched_to"]])
    assert abs(num_params(run) / target - 1) < tolerance, run["name"]


@pytest.mark.parametrize("spec", ["experiments/cmudict.py", "experiments/cmudict.py:cpu"])
def test_cmudict_baseline_is_size_matched_within_2_percent(spec, sweeps):
  module = load_module(ROOT / "experiments/cmudict.py")
  counts = {}
  for run in sweeps[spec]:
    config = sweep.run_config(run)
    counts[run["overrides"]["model.decoder"]] = _count_params(
      config, module.SRC_VOCAB, module.TGT_VOCAB
    )
  assert set(counts) == {"bahdanau", "fixed_init"}
  assert abs(counts["fixed_init"] / counts["bahdanau"] - 1) < 0.02
  assert all(r["select"]["metric"] == "wer" for r in sweeps[spec] if "select" in r)


def test_scorers_sweep_covers_every_scorer_with_one_decoder_and_parameter_free_dot(sweeps):
  runs = sweeps["experiments/scorers.py"]
  assert {r["overrides"]["model.scorer"] for r in runs} == set(SCORERS)
  assert len({r["overrides"]["model.decoder"] for r in runs}) == 1
  assert len({r["overrides"]["model.hidden_size"] for r in runs}) >= 2
  assert {seed for r in runs for seed in run_seeds(r)} == {0, 1, 2}
  assert all(r["overrides"]["model.split_directions"] for r in runs)  # dot has no parameters


# -- run_sweep.py -------------------------------------------------------------------------------

QUICK = "experiments/attention_vs_fixed.py:quick"
TRAINED = (
  "bahdanau_h16_lr0.001_s0",
  "bahdanau_h16_s1",
  "fixed_context_h16_lr0.001_s0",
  "fixed_context_h16_s1",
)


@pytest.fixture(scope="module")
def run_sweep():
  return load_script("run_sweep")


@pytest.fixture(scope="module")
def trained(run_sweep, tmp_path_factory):
  """Two arms of the quick attention_vs_fixed sweep (a trial and a tuned run each), trained two
  at a time: (root, output)."""
  root = tmp_path_factory.mktemp("sweep")
  with pytest.MonkeyPatch.context() as patch:
    patch.setenv("TFDS_DATA_DIR", str(tmp_path_factory.mktemp("tfds")))  # the runs' data
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
      status = run_sweep(
        [f"--sweep={QUICK}", f"--root={root}", "--only=^(bahdanau|fixed_context)_", "--parallel=2"]
      )
  assert status == 0, output.getvalue()
  return root, output.getvalue()


def test_run_sweep_trains_selected_runs_and_records_the_sweep(trained):
  root, output = trained
  for name in TRAINED:
    assert (root / name / RESULTS_FILE).exists(), output
    assert "--config=configs/reverse.py" in (root / name / LOG_FILE).read_text()
  assert not (root / "luong_h16_s1").exists()  # not selected by --only
  record = json.loads((root / SWEEP_FILE).read_text())
  assert record["sweep"] == QUICK and "--only=" in record["command"] and record["date"]
  assert [run["name"] for run in record["runs"]] == [run["name"] for run in sweep.load_sweep(QUICK)]
  assert "4/4 runs finished" in output
  assert "bahdanau_h16_s1: learning_rate=0.001 chosen on validation exact_match" in output


def test_trained_baseline_has_the_attention_models_parameter_count(trained):
  """The sweep's matching used the vocabulary and parameter count the runs really have."""
  root, _ = trained
  vocab_size = load_module(ROOT / "experiments/attention_vs_fixed.py").vocab_size
  bahdanau, fixed = (json.loads((root / name / CONFIG_FILE).read_text()) for name in TRAINED[::2])
  assert bahdanau["task"]["src_vocab_size"] == vocab_size(
    sweep.run_config(sweep.load_sweep(QUICK)[0])
  )
  assert abs(fixed["num_params"] / bahdanau["num_params"] - 1) < 0.02


def test_run_sweep_again_skips_finished_runs(trained, run_sweep, capsys):
  root, _ = trained
  logs = {name: (root / name / LOG_FILE).read_text() for name in TRAINED}
  assert run_sweep([f"--sweep={QUICK}", f"--root={root}", "--only=^(bahdanau|fixed_context)_"]) == 0
  assert "4 finished, 0 to run" in capsys.readouterr().out
  assert logs == {name: (root / name / LOG_FILE).read_text() for name in TRAINED}
  run_sweep([f"--sweep={QUICK}", f"--root={root}", "--dry_run"])
  lines = capsys.readouterr().out.splitlines()
  assert len(lines) == 12 and sum(line.startswith("# finished: ") for line in lines) == 4


@pytest.mark.parametrize(
  "key, value, message",
  [
    (
      "model.hiden_size",
      32,
      "run bad: unknown config field model.hiden_size; did you mean model.hidden_size?",
    ),
    ("model.hidden_size", "abc", "run bad: flag --config.model.hidden_size=abc: "),
    ("model.decoder", "banana", "run bad: unknown decoder 'banana'; valid choices: "),
  ],
)
def test_bad_override_is_a_one_line_error_before_anything_trains(
  key, value, message, run_sweep, tmp_path
):
  good = {"name": "good", "config": "configs/dates.py:quick", "overrides": {"seed": 1}}
  bad = {"name": "bad", "config": "configs/dates.py:quick", "overrides": {key: value}}
  sweep_file = tmp_path / "bad_sweep.py"
  sweep_file.write_text(f"def get_sweep(arg=None):\n  return {[good, bad]!r}\n")
  with pytest.raises(SystemExit) as error:
    run_sweep([f"--sweep={sweep_file}", f"--root={tmp_path / 'root'}"])
  assert str(error.value).startswith(f"error: {message}")
  assert "\n" not in str(error.value)
  assert not (tmp_path / "root").exists()


# -- summarize.py -------------------------------------------------------------------------------

# name -> (decoder, hidden size, seed, test exact match, test_long exact match)
FAKE_RUNS = {
  "bahdanau_s0": ("bahdanau", 256, 0, 0.5, 0.30),
  "bahdanau_s1": ("bahdanau", 256, 1, 0.7, 0.20),
  "bahdanau_s2": ("bahdanau", 256, 2, 0.9, 0.10),
  "fixed_init_s0": ("fixed_init", 382, 0, 0.2, 0.50),
  "fixed_init_s1": ("fixed_init", 382, 1, 0.4, 0.50),
}


def write_fake_run(workdir: Path, decoder, hidden_size, seed, test, test_long, finished=True):
  workdir.mkdir(parents=True)
  config = {
    "seed": seed,
    "model": {"decoder": decoder, "hidden_size": hidden_size},
    "data": {"name": "algorithmic/reverse_medium", "data_dir": f"/data/{seed}"},
  }
  record = {
    "config": config,
    "num_params": 1000 + hidden_size,
    "task": {"eval_splits": ["test", "test_long"]},
  }
  (workdir / CONFIG_FILE).write_text(json.dumps(record))
  if finished:
    split = lambda em: {
      "exact_match": em,
      "count": 10,
      "by_length/1-9/exact_match": em,
      "by_length/1-9/count": 4,
      "by_length/10-19/exact_match": em / 2,
      "by_length/10-19/count": 6,
    }
    results = {
      "step": 10,
      "validation": split(test),
      "test": split(test),
      "test_long": split(test_long),
    }
    (workdir / RESULTS_FILE).write_text(json.dumps(results))


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory):
  root = tmp_path_factory.mktemp("fake_sweep")
  for name, values in FAKE_RUNS.items():
    write_fake_run(root / name, *values)
  write_fake_run(root / "luong_s0", "luong", 300, 0, 0, 0, finished=False)  # still training
  names = [*FAKE_RUNS, "luong_s0", "never_started"]
  (root / SWEEP_FILE).write_text(json.dumps({"runs": [{"name": n} for n in names]}))
  return root


def test_summarize_groups_seeds_and_shows_each_seed_without_outcomes(fake_root, tmp_path, capsys):
  summarize = load_script("summarize")
  assert summarize([f"--root={fake_root}", f"--out={tmp_path}"]) == 0
  record = json.loads((tmp_path / "summary.json").read_text())
  assert record["varied_fields"] == ["model.decoder", "model.hidden_size"]  # not seed, data_dir
  first, second = record["groups"]  # ranked by test exact match, best first
  assert first["fields"] == {"model.decoder": "bahdanau", "model.hidden_size": 256}
  assert first["seeds"] == [0, 1, 2] and first["num_params"] == 1256
  test = first["metrics"]["exact_match"]["test"]
  assert test["mean"] == pytest.approx(0.7) and test["values"] == [0.5, 0.7, 0.9]
  assert test["interval"] is None  # no per-example outcomes: no interval is claimed
  assert first["by_length"]["test"]["exact_match"]["10-19"]["values"] == [0.25, 0.35, 0.45]
  assert second["seeds"] == [0, 1]
  assert record["unfinished"] == ["luong_s0", "never_started"]

  markdown = (tmp_path / "summary.md").read_text()
  assert markdown in capsys.readouterr().out
  assert (
    "| arm | decoder | hidden_size | seeds | params | test exact_match | test_long exact_match |"
    in markdown
  )
  assert (
    "| bahdanau | bahdanau | 256 | 3 | 1,256 | 0.700 (3 seeds: 0.500, 0.700, 0.900) |" in markdown
  )
  assert "| 2/2 seeds at 0.500 |" in markdown  # fixed_init on test_long: not an interval
  assert "Unfinished (no results.json): luong_s0, never_started" in markdown
  for split in ("test", "test_long"):
    assert (tmp_path / f"exact_match_vs_length_{split}.png").stat().st_size > 0
  assert not (tmp_path / "exact_match_vs_length_validation.png").exists()


def write_outcomes_of(workdir: Path, right: int, n: int = 300) -> None:
  """Per-example outcomes of `n` test examples of one run: example i is right iff i < right."""
  write_outcomes(
    workdir,
    "test",
    10,
    {
      "id": list(range(n)),
      "src_length": [5] * n,
      "hyp_length": [5] * n,
      "ref_length": [5] * n,
      "exact": [int(i < right) for i in range(n)],
      "edit_distance": [0 if i < right else 1 for i in range(n)],
    },
  )


@pytest.mark.parametrize("right", [[0, 0], [299, 300], [300, 300], [150, 180]])
def test_every_interval_stays_inside_zero_one(right, tmp_path):
  for seed, k in enumerate(right):
    write_fake_run(tmp_path / f"a_s{seed}", "bahdanau", 16, seed, k / 300, 0.0)
    write_outcomes_of(tmp_path / f"a_s{seed}", k)
  stats = summary.read_summary(tmp_path).groups[0].stats("test", "exact_match")
  low, high = stats["interval"]
  assert 0.0 <= low <= stats["mean"] <= high <= 1.0
  assert high > low  # never an interval of width 0
  if right[0] == right[1]:  # seeds that agree are said to agree, with the test set's range
    assert stats["text"].startswith("2/2 seeds at ")


def test_a_difference_is_paired_recorded_and_separates_only_a_real_gap(tmp_path):
  for name, rights in (("a", [280, 285]), ("b", [150, 160]), ("c", [281, 284])):
    for seed, k in enumerate(rights):
      write_fake_run(tmp_path / f"{name}_s{seed}", name, 16, seed, k / 300, 0.0)
      write_outcomes_of(tmp_path / f"{name}_s{seed}", k)
  result = summary.read_summary(tmp_path)
  a, b, c = (result.find(model__decoder=name)[0] for name in "abc")
  real = result.difference(a, b, "test", "exact_match")
  none = result.difference(a, c, "test", "exact_match")
  assert real["difference"] == pytest.approx((280 + 285 - 150 - 160) / 600)
  assert real["p_value"] < 0.01 and real["interval"][0] > 0
  assert none["p_value"] > 0.05 and none["interval"][0] < 0 < none["interval"][1]
  assert result.difference(a, b, "test", "exact_match") is real  # asked again: recorded once
  assert [d["b"] for d in result.record()["differences"]] == ["b", "c"]


def test_a_tuned_sweep_compares_each_arm_at_its_chosen_value(tmp_path):
  runs = define.tuned_group(
    "arm", "configs/reverse.py:short,quick", {}, grid={"learning_rate": (1e-3, 3e-3)}, seeds=(0, 1)
  )
  for run, em in zip(runs, (0.4, 0.6, 0.5), strict=True):
    write_fake_run(tmp_path / run["name"], "bahdanau", 16, run["overrides"]["seed"], em, 0.0)
    config = json.loads((tmp_path / run["name"] / CONFIG_FILE).read_text())
    config["config"]["learning_rate"] = run["overrides"].get("learning_rate", 3e-3)  # chosen
    (tmp_path / run["name"] / CONFIG_FILE).write_text(json.dumps(config))
  (tmp_path / SWEEP_FILE).write_text(json.dumps({"runs": runs}))
  result = summary.read_summary(tmp_path)
  (arm,) = result.arms  # the 3e-3 trial and the tuned seed 1; the 1e-3 trial is tuning only
  assert [r.name for r in arm.runs] == ["arm_lr0.003_s0", "arm_s1"]
  assert result.label(arm) == "arm" and len(result.groups) == 2
  assert result.record()["tuning"][0]["chosen"] == {"run": "arm_lr0.003_s0", "value": 3e-3}


def test_stacked_run_members_are_read_as_runs_of_one_group(tmp_path):
  for seed, (test, test_long) in enumerate([(0.5, 0.1), (0.7, 0.2), (0.9, 0.3)]):
    write_fake_run(
      tmp_path / "bahdanau" / MEMBERS_DIR / f"seed_{seed}", "bahdanau", 256, seed, test, test_long
    )
  (tmp_path / "bahdanau" / RESULTS_FILE).write_text("{}")  # the stacked run is finished
  write_fake_run(tmp_path / "fixed_init_s0", "fixed_init", 382, 0, 0.2, 0.0)
  result = summary.read_summary(tmp_path)
  bahdanau = next(g for g in result.groups if g.fields["model.decoder"] == "bahdanau")
  assert bahdanau.stats("test", "exact_match")["values"] == [0.5, 0.7, 0.9]
  assert [r.name for r in bahdanau.runs] == [f"bahdanau/members/seed_{k}" for k in range(3)]


def test_summarize_ranks_by_the_chosen_split(fake_root, tmp_path):
  summary.summarize(fake_root, split="test_long", out=tmp_path)
  groups = json.loads((tmp_path / "summary.json").read_text())["groups"]
  assert [g["fields"]["model.decoder"] for g in groups] == ["fixed_init", "bahdanau"]
  with pytest.raises(ValueError, match="unknown metric 'bleu'; valid choices: "):
    summary.summarize(fake_root, metric="bleu", out=tmp_path)


def test_a_run_is_finished_by_the_trainers_rule(tmp_path):
  """results.json with the final `step` is finished; one holding only entries `evaluate` added
  to an unfinished run, or one that cannot be read, is not (the sweep relaunches it)."""
  assert not sweep.is_finished(tmp_path / "missing")
  (tmp_path / RESULTS_FILE).write_text(json.dumps({"test/beam5": {"exact_match": 0.5}}))
  assert not sweep.is_finished(tmp_path)
  (tmp_path / RESULTS_FILE).write_text("{not json")
  assert not sweep.is_finished(tmp_path)
  (tmp_path / RESULTS_FILE).write_text(json.dumps({"step": 10, "test": {}}))
  assert sweep.is_finished(tmp_path)
