"""The TFDS-catalogue translation path, offline: `tfds.testing.mock_data` serves wmt14_translate.

The mock keeps the real builder (its features, supervised keys 'de' -> 'en' and splits) and
replaces download, preparation and reading. Its default random data source lacks a working
`__getitems__` (tfds 4.9.10), so the test passes `as_data_source_fn` serving serialized toy
sentence pairs, which also makes round trips checkable.
"""

import sys

import numpy as np
import pytest
from tfds_mock import serve

from attn_seq2seq import data

LEXICON = {
  "der": "the",
  "hund": "dog",
  "katze": "cat",
  "sieht": "sees",
  "baum": "tree",
  "und": "and",
  "haus": "house",
  "ist": "is",
  "groß": "big",
  "klein": "small",
}
NUM_LONG = 3  # Training pairs longer than max_src_len.


def toy_pairs(num_pairs, seed, long=0):
  rng = np.random.default_rng(seed)
  words = list(LEXICON)
  pairs = []
  for n in [*rng.integers(1, 9, num_pairs), *[60] * long]:
    german = [words[i] for i in rng.integers(0, len(words), n)]
    pairs.append({"de": " ".join(german), "en": " ".join(LEXICON[w] for w in german)})
  return pairs


SPLIT_PAIRS = {
  "train": toy_pairs(300, 0, long=NUM_LONG),
  "validation": toy_pairs(20, 1),
  "test": toy_pairs(25, 2),
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp("tfds"))  # Only the prepare lock goes there: data are mocked.


@pytest.fixture(scope="module")
def task(data_dir):
  cfg = data.get_data_config(
    name="wmt14_translate/de-en", data_dir=data_dir, spm_vocab_size=64, max_src_len=40
  )
  with serve(SPLIT_PAIRS):
    return data.load_task(cfg)


def test_task_metadata_comes_from_the_catalogue_builder(task):
  assert task.splits == ("train", "validation", "test") and task.eval_splits == ("test",)
  assert {"bleu", "chrf", "exact_match"} <= set(task.metrics) and task.gold_alignment is None
  assert isinstance(task.src_vocab, data.SentencePieceVocabulary)
  assert task.src_vocab is task.tgt_vocab  # One joint model.
  assert task.num_filtered == NUM_LONG
  assert "tensorflow" not in sys.modules


def test_eval_batches_decode_back_to_the_german_and_english_text(task):
  seen = set()
  for batch in task.eval_batches("test", batch_size=8):
    for row, example in enumerate(batch["example_ids"]):
      if example >= 0:
        pair = SPLIT_PAIRS["test"][example]
        assert task.src_vocab.decode(batch["src_ids"][row]) == pair["de"]
        assert task.tgt_vocab.decode(batch["tgt_out"][row]) == pair["en"]
        seen.add(int(example))
  assert seen == set(range(25))
  assert task.references("test")[3] == [task.tgt_vocab.tokenize(SPLIT_PAIRS["test"][3]["en"])]
  pieces = task.references("test")[3][0]
  assert "".join(pieces).replace("▁", " ").strip() == SPLIT_PAIRS["test"][3]["en"]


def test_training_batches_come_from_the_length_filtered_train_split(task):
  batches = task.train_batches(batch_size=16, seed=0)
  for _ in range(30):
    batch = next(batches)
    assert (batch["src_lengths"] <= 40).all() and (batch["example_ids"] < 300).all()


def test_sentencepiece_model_is_saved_with_the_run(task, tmp_path):
  task.save_vocabs(tmp_path)
  src_vocab, tgt_vocab = data.load_vocabs(tmp_path)
  text = SPLIT_PAIRS["validation"][0]["de"]
  assert src_vocab.encode(text) == task.src_vocab.encode(text)
  assert tgt_vocab.decode(task.tgt_vocab.encode("the dog")) == "the dog"


def test_unknown_translation_dataset_or_pair_names_the_valid_choices():
  with pytest.raises(
    ValueError,
    match=r"unknown translation dataset 'wmt99_translate'; "
    r"valid choices: .*wmt14_translate",
  ):
    data.get_data_config(name="wmt99_translate/de-en")
  with pytest.raises(ValueError, match=r"builder config 'xx-en'; valid choices: cs-en, de-en"):
    data.get_data_config(name="wmt14_translate/xx-en")


def test_an_empty_split_is_an_error_naming_the_non_empty_ones(data_dir):
  cfg = data.get_data_config(name="wmt14_translate/de-en", data_dir=data_dir, spm_vocab_size=64)
  with (
    serve({**SPLIT_PAIRS, "validation": []}),
    pytest.raises(
      ValueError, match="split 'validation' .* is empty; non-empty splits: train, test"
    ),
  ):
    data.load_task(cfg)


def test_src_lang_reverses_the_direction(data_dir):
  cfg = data.get_data_config(
    name="wmt14_translate/de-en", data_dir=data_dir, spm_vocab_size=64, src_lang="en"
  )
  with serve(SPLIT_PAIRS):
    task = data.load_task(cfg)
  batch = next(iter(task.eval_batches("test", batch_size=8)))
  pair = SPLIT_PAIRS["test"][batch["example_ids"][0]]
  assert task.src_vocab.decode(batch["src_ids"][0]) == pair["en"]
  assert task.tgt_vocab.decode(batch["tgt_out"][0]) == pair["de"]
  cfg.src_lang = "fr"
  with serve(SPLIT_PAIRS), pytest.raises(ValueError, match="unknown src_lang 'fr'.*valid: de, en"):
    data.load_task(cfg)
