"""The final evaluation of a run (training/train.py, training/evaluation_variants.py): every test
split and every `extra_evaluations` key written to results.json with its per-example outcomes,
the training FLOPs counted, and the keys checked before anything is created."""

import json

import pytest

from attn_seq2seq import search
from attn_seq2seq.errors import ConfigError
from attn_seq2seq.inference.evaluate import results_key
from attn_seq2seq.metrics.outcomes import read_outcomes
from attn_seq2seq.run_files import METRICS_FILE, RESULTS_FILE
from attn_seq2seq.training import evaluation_variants, train

EXTRA = ("test/beam2", "test_long/oracle_length", "test/ablation_uniform", "test/ablation_shuffled")
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
  for key in ("test/beam5", "test/beam5/alpha0.6", "test_long/oracle_length"):
    variant = evaluation_variants.parse_variant(key, SPLITS)
    assert results_key(variant.split, search.SearchSpec(**variant.search_changes())) == key
