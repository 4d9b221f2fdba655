"""Reading prepared TFDS splits: the raw-proto reader equals TFDS's own decoding, without TF."""

import sys
import threading

import tensorflow_datasets as tfds

from attn_seq2seq.data import algorithmic, records

EXAMPLES = [
  {"word": "tomato", "variants": ["T AH M EY T OW", "T AH M AA T OW"]},
  {"word": "août ünï ☃", "variants": ["ü"]},
  {"word": "", "variants": []},
  {"word": "a b", "variants": ["x", "", "y"]},
]


class ToyTexts(tfds.core.GeneratorBasedBuilder):
  """A Text and a Sequence(Text) feature, the two kinds this package reads."""

  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    return tfds.core.DatasetInfo(
      builder=self,
      features=tfds.features.FeaturesDict(
        {"word": tfds.features.Text(), "variants": tfds.features.Sequence(tfds.features.Text())}
      ),
      disable_shuffling=True,
    )

  def _split_generators(self, dl_manager):
    return {"train": self._generate_examples()}

  def _generate_examples(self):
    yield from enumerate(EXAMPLES)


def test_fast_reader_equals_tfds_decoding_without_tensorflow(tmp_path):
  builder = records.prepare(lambda: ToyTexts(data_dir=tmp_path), str(tmp_path))
  columns = records.read_text_features(builder, "train", ["word", "variants"])
  decoded = builder.as_data_source("train")
  assert len(decoded) == len(EXAMPLES)
  for i, example in enumerate(decoded):
    assert columns["word"][i] == [example["word"].decode()]
    assert columns["variants"][i] == [v.decode() for v in example["variants"]]
    assert columns["word"][i] == [EXAMPLES[i]["word"]]
    assert columns["variants"][i] == EXAMPLES[i]["variants"]
  assert "tensorflow" not in sys.modules


def test_concurrent_first_prepares_of_one_dataset_all_succeed(tmp_path):
  config = algorithmic.AlgorithmicConfig(
    name="copy_tiny", task="copy", max_len=5, num_train=200, num_eval=20
  )
  make = lambda: algorithmic.Algorithmic(config=config, data_dir=tmp_path)
  builders, errors = [], []

  def run():
    try:
      builders.append(records.prepare(make, str(tmp_path)))
    except Exception as error:  # noqa: BLE001  (whatever it is, the assertion below reports it)
      errors.append(error)

  threads = [threading.Thread(target=run) for _ in range(3)]
  for thread in threads:
    thread.start()
  for thread in threads:
    thread.join()
  assert not errors
  assert [len(b.as_data_source("train")) for b in builders] == [200, 200, 200]
