"""The TFDS builder shape shared by the generated source -> target text datasets."""

from __future__ import annotations

import abc

import tensorflow_datasets as tfds


class TextPairsBuilder(tfds.core.GeneratorBasedBuilder):
  """A builder whose splits are `(source, target)` string pairs made offline by `generate_splits`.

  Abstract (so TFDS does not register it); subclasses set VERSION, BUILDER_CONFIGS and
  `generate_splits`, and may set HOMEPAGE.
  """

  HOMEPAGE: str | None = None

  @abc.abstractmethod
  def generate_splits(self) -> dict[str, list[tuple[str, str]]]:
    """Split name -> the split's pairs, in the (random) order they are stored."""

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
      builder=self,
      description=type(self).__doc__,
      features=tfds.features.FeaturesDict(
        {"source": tfds.features.Text(), "target": tfds.features.Text()}
      ),
      supervised_keys=("source", "target"),
      disable_shuffling=True,  # Records are generated in random order already.
      homepage=self.HOMEPAGE,
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # Generated offline.
    return {
      split: self._generate_examples(pairs) for split, pairs in self.generate_splits().items()
    }

  def _generate_examples(self, pairs: list[tuple[str, str]]):
    for index, (source, target) in enumerate(pairs):
      yield index, {"source": source, "target": target}
