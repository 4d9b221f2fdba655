"""Algorithmic builder: targets follow the task, lengths per split, disjoint, reproducible files."""

import os

import pytest

from attn_seq2seq.data import algorithmic, records

TINY = dict(num_train=300, num_eval=40)


def tiny_config(task, name=None, **kwargs):
  kwargs = {"min_len": 3, "max_len": 8, **TINY, **kwargs}
  return algorithmic.AlgorithmicConfig(name=name or f"{task}_tiny", task=task, **kwargs)


def expected_target(task, source):
  if task == "addition":
    a, b = source.split("+")
    return str(int(a) + int(b))
  symbols = source.split()
  return " ".join(
    {"copy": symbols, "reverse": symbols[::-1], "sort": sorted(symbols, key=int)}[task]
  )


@pytest.mark.parametrize("task", algorithmic.TASKS)
def test_targets_follow_the_task_and_lengths_follow_the_split(task):
  config = tiny_config(task, num_symbols=7)
  splits = algorithmic.generate_splits(config)
  assert {s: len(p) for s, p in splits.items()} == {
    "train": 300,
    "validation": 40,
    "test": 40,
    "test_long": 40,
  }
  for split, pairs in splits.items():
    low, high = (9, 16) if split == "test_long" else (3, 8)
    for source, target in pairs:
      assert target == expected_target(task, source)
      length = len(source) if task == "addition" else len(source.split())
      assert low <= length <= high, (split, source)
      if task == "addition":
        assert all(op == "0" or not op.startswith("0") for op in source.split("+"))
      else:
        assert all(0 <= int(s) < 7 for s in source.split())


def test_no_source_occurs_twice_so_splits_are_disjoint():
  splits = algorithmic.generate_splits(tiny_config("copy", num_symbols=3, min_len=1, max_len=6))
  sources = [source for pairs in splits.values() for source, _ in pairs]
  assert len(sources) == len(set(sources))


def test_too_many_distinct_sources_requested_is_an_error():
  with pytest.raises(ValueError, match="distinct sources"):
    algorithmic.generate_splits(tiny_config("copy", num_symbols=2, min_len=1, max_len=3))


def test_presets_cover_every_task_at_three_lengths():
  presets = algorithmic.Algorithmic.builder_configs
  for task in algorithmic.TASKS:
    for variant, (low, high) in algorithmic.LENGTH_VARIANTS.items():
      config = presets[f"{task}_{variant}"]
      assert config.task == task and config.max_len == high
      assert config.min_len == (3 if task == "addition" else low)


@pytest.mark.parametrize(
  "kwargs, message",
  [
    (dict(task="rotate"), "unknown algorithmic task 'rotate'; valid choices: "),
    (dict(task="copy", min_len=9, max_len=4), "min_len=9, max_len=4"),
    (dict(task="addition", min_len=1), "need 3 <= min_len"),
    (dict(task="copy", num_train=0), "num_train=0"),
  ],
)
def test_bad_configs_raise_one_line_errors(kwargs, message):
  with pytest.raises(ValueError, match=message) as error:
    algorithmic.AlgorithmicConfig(name="bad", **kwargs)
  assert "\n" not in str(error.value)


def array_record_bytes(builder):
  files = sorted(builder.data_path.glob("*.array_record*"))
  assert len(files) == 4
  return {f.name: f.read_bytes() for f in files}


def prepare(config, data_dir):
  data_dir = str(data_dir)
  make = lambda: algorithmic.Algorithmic(config=config, data_dir=data_dir)
  return records.prepare(make, data_dir)


def test_prepare_is_reproducible_and_reused(tmp_path, monkeypatch):
  first = prepare(tiny_config("reverse", name="reverse_tiny"), tmp_path / "a")
  again = prepare(tiny_config("reverse", name="reverse_tiny"), tmp_path / "b")
  assert array_record_bytes(first) == array_record_bytes(again)  # Byte-identical.
  other_seed = prepare(tiny_config("reverse", name="reverse_tiny_s1", seed=1), tmp_path / "a")
  assert array_record_bytes(other_seed).values() != array_record_bytes(first).values()

  test_long = algorithmic.generate_splits(tiny_config("reverse"))["test_long"]
  expected = [source for source, _ in test_long]
  mtimes = {f: os.stat(f).st_mtime_ns for f in first.data_path.iterdir()}
  monkeypatch.setattr(algorithmic, "generate_splits", lambda config: pytest.fail("regenerated"))
  reused = prepare(tiny_config("reverse", name="reverse_tiny"), tmp_path / "a")
  assert {f: os.stat(f).st_mtime_ns for f in reused.data_path.iterdir()} == mtimes
  sources = records.read_text_features(reused, "test_long", ["source", "target"])
  assert [source for (source,) in sources["source"]] == expected
