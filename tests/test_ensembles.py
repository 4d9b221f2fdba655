"""Ensembles: several runs (or a stacked run's members) combined inside the jitted greedy and beam
search; an ensemble of one run is that run; a stack's members decode as their solo runs do.

Runs: the session's quick `reverse:short,quick` run (seed 0), a stack of seeds 0 and 1 of the
same config, and the solo run of seed 1 with the stack's data order: member k of the stack *is*
the solo run of seed k (members.py), so the stack's ensemble must equal the solo runs'.
"""

import dataclasses
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import data_dir_of, load_config, run_command

from attn_seq2seq import evaluate as evaluate_cli
from attn_seq2seq import search
from attn_seq2seq.inference import ensembles, trained_run
from attn_seq2seq.inference.translate import Translator
from attn_seq2seq.run_files import RESULTS_FILE, TGT_VOCAB_FILE
from attn_seq2seq.training import train

SPECS = {
  "greedy": search.SearchSpec(max_len_a=1.0, max_len_b=5.0),
  "beam": search.SearchSpec(beam_size=3, n_best=3, alpha=0.6, max_len_a=1.0, max_len_b=5.0),
}


def quick_config(quick_reverse_run, **overrides):
  """The config of the session's quick run (its data directory too), with `overrides`."""
  config = load_config("reverse", "short,quick")
  config.data.data_dir = data_dir_of(quick_reverse_run)
  config.eval_every_steps = 100
  config.num_attention_plots = 0
  config.update(overrides)
  return config


@pytest.fixture(scope="module")
def runs(quick_reverse_run, tmp_path_factory):
  """Workdirs: `solo0` (the quick run), `solo1` (seed 1, the stack's data order), `stack`."""
  root = tmp_path_factory.mktemp("ensembles")
  train.train_and_evaluate(quick_config(quick_reverse_run, seeds=(0, 1)), root / "stack")
  train.train_and_evaluate(
    quick_config(quick_reverse_run, seed=1, data_order_seed=0), root / "solo1"
  )
  return {"solo0": quick_reverse_run, "solo1": root / "solo1", "stack": root / "stack"}


@pytest.fixture(scope="module")
def sources(runs):
  run = trained_run.load_run(runs["solo0"])
  symbols = run.src_vocab.tokens(range(4, run.src_vocab.size))
  rng = np.random.default_rng(2)
  return [" ".join(rng.choice(symbols, rng.integers(1, 11))) for _ in range(24)]


def batch_of(run, sources):
  flat, lengths = run.src_vocab.encode_batch(sources)
  src_ids = np.zeros((len(sources), 12), np.int32)
  for row, ids in enumerate(np.split(flat, np.cumsum(lengths)[:-1])):
    src_ids[row, : len(ids)] = ids
  return src_ids, lengths


@pytest.mark.parametrize("algorithm", ["greedy", "beam"])
def test_an_ensemble_of_one_run_is_that_run(runs, sources, algorithm):
  run = trained_run.load_run(runs["solo0"])
  batch, spec = batch_of(run, sources), SPECS[algorithm]
  alone = search.decode(run.model, run.variables, *batch, spec)
  one = search.decode((run.model,), (run.variables,), *batch, spec)
  for name in ("tokens", "lengths", "log_probs", "scores", "attn_weights"):
    np.testing.assert_array_equal(getattr(one, name), getattr(alone, name), err_msg=name)
  assert ensembles.load_runs(f"{runs['solo0']},")[0].workdir == run.workdir


@pytest.mark.parametrize("combination", ["log_linear", "linear"])
@pytest.mark.parametrize("algorithm", ["greedy", "beam"])
def test_an_ensemble_of_copies_of_a_run_decodes_as_the_run(runs, sources, algorithm, combination):
  """Combining identical distributions gives that distribution back, whichever combination."""
  run = trained_run.load_run(runs["solo0"])
  batch = batch_of(run, sources)
  spec = dataclasses.replace(SPECS[algorithm], ensemble=combination)
  alone = search.decode(run.model, run.variables, *batch, spec)
  copies = search.decode((run.model,) * 2, (run.variables,) * 2, *batch, spec)
  np.testing.assert_array_equal(copies.tokens, alone.tokens)
  np.testing.assert_allclose(copies.log_probs, alone.log_probs, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(copies.attn_weights, alone.attn_weights, atol=1e-6)


@pytest.mark.parametrize("beam_size", [1, 3])
def test_a_stacked_runs_members_decode_as_the_ensemble_of_its_solo_runs(runs, sources, beam_size):
  stack = ensembles.load_runs(runs["stack"])
  assert [r.workdir.name for r in stack] == ["seed_0", "seed_1"]
  solo = ensembles.load_runs(f"{runs['solo0']},{runs['solo1']}")
  options = {"beam_size": beam_size, "n_best": beam_size}
  from_stack = Translator(stack, **options).translate(sources)
  from_solo = Translator(solo, **options).translate(sources)
  single = Translator(solo[1], **options).translate(sources)
  assert [t.text for t in from_stack] != [t.text for t in single]  # not vacuous: 2 models
  for a, b in zip(from_stack, from_solo, strict=True):
    assert [h.tokens for h in a.hypotheses] == [h.tokens for h in b.hypotheses]
    np.testing.assert_allclose(
      [h.log_prob for h in a.hypotheses], [h.log_prob for h in b.hypotheses], atol=1e-5
    )


def test_runs_with_different_vocabularies_are_refused_naming_both(runs, tmp_path):
  other = tmp_path / "other"
  shutil.copytree(runs["solo0"], other)
  vocab = json.loads((other / TGT_VOCAB_FILE).read_text())
  vocab["tokens"][4], vocab["tokens"][5] = vocab["tokens"][5], vocab["tokens"][4]
  (other / TGT_VOCAB_FILE).write_text(json.dumps(vocab))
  with pytest.raises(trained_run.RunError) as error:
    ensembles.load_runs([runs["solo0"], other])
  message = str(error.value)
  assert str(runs["solo0"]) in message and str(other) in message and "\n" not in message
  assert "different target vocabularies" in message


def test_evaluating_copies_of_a_run_reproduces_its_metrics_in_the_results_dir(
  runs, tmp_path, monkeypatch
):
  """The ensemble's teacher-forced metrics come from its combined distribution (forced
  decoding); for copies of one run, that is the run's own."""
  solo0 = runs["solo0"]
  monkeypatch.setenv("TFDS_DATA_DIR", quick_config(solo0).data.data_dir)
  results_dir = tmp_path / "ensemble"
  run_command(evaluate_cli, workdir=f"{solo0},{solo0}", results_dir=results_dir, split="test")
  got = json.loads((results_dir / RESULTS_FILE).read_text())["test"]
  want = json.loads((solo0 / RESULTS_FILE).read_text())["test"]
  assert set(got) == set(want)
  for name, value in want.items():
    assert math.isclose(got[name], value, rel_tol=1e-4, abs_tol=1e-5), name
  record = json.loads((results_dir / "ensemble.json").read_text())
  assert record == {"runs": [str(solo0.resolve())] * 2}
  assert (results_dir / "outcomes" / "test.json").exists()


def test_a_stack_evaluates_as_an_ensemble_of_its_members(runs, tmp_path, monkeypatch):
  monkeypatch.setenv("TFDS_DATA_DIR", quick_config(runs["solo0"]).data.data_dir)
  results_dir = tmp_path / "stack_ensemble"
  run_command(
    evaluate_cli, workdir=runs["stack"], results_dir=results_dir, split="test", ensemble="linear"
  )
  results = json.loads((results_dir / RESULTS_FILE).read_text())
  assert set(results) == {"test/linear"} and results["test/linear"]["count"] == 16
  members = json.loads((results_dir / "ensemble.json").read_text())["runs"]
  assert [Path(m).name for m in members] == ["seed_0", "seed_1"]
