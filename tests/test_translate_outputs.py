"""Hypotheses, scores and attention as data: n-best lists, JSON lines, .npz attention, and the
scoring of given pairs by forced decoding (translate --score_pairs).

The session's tiny `reverse:short,quick` run (conftest.py) serves every test; its outputs are
arbitrary but deterministic, which is all these invariants need.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import random_sentences, run_command, write_lines

from attn_seq2seq import search
from attn_seq2seq import translate as translate_cli
from attn_seq2seq.inference import pair_scoring, trained_run, translate
from attn_seq2seq.tokens import BOS_ID, PAD_ID


@pytest.fixture(scope="module")
def run(quick_reverse_run):
  return trained_run.load_run(quick_reverse_run)


@pytest.fixture(scope="module")
def lines(run):
  """20 sentences of 1-12 in-vocabulary symbols, with empty lines at 1 and 10."""
  return random_sentences(run.src_vocab, 20, seed=1, empty=(1, 10))


def translate_file(tmp_path: Path, workdir, lines, **flag_values) -> str:
  """Runs the command's `main` in-process on `lines`; returns what it wrote."""
  source, output = write_lines(tmp_path / "input.txt", lines), tmp_path / "output.txt"
  run_command(translate_cli, workdir=workdir, input=source, output=output, **flag_values)
  return output.read_text(encoding="utf-8")


def test_n_best_hypotheses_are_distinct_sorted_and_led_by_the_default_output(run, lines):
  n_best = translate.Translator(run, beam_size=4, alpha=0.6, n_best=4).translate(lines)
  default = translate.Translator(run, beam_size=4, alpha=0.6).translate(lines)
  for line, many, one in zip(lines, n_best, default, strict=True):
    if not line:
      assert many.hypotheses == [] and one.hypotheses == []
      continue
    assert len(many.hypotheses) == 4
    assert len({tuple(h.tokens) for h in many.hypotheses}) == 4
    scores = [h.score for h in many.hypotheses]
    assert scores == sorted(scores, reverse=True)
    for h in many.hypotheses:
      penalty = float(search.length_penalty(np.array(h.length), 0.6))
      assert h.score == pytest.approx(h.log_prob / penalty, rel=1e-6)
      assert h.length == len(h.tokens) and h.tokens[-1] == "</s>"
      assert h.attn_weights.shape == (h.length, len(many.src_tokens))
    top = many.hypotheses[0]
    assert (top.text, top.tokens) == (one.text, one.tgt_tokens) == (many.text, many.tgt_tokens)
    assert top.attn_weights.tobytes() == one.attn_weights.tobytes()


def test_text_n_best_writes_k_rows_per_translated_line(tmp_path, quick_reverse_run, lines):
  written = translate_file(tmp_path, quick_reverse_run, lines, beam_size=3, n_best=3)
  rows = [row.split("\t") for row in written.splitlines()]
  translated = [number for number, line in enumerate(lines, start=1) if line]
  assert [int(r[0]) for r in rows] == [n for n in translated for _ in range(3)]
  assert [int(r[1]) for r in rows] == [1, 2, 3] * len(translated)
  for first in range(0, len(rows), 3):
    scores = [float(r[2]) for r in rows[first : first + 3]]
    assert scores == sorted(scores, reverse=True)
  assert all(len(r) == 6 and int(r[4]) >= 1 for r in rows)


def test_jsonl_attention_rows_sum_to_one_over_real_source_positions(
  tmp_path, quick_reverse_run, lines
):
  options = {"beam_size": 2, "n_best": 2, "output_format": "jsonl", "with_attention": True}
  written = translate_file(tmp_path, quick_reverse_run, lines, **options)
  records = [json.loads(row) for row in written.splitlines()]
  assert [r["line"] for r in records] == list(range(1, len(lines) + 1))
  assert [r["source"] for r in records] == lines
  for record in records:
    if not record["source"]:
      assert record["hypotheses"] == []
      continue
    assert len(record["hypotheses"]) == 2
    for h in record["hypotheses"]:
      attention = np.array(h["attention"])
      assert attention.shape == (h["length"], len(record["src_tokens"]))
      assert h["length"] == len(h["tokens"]) and h["tokens"][-1] == "</s>"
      np.testing.assert_allclose(attention.sum(axis=1), 1.0, atol=1e-5)
      assert {"text", "tokens", "log_prob", "score", "length"} <= set(h)


def test_translate_with_uniform_attention_exports_uniform_rows(tmp_path, quick_reverse_run, lines):
  """`--ablation=uniform` reaches the model that decodes: every exported attention row is 1 / len
  over the line's source tokens (its EOS included)."""
  options = {"output_format": "jsonl", "with_attention": True, "ablation": "uniform"}
  written = translate_file(tmp_path, quick_reverse_run, lines, **options)
  for record in (json.loads(row) for row in written.splitlines()):
    for h in record["hypotheses"]:
      width = len(record["src_tokens"])
      np.testing.assert_allclose(np.array(h["attention"]), 1.0 / width, rtol=1e-5)


def test_attention_npz_holds_every_hypothesis_once_per_input_batch(
  tmp_path, quick_reverse_run, lines, run
):
  npz_dir = tmp_path / "npz"
  translate_file(
    tmp_path, quick_reverse_run, lines, beam_size=2, n_best=2, batch_size=7, attention_npz=npz_dir
  )
  files = sorted(p.name for p in npz_dir.iterdir())
  assert files == ["lines_000001-000007.npz", "lines_000008-000014.npz", "lines_000015-000020.npz"]
  results = translate.Translator(run, beam_size=2, n_best=2).translate(lines)
  arrays = {}
  for name in files:
    with np.load(npz_dir / name) as npz:
      arrays.update({key: npz[key] for key in npz.files})
  want = {
    f"line_{number:06d}_hyp_{rank}": h.attn_weights
    for number, result in enumerate(results, start=1)
    for rank, h in enumerate(result.hypotheses, start=1)
  }
  assert set(arrays) == set(want)
  for key, attention in want.items():
    np.testing.assert_array_equal(arrays[key], attention)


def test_scored_log_prob_of_a_greedy_hypothesis_equals_the_search_log_prob(
  tmp_path, quick_reverse_run, lines, run
):
  greedy = translate.Translator(run).translate(lines)
  special = set(run.tgt_vocab.tokens([PAD_ID, BOS_ID]))
  pairs = [  # hypotheses that survive as text (no PAD or BOS, which decoding drops)
    (line, g.text, g.hypotheses[0])
    for line, g in zip(lines, greedy, strict=True)
    if line and not special & set(g.tgt_tokens)
  ]
  assert len(pairs) >= 10
  written = translate_file(
    tmp_path,
    quick_reverse_run,
    [f"{src}\t{tgt}" for src, tgt, _ in pairs],
    score_pairs=True,
    output_format="jsonl",
    with_attention=True,
  )
  records = [json.loads(row) for row in written.splitlines()]
  for record, (_, _, hypothesis) in zip(records, pairs, strict=True):
    assert record["tokens"] == hypothesis.tokens
    assert record["log_prob"] == pytest.approx(hypothesis.log_prob, abs=1e-5, rel=1e-5)
    assert sum(record["token_log_probs"]) == pytest.approx(record["log_prob"], abs=1e-5)
    np.testing.assert_allclose(record["attention"], hypothesis.attn_weights, atol=1e-5)
  text = translate_file(
    tmp_path, quick_reverse_run, [f"{src}\t{tgt}" for src, tgt, _ in pairs], score_pairs=True
  )
  for row, record in zip(text.splitlines(), records, strict=True):
    log_prob, terms = row.split("\t")
    assert float(log_prob) == pytest.approx(record["log_prob"], abs=1e-6)
    assert len(terms.split()) == len(record["tokens"])


def test_pair_scores_do_not_depend_on_the_other_pairs(run, lines):
  pairs = [(line, line) for line in lines if line]  # any target will do
  scorer = pair_scoring.PairScorer(run)
  together = scorer.score(pairs)
  alone = [scorer.score([pair])[0] for pair in pairs[:5]]
  for a, b in zip(alone, together, strict=False):
    assert a.log_prob == b.log_prob and a.token_log_probs == b.token_log_probs
