"""Algorithmic sequence tasks (copy, reverse, sort, addition) as a TFDS builder.

Sources of copy/reverse/sort are space-separated symbols `0 .. num_symbols - 1` (word-level
tokens); `sort` sorts them by value. `addition` sources are `<a>+<b>` in decimal, its targets the
sum (character-level), e.g. "123+4567" -> "4690". The source length (in tokens; in characters,
'+' included, for addition) is uniform in [min_len, max_len] for train/validation/test and in
(max_len, 2 * max_len] for `test_long`, which measures length generalisation. Every source occurs
once in the whole dataset, so the splits are disjoint. Data depend only on the builder config:
same config, byte-identical files.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from attn_seq2seq.choices import check_choice
from attn_seq2seq.data.pairs_builder import TextPairsBuilder

TASKS = ("copy", "reverse", "sort", "addition")
LENGTH_VARIANTS = {"short": (1, 20), "medium": (1, 50), "long": (1, 100)}
SPLITS = ("train", "validation", "test", "test_long")
_MIN_ADDITION_LEN = 3  # "1+2" is the shortest addition source.


@dataclasses.dataclass(eq=False, kw_only=True)
class AlgorithmicConfig(tfds.core.BuilderConfig):
  """One task at one length range; every field changes the generated data."""

  task: str = "copy"  # One of TASKS.
  min_len: int = 1  # Shortest source of train/validation/test, in tokens.
  max_len: int = 20  # Longest source of train/validation/test; test_long goes up to 2 * max_len.
  num_symbols: int = 100  # Symbols of copy/reverse/sort (addition always uses the 10 digits).
  num_train: int = 50_000  # Training pairs.
  num_eval: int = 2_000  # Pairs in each of validation, test and test_long.
  seed: int = 0  # Generation seed.

  def __post_init__(self):
    check_choice("algorithmic task", self.task, TASKS)
    low = _MIN_ADDITION_LEN if self.task == "addition" else 1
    if not low <= self.min_len <= self.max_len:
      raise ValueError(
        f"algorithmic/{self.task}: need {low} <= min_len <= max_len, "
        f"got min_len={self.min_len}, max_len={self.max_len}"
      )
    if self.num_symbols < 2 or self.num_train < 1 or self.num_eval < 1:
      raise ValueError(
        f"algorithmic/{self.task}: need num_symbols >= 2 and split sizes >= 1, got "
        f"num_symbols={self.num_symbols}, num_train={self.num_train}, "
        f"num_eval={self.num_eval}"
      )


def _preset_configs() -> list[AlgorithmicConfig]:
  """`<task>_<short|medium|long>` for every task; addition starts at 3 characters."""
  configs = []
  for task in TASKS:
    for variant, (min_len, max_len) in LENGTH_VARIANTS.items():
      min_len = max(min_len, _MIN_ADDITION_LEN) if task == "addition" else min_len
      configs.append(
        AlgorithmicConfig(
          name=f"{task}_{variant}",
          task=task,
          min_len=min_len,
          max_len=max_len,
          description=f"{task}, source lengths {min_len}-{max_len}, test_long to {2 * max_len}",
        )
      )
  return configs


def _num_sources(config: AlgorithmicConfig, length: int) -> int:
  """How many distinct sources of `length` tokens exist."""
  if config.task != "addition":
    return config.num_symbols**length
  with_digits = lambda k: 10 if k == 1 else 9 * 10 ** (k - 1)  # No leading zeros.
  return sum(with_digits(a) * with_digits(length - 1 - a) for a in range(1, length - 1))


def _number(rng: np.random.Generator, digits: int) -> str:
  """A uniform random decimal number of exactly `digits` digits (no leading zero)."""
  first = rng.integers(0 if digits == 1 else 1, 10)
  return str(first) + "".join(map(str, rng.integers(0, 10, digits - 1).tolist()))


_RULES = {
  "copy": lambda symbols: symbols,
  "reverse": lambda symbols: symbols[::-1],
  "sort": np.sort,
}  # Target symbols from source symbols.


def _draw_pairs(
  config: AlgorithmicConfig, rng: np.random.Generator, n: int, min_len: int, max_len: int
) -> list[tuple[str, str]]:
  """`n` random (source, target) pairs, source lengths uniform in [min_len, max_len]."""
  lengths = rng.integers(min_len, max_len + 1, n)
  if config.task == "addition":
    pairs = []
    for length in lengths.tolist():
      first = int(rng.integers(1, length - 1))  # Digits of the first operand: 1 .. length - 2.
      a, b = _number(rng, first), _number(rng, length - 1 - first)
      pairs.append((f"{a}+{b}", str(int(a) + int(b))))
    return pairs
  rows = np.split(rng.integers(0, config.num_symbols, lengths.sum()), np.cumsum(lengths)[:-1])
  join = lambda symbols: " ".join(map(str, symbols.tolist()))
  return [(join(row), join(_RULES[config.task](row))) for row in rows]


def _check_capacity(
  config: AlgorithmicConfig, sizes: dict[str, int], ranges: dict[str, tuple[int, int]]
) -> None:
  """Asks for at most half the distinct sources of each length range (rejection stays cheap)."""
  for lengths in set(ranges.values()):
    splits = [split for split in SPLITS if ranges[split] == lengths]
    needed = sum(sizes[split] for split in splits)
    available = sum(_num_sources(config, n) for n in range(lengths[0], lengths[1] + 1))
    if 2 * needed > available:
      raise ValueError(
        f"algorithmic/{config.task}: {needed} distinct sources of lengths "
        f"{lengths[0]}-{lengths[1]} requested for {', '.join(splits)}, at most "
        f"half of the {available} that exist is allowed; lower the split sizes "
        "or widen the lengths"
      )


def generate_splits(config: AlgorithmicConfig) -> dict[str, list[tuple[str, str]]]:
  """All splits of `config` as (source, target) text pairs; no source occurs twice overall."""
  sizes = {
    "train": config.num_train,
    "validation": config.num_eval,
    "test": config.num_eval,
    "test_long": config.num_eval,
  }
  ranges = {split: (config.min_len, config.max_len) for split in SPLITS}
  ranges["test_long"] = (config.max_len + 1, 2 * config.max_len)
  _check_capacity(config, sizes, ranges)
  rng = np.random.default_rng(config.seed)
  seen = set()
  splits = {}
  for split in SPLITS:
    pairs = []
    while len(pairs) < sizes[split]:
      missing = sizes[split] - len(pairs)
      for pair in _draw_pairs(config, rng, missing + missing // 4 + 16, *ranges[split]):
        if pair[0] not in seen and len(pairs) < sizes[split]:
          seen.add(pair[0])
          pairs.append(pair)
    splits[split] = pairs
  return splits


class Algorithmic(TextPairsBuilder):
  """Copy, reverse, sort and addition at short, medium and long source lengths."""

  VERSION = tfds.core.Version("1.0.0")
  BUILDER_CONFIGS = _preset_configs()
  DEFAULT_CONFIG_NAME = "reverse_medium"

  def generate_splits(self):
    return generate_splits(self.builder_config)
