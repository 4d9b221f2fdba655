"""The final evaluation of a run (training/train.py, training/evaluation_variants.py): every test
split and every `extra_evaluations` key written to results.json with its per-example outcomes,
the training FLOPs counted, and the keys checked before anything is created."""

import json
import shutil

import pytest
from helpers import run_command

from attn_seq2seq import evaluate as evaluate_cli
from attn_seq2seq import search
from attn_seq2seq.errors import ConfigError
from attn_seq2seq.inference.evaluate import results_key
from attn_seq2seq.metrics.outcomes import read_outcomes
from attn_seq2seq.run_files import CONFIG_FILE, METRICS_FILE, RESULTS_FILE
from attn_seq2seq.training import evaluation_variants, train

EXTRA = (
  "test/beam2",
  "test_long/oracle_length",
  "test/ablation_uniform",
  "test/ablation_zero_context",
)
SPLITS = ("validation", "test", "test_long")


@pytest.fixture(scope="module")
def finished(tmp_path_factory, quick_reverse_config):
  config = quick_reverse_config(tmp_path_factory.mktemp("tfds"), steps=4)
  config.extra_evaluations = ",".join(EXTRA)
  workdir = tmp_path_factory.mktemp("run")
  results = train.train_and_evaluate(config, workdir)
  return workdir, results


def test_every_split_and_extra_evaluation_is_in_results_with_its_outcomes(finished):
  workdir, results = finished
  assert json.loads((workdir / RESULTS_FILE).read_text()) == results
  for key in ("test", "test_long", *EXTRA):
    outcomes = read_outcomes(workdir, key)
    assert outcomes.key == key and outcomes.step == results["step"]
    assert results[key]["count"] == len(outcomes)
    assert results[key]["exact_match"] == pytest.approx(outcomes.columns["exact"].mean())


def test_oracle_length_outputs_are_never_shorter_than_their_sources(finished):
  workdir, _ = finished
  columns = read_outcomes(workdir, "test_long/oracle_length").columns
  assert (columns["hyp_length"] >= columns["src_length"]).all()


def test_the_training_flops_are_counted_and_grow_with_every_record(finished):
  workdir, results = finished
  records = [json.loads(line) for line in (workdir / METRICS_FILE).read_text().splitlines()]
  flops = [r["train/flops"] for r in records if "train/flops" in r]
  assert flops and flops == sorted(flops) and flops[0] > 0
  assert results["flops"] == flops[-1]


@pytest.mark.parametrize(
  "key, fragment",
  [
    ("nope/beam5", "names no evaluation split"),
    ("test", "is the plain split"),
    ("test/oracle_length/beam5", "parts in that order"),
    ("test/alpha0.6", "alpha only applies to beam search"),
    ("test/ablation_random", "unknown ablation 'random'"),
    ("test/beam0", "is not <split>"),
  ],
)
def test_a_bad_extra_evaluation_is_a_one_line_error(key, fragment):
  with pytest.raises(ConfigError, match=fragment):
    evaluation_variants.parse_variants([key], SPLITS)


def test_a_variant_spells_the_key_evaluate_writes():
  keys = ("test/beam5", "test/beam5/alpha0.6", "test_long/oracle_length", "test/ablation_uniform")
  for key in (*keys, "test_long/oracle_length/ablation_zero_context"):
    variant = evaluation_variants.parse_variant(key, SPLITS)
    spec = search.SearchSpec(**variant.search_changes())
    assert results_key(variant.split, spec, ablation=variant.ablation) == key


def test_evaluate_with_an_ablation_after_training_equals_the_extra_evaluation(finished, tmp_path):
  """`evaluate --ablation` on a finished run (e.g. a sweep's derived step) writes what training's
  `extra_evaluations` wrote under the same key."""
  trained, results = finished
  workdir = shutil.copytree(trained, tmp_path / "run")
  key = "test/ablation_zero_context"
  without = {k: v for k, v in results.items() if k != key}
  (workdir / RESULTS_FILE).write_text(json.dumps(without))
  (workdir / "outcomes" / f"{key}.json").unlink()
  data_dir = json.loads((workdir / CONFIG_FILE).read_text())["config"]["data"]["data_dir"]
  run_command(
    evaluate_cli, workdir=workdir, split="test", ablation="zero_context", data_dir=data_dir
  )
  again = json.loads((workdir / RESULTS_FILE).read_text())
  assert set(again) == set(results)
  assert again[key] == pytest.approx(results[key], rel=1e-5, abs=1e-6)
  assert again[key]["loss"] != pytest.approx(results["test"]["loss"])  # the context mattered
  assert read_outcomes(workdir, key).key == key
