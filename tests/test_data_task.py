"""The public data API: config, load_task, batches decoding back to the data, saved vocabularies."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from attn_seq2seq import data
from attn_seq2seq.data import datasets
from attn_seq2seq.run_files import SRC_VOCAB_FILE

BATCH_KEYS = {"src_ids", "src_lengths", "tgt_in", "tgt_out", "tgt_lengths", "example_ids"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp("tfds"))


@pytest.fixture(scope="module")
def reverse(data_dir):
  cfg = data.get_data_config(
    name="algorithmic/reverse_medium", data_dir=data_dir, num_train=5_000, num_eval=200
  )
  return cfg, data.load_task(cfg)


def test_data_config_has_every_field_commented_and_overridable():
  cfg = data.get_data_config(name="dates", num_buckets=4, max_src_len=30)
  assert cfg.name == "dates" and cfg.num_buckets == 4 and cfg.max_src_len == 30
  for field in (
    "data_dir",
    "max_tgt_len",
    "bucket_multiple",
    "src_tokenizer",
    "spm_vocab_size",
    "data_seed",
  ):
    assert field in cfg
  with pytest.raises(KeyError):
    data.get_data_config(name="dates", num_bucket=4)  # A typo is an error, not a new field.
  source = Path(datasets.__file__).read_text()
  assigned = re.findall(r"^  cfg\.(\w+) = .*$", source, re.MULTILINE)
  assert set(assigned) == set(cfg.keys())
  assert all("  # " in line for line in re.findall(r"^  cfg\.\w+ = .*$", source, re.MULTILINE))


@pytest.mark.parametrize(
  "name, message",
  [
    (
      "imagenet",
      "unknown dataset 'imagenet'; valid choices: algorithmic, dates, cmudict_g2p, *_translate",
    ),
    (
      "algorithmic/reverse_huge",
      "unknown algorithmic builder config 'reverse_huge'; valid choices: .*reverse_medium",
    ),
    (
      "cmudict_g2p/stressed",
      "unknown cmudict_g2p builder config 'stressed'; valid choices: no_stress, with_stress",
    ),
    ("dates/big", "unknown dates builder config 'big'; valid choices: default"),
  ],
)
def test_unknown_dataset_or_builder_config_names_the_valid_choices(name, message):
  with pytest.raises(ValueError, match=re.escape(message).replace(r"\.\*", ".*")) as error:
    data.get_data_config(name=name)
  assert "\n" not in str(error.value)


@pytest.mark.parametrize(
  "overrides, message",
  [
    (dict(min_len=9, max_len=4), "need 1 <= min_len <= max_len, got min_len=9, max_len=4"),
    (
      dict(src_tokenizer="bytes"),
      "unknown tokenizer 'bytes'; valid choices: char, word, sentencepiece",
    ),
  ],
)
def test_bad_values_raise_one_line_errors(data_dir, overrides, message):
  cfg = data.get_data_config(
    name="algorithmic/copy_short", data_dir=data_dir, num_train=50, num_eval=10, **overrides
  )
  with pytest.raises(ValueError, match=re.escape(message)) as error:
    data.load_task(cfg)
  assert "\n" not in str(error.value)


def test_a_generation_field_of_another_dataset_is_an_error(data_dir):
  cfg = data.get_data_config(name="cmudict_g2p/no_stress", data_dir=data_dir, num_train=10)
  with pytest.raises(
    ValueError,
    match="num_train=10 does not apply to cmudict_g2p/no_stress; it applies to: algorithmic, dates",
  ):
    data.load_task(cfg)


def test_reverse_task_describes_itself(reverse):
  _, task = reverse
  assert task.splits == ("train", "validation", "test", "test_long")
  assert task.eval_splits == ("test", "test_long")
  assert task.metrics == ("exact_match", "token_accuracy", "alignment")
  assert task.gold_alignment == "reverse" and task.num_filtered == 0
  assert [task.num_examples(s) for s in task.splits] == [5_000, 200, 200, 200]


@pytest.mark.parametrize("split", ["test", "test_long"])
def test_eval_batches_decode_to_the_references_and_sources(reverse, split):
  _, task = reverse
  references, sources = task.references(split), task.source_tokens(split)
  seen = []
  for batch in task.eval_batches(split, batch_size=64):
    assert set(batch) == BATCH_KEYS and batch["src_ids"].shape[0] == 64
    for row, example in enumerate(batch["example_ids"]):
      if example >= 0:
        tgt_len, src_len = batch["tgt_lengths"][row] - 1, batch["src_lengths"][row]
        assert task.tgt_vocab.tokens(batch["tgt_out"][row, :tgt_len]) == references[example][0]
        assert task.src_vocab.tokens(batch["src_ids"][row, :src_len]) == sources[example]
        assert sources[example][::-1] == references[example][0]  # It is the reverse task.
        seen.append(int(example))
  assert sorted(seen) == list(range(200))
  outliers = len(task.eval_shapes(split)) - len(task.bucket_shapes)
  assert outliers == (1 if split == "test_long" else 0)  # test_long is longer than training.


def test_an_unknown_split_names_the_valid_ones(reverse):
  _, task = reverse
  with pytest.raises(
    ValueError,
    match="unknown algorithmic/reverse_medium split 'dev'; "
    "valid choices: train, validation, test, test_long",
  ):
    task.eval_batches("dev", batch_size=8)


def test_reverse_medium_trains_on_few_shapes_with_little_padding(reverse):
  cfg, task = reverse
  batches = task.train_batches(batch_size=64, seed=0)
  shapes, real, padded = set(), 0, 0
  for _ in range(200):
    batch = next(batches)
    shapes.add((batch["src_ids"].shape, batch["tgt_out"].shape))
    real += batch["src_lengths"].sum() + batch["tgt_lengths"].sum()
    padded += batch["src_ids"].size + batch["tgt_out"].size
  assert len(shapes) <= cfg.num_buckets
  assert 1 - real / padded < 0.15


def test_a_resumed_run_reuses_its_saved_vocabularies(reverse, tmp_path):
  cfg, task = reverse
  task.save_vocabs(tmp_path)
  assert json.loads((tmp_path / SRC_VOCAB_FILE).read_text())["kind"] == "word"
  restored = data.load_task(cfg, vocabs=data.load_vocabs(tmp_path))
  assert restored.src_vocab.to_json() == task.src_vocab.to_json()
  original, resumed = task.train_batches(32, seed=5), restored.train_batches(32, seed=5)
  for _ in range(5):
    a, b = next(original), next(resumed)
    assert all(a[key].tobytes() == b[key].tobytes() for key in BATCH_KEYS)


def test_dates_task_is_character_level(data_dir):
  task = data.load_task(
    data.get_data_config(name="dates", data_dir=data_dir, num_train=500, num_eval=50)
  )
  assert task.eval_splits == ("test",) and task.gold_alignment is None
  assert task.src_vocab.kind == task.tgt_vocab.kind == "char"
  assert set(task.tgt_vocab.tokens(range(4, task.tgt_vocab.size))) == set("0123456789-")
  assert len(task.bucket_shapes) <= 8
  assert (task.bucket_shapes[:, 1] == 11).all()  # 'yyyy-mm-dd' + EOS.
  batch = next(task.train_batches(16))
  assert np.array_equal(batch["tgt_lengths"], np.full(16, 11))
