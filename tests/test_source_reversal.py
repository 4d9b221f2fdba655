"""`data.reverse_source`: every source read in reverse, in training, evaluation and translate,
with the gold alignments of copy and reverse mapped through the reversal."""

import dataclasses
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import data_dir_of, run_command

from attn_seq2seq import data
from attn_seq2seq import evaluate as evaluate_cli
from attn_seq2seq.data.source_reversal import (
  ReversedSourceVocabulary,
  reverse_flat_within_lengths,
  source_vocabulary,
)
from attn_seq2seq.inference import trained_run, translate
from attn_seq2seq.run_files import CONFIG_FILE, RESULTS_FILE
from attn_seq2seq.training import train


def test_reversal_within_lengths_is_an_involution_reversing_each_sequence():
  rng = np.random.default_rng(0)
  lengths = np.array([3, 0, 1, 5, 2])
  flat = rng.integers(0, 100, lengths.sum())
  reversed_flat = reverse_flat_within_lengths(flat, lengths)
  pieces = np.split(flat, np.cumsum(lengths)[:-1])
  np.testing.assert_array_equal(reversed_flat, np.concatenate([p[::-1] for p in pieces]))
  np.testing.assert_array_equal(reverse_flat_within_lengths(reversed_flat, lengths), flat)


def test_a_reversed_source_vocabulary_reads_every_text_backwards():
  plain = data.TokenVocabulary.build(["a b c", "d e"], "word")
  vocab = source_vocabulary(plain, True)
  texts = ["a b c", "", "e d a x"]
  flat, lengths = vocab.encode_batch(texts)
  for text, ids in zip(texts, np.split(flat, np.cumsum(lengths)[:-1]), strict=True):
    assert list(ids) == plain.encode(text)[::-1] == vocab.encode(text)
    assert vocab.tokenize(text) == plain.tokenize(text)[::-1]
    assert vocab.tokens(ids) == plain.tokens(ids)
  assert vocab.to_json() == plain.to_json()  # the file is the plain vocabulary
  assert source_vocabulary(vocab, True).vocabulary is plain  # never wrapped twice
  assert source_vocabulary(vocab, False) is plain


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp("tfds"))


@pytest.mark.parametrize("dataset,gold", [("reverse", "copy"), ("copy", "reverse")])
def test_reversed_sources_map_the_gold_alignment_through_the_reversal(data_dir, dataset, gold):
  """With reversed sources, output i of `reverse` is source position i (and `copy` becomes
  `reverse`): checked on the ids of every validation example, not just on the name."""
  cfg = data.get_data_config(
    name=f"algorithmic/{dataset}_short", data_dir=data_dir, num_train=200, num_eval=20
  )
  plain_task = data.load_task(cfg)
  cfg.reverse_source = True
  task = data.load_task(cfg)
  assert plain_task.gold_alignment == dataset and task.gold_alignment == gold
  for plain_batch, batch in zip(
    plain_task.eval_batches("validation", 8), task.eval_batches("validation", 8), strict=True
  ):
    for row in np.flatnonzero(batch["example_ids"] >= 0):
      n, out = batch["src_lengths"][row], batch["tgt_out"][row]
      src = batch["src_ids"][row, :n]
      np.testing.assert_array_equal(src, plain_batch["src_ids"][row, :n][::-1])
      gold_positions = np.arange(n) if gold == "copy" else np.arange(n)[::-1]
      source_tokens = task.src_vocab.tokens(src[gold_positions])  # output i reads gold(i)
      assert task.tgt_vocab.tokens(out[:n]) == source_tokens


@pytest.fixture(scope="module")
def reversed_run(tmp_path_factory, quick_reverse_config):
  """A trained `configs/reverse.py:short,quick` run (3 steps) with `data.reverse_source`."""
  config = quick_reverse_config(tmp_path_factory.mktemp("tfds"))
  config.data.reverse_source = True
  workdir = tmp_path_factory.mktemp("run")
  train.train_and_evaluate(config, workdir)
  return workdir


def test_translate_reads_reversed_sources_from_the_runs_config(reversed_run):
  run = trained_run.load_run(reversed_run)
  assert isinstance(run.src_vocab, ReversedSourceVocabulary)
  plain_run = dataclasses.replace(run, src_vocab=run.src_vocab.vocabulary)
  symbols = run.src_vocab.tokens(range(4, run.src_vocab.size))
  lines = [" ".join(symbols[i % len(symbols)] for i in range(k, 2 * k + 1)) for k in (2, 4, 5)]
  backwards = [" ".join(line.split()[::-1]) for line in lines]
  got = translate.Translator(run).translate(lines)
  want = translate.Translator(plain_run).translate(backwards)
  unreversed = translate.Translator(plain_run).translate(lines)  # what a forgotten option gives
  for g, w, u in zip(got, want, unreversed, strict=True):
    assert g.text == w.text and g.src_tokens == w.src_tokens == u.src_tokens[::-1]
    np.testing.assert_allclose(g.attn_weights, w.attn_weights, atol=1e-6)
    assert np.abs(g.attn_weights[0] - u.attn_weights[0]).max() > 1e-4  # the first step's


def _evaluate(workdir: Path, split: str) -> dict:
  run_command(evaluate_cli, workdir=workdir, split=split, data_dir=data_dir_of(workdir))
  return json.loads((workdir / RESULTS_FILE).read_text())[split]


def test_evaluate_reads_reversed_sources_from_the_runs_config(reversed_run, tmp_path):
  workdir = tmp_path / "run"
  shutil.copytree(reversed_run, workdir)
  recorded = json.loads((workdir / RESULTS_FILE).read_text())
  trained = recorded["test"]
  (workdir / RESULTS_FILE).write_text(json.dumps({**recorded, "test": {"exact_match": -1.0}}))
  results = _evaluate(workdir, "test")
  assert set(results) == set(trained)
  for name, value in trained.items():
    assert math.isclose(results[name], value, rel_tol=1e-5, abs_tol=1e-6), name
  # The control: the same parameters with the option edited out of config.json score otherwise.
  record = json.loads((workdir / CONFIG_FILE).read_text())
  record["config"]["data"]["reverse_source"] = False
  (workdir / CONFIG_FILE).write_text(json.dumps(record))
  unreversed = _evaluate(workdir, "test")
  assert unreversed["gold_attention_mass"] != pytest.approx(trained["gold_attention_mass"])
