"""Per-example outcomes written by the Evaluator (solo and stacked) for a real tiny trained run:
the terms of its aggregate metrics, one row per example in id order."""

import json

import jax
import numpy as np
import pytest

from attn_seq2seq import data
from attn_seq2seq.inference import trained_run
from attn_seq2seq.metrics.by_length import assign_buckets, bucket_labels, by_length_key
from attn_seq2seq.metrics.outcomes import COLUMNS
from attn_seq2seq.training import mesh as mesh_lib
from attn_seq2seq.training.evaluator import Evaluator, length_bucket_edges


@pytest.fixture(scope="module")
def evaluated(quick_reverse_run, tmp_path_factory):
  """The quick run's test split evaluated solo and as a stack of two copies of its params, with
  the G2P families (WER, PER) added to the task's own."""
  run = trained_run.load_run(quick_reverse_run)
  task = data.load_task(run.config.data, vocabs=(run.src_vocab, run.tgt_vocab))
  task.metrics = (*task.metrics, "wer", "per")
  mesh = mesh_lib.make_mesh()
  evaluator = Evaluator.for_config(run.model, task, mesh, run.config)
  params = jax.device_put(run.params, mesh_lib.replicated(mesh))
  out = tmp_path_factory.mktemp("outcomes")
  solo = evaluator.evaluate(params, "test", outcomes_path=out / "solo.json", step=run.step)
  stacked = jax.tree.map(lambda x: np.stack([x, x]), run.params)
  evaluator.evaluate_stack(
    jax.device_put(stacked, mesh_lib.replicated(mesh)),
    "test",
    plot_dirs=[None, None],
    outcomes_paths=[out / "m0.json", out / "m1.json"],
    results_key="test/stacked",
    step=run.step,
  )
  read = lambda name: json.loads((out / name).read_text())
  return run, task, solo, read("solo.json"), [read("m0.json"), read("m1.json")]


def test_outcomes_of_a_trained_run_agree_with_its_metrics(evaluated):
  run, task, metrics, record, _ = evaluated
  assert (record["split"], record["key"], record["step"]) == ("test", "test", run.step)
  columns = record["columns"]
  assert set(columns) == set(COLUMNS)
  assert columns["id"] == list(range(task.num_examples("test"))) == list(range(metrics["count"]))
  exact, distance = np.array(columns["exact"]), np.array(columns["edit_distance"])
  assert metrics["exact_match"] == pytest.approx(exact.mean())
  assert metrics["wer"] == pytest.approx(1 - exact.mean())
  assert metrics["per"] == pytest.approx(distance.sum() / np.sum(columns["ref_length"]))
  assert np.all((distance == 0) == (exact == 1))  # one reference per example here
  edges = length_bucket_edges(max(columns["src_length"]), run.config.length_bucket_width)
  buckets = assign_buckets(columns["src_length"], edges)
  for bucket, label in enumerate(bucket_labels(edges)):
    assert metrics[by_length_key(label, "count")] == np.sum(buckets == bucket)


def test_each_member_of_a_stack_writes_the_outcomes_of_the_same_solo_model(evaluated):
  _, _, _, solo, stacked = evaluated
  for member in stacked:
    assert member["key"] == "test/stacked"
    assert member["columns"] == solo["columns"]
