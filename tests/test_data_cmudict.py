"""CMUdict G2P builder: split by word, ARPAbet targets, every pronunciation kept."""

import re

import pytest
from helpers import ROOT, load_module

from attn_seq2seq import data
from attn_seq2seq.data import cmudict_g2p, records

ARPABET_39 = set(
  "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W "
  "Y Z ZH".split()
)
VOWELS = {p for p in ARPABET_39 if p[0] in "AEIOU"}


@pytest.fixture(scope="module")
def prepared(cmudict_prepared):
  """The no_stress splits as prepared by TFDS, what the builder printed, and the task: the
  session's preparation (conftest's `cmudict_prepared`, shared with the tests that train on
  CMUdict), read back."""
  data_dir, printed = cmudict_prepared
  task = data.load_task(data.get_data_config(name="cmudict_g2p/no_stress", data_dir=data_dir))
  builder = cmudict_g2p.CmudictG2p(config="no_stress", data_dir=data_dir)  # Reuses the files.
  splits = {
    split: records.read_text_features(builder, split, ["word", "pronunciations"])
    for split in cmudict_g2p.SPLITS
  }
  return splits, printed, task


def test_split_sizes_are_printed_and_about_90_5_5(prepared):
  splits, printed, _ = prepared
  sizes = {split: len(columns["word"]) for split, columns in splits.items()}
  total = sum(sizes.values())
  assert total > 120_000
  assert abs(sizes["train"] / total - 0.90) < 0.01
  assert abs(sizes["validation"] / total - 0.05) < 0.01 and abs(sizes["test"] / total - 0.05) < 0.01
  for split, size in sizes.items():
    assert re.search(rf"{split} {size:,} words \([\d,]+ pronunciations\)", printed)


def test_no_word_is_in_two_splits(prepared):
  splits, _, _ = prepared
  words = [word for columns in splits.values() for (word,) in columns["word"]]
  assert len(words) == len(set(words))


def test_every_phone_is_one_of_the_39_arpabet_phones_without_stress(prepared):
  splits, _, _ = prepared
  phones = {
    phone
    for columns in splits.values()
    for pronunciations in columns["pronunciations"]
    for p in pronunciations
    for phone in p.split()
  }
  assert phones == ARPABET_39


def test_words_keep_all_their_distinct_pronunciations(prepared):
  splits, _, _ = prepared
  by_word = {
    word: p
    for columns in splits.values()
    for (word,), p in zip(columns["word"], columns["pronunciations"], strict=True)
  }
  assert sorted(by_word["tomato"]) == ["T AH M AA T OW", "T AH M EY T OW"]
  assert all(len(p) == len(set(p)) >= 1 for p in by_word.values())
  assert sum(len(p) > 1 for p in by_word.values()) > 5_000


def test_with_stress_keeps_stress_digits_on_vowels_only_and_the_same_split():
  with_stress = cmudict_g2p.generate_splits(cmudict_g2p.CmudictConfig(name="s", stress=True))
  for split, words in with_stress.items():
    for word, pronunciations in words[::50]:
      assert cmudict_g2p.split_of(word, seed=0) == split
      for phone in " ".join(pronunciations).split():
        base, stress = phone.rstrip("012"), phone[len(phone.rstrip("012")) :]
        assert base in ARPABET_39
        assert (stress in ("0", "1", "2")) if base in VOWELS else stress == ""


def test_training_uses_every_pronunciation_and_evaluation_lists_them_all(prepared):
  splits, _, task = prepared
  assert task.src_vocab.kind == "char" and task.tgt_vocab.kind == "word"
  assert {"wer", "per", "exact_match"} <= set(task.metrics)
  train_pairs = {
    (i, p)
    for i, pronunciations in enumerate(splits["train"]["pronunciations"])
    for p in pronunciations
  }
  batches, seen = task.train_batches(batch_size=512, seed=0), set()
  while batches.get_state()["epoch"] == 0:
    batch = next(batches)
    rows = zip(batch["example_ids"], batch["tgt_out"], batch["tgt_lengths"], strict=True)
    for example, tgt_out, length in rows:
      seen.add((int(example), task.tgt_vocab.decode(tgt_out[:length])))
  assert seen == train_pairs
  references = task.references("test")
  for i, pronunciations in enumerate(splits["test"]["pronunciations"]):
    assert references[i] == [p.split() for p in pronunciations]


def test_the_cmudict_sweeps_vocabulary_sizes_are_the_tasks(prepared):
  """experiments/cmudict.py size-matches its baseline with these constants, not a data load."""
  _, _, task = prepared
  sweep_module = load_module(ROOT / "experiments/cmudict.py")
  assert (
    task.src_vocab.size,
    task.tgt_vocab.size,
  ) == (sweep_module.SRC_VOCAB, sweep_module.TGT_VOCAB)
