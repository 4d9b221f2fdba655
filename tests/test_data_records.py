"""Reading prepared TFDS splits: the fast raw-proto reader equals TFDS's own decoding, without TF."""

import sys

import tensorflow_datasets as tfds

from attn_seq2seq.data import records

EXAMPLES = [
    {'word': 'tomato', 'variants': ['T AH M EY T OW', 'T AH M AA T OW']},
    {'word': 'août ünï ☃', 'variants': ['ü']},
    {'word': '', 'variants': []},
    {'word': 'a b', 'variants': ['x', '', 'y']},
]


class ToyTexts(tfds.core.GeneratorBasedBuilder):
  """A Text and a Sequence(Text) feature, the two kinds this package reads."""

  VERSION = tfds.core.Version('1.0.0')

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        'word': tfds.features.Text(), 'variants': tfds.features.Sequence(tfds.features.Text())}),
        disable_shuffling=True)

  def _split_generators(self, dl_manager):
    return {'train': self._generate_examples()}

  def _generate_examples(self):
    yield from enumerate(EXAMPLES)


def test_fast_reader_equals_tfds_decoding_without_tensorflow(tmp_path):
  builder = ToyTexts(data_dir=tmp_path)
  records.prepare(builder)
  columns = records.read_text_features(builder, 'train', ['word', 'variants'])
  decoded = builder.as_data_source('train')
  assert len(decoded) == len(EXAMPLES)
  for i, example in enumerate(decoded):
    assert columns['word'][i] == [example['word'].decode()]
    assert columns['variants'][i] == [v.decode() for v in example['variants']]
    assert columns['word'][i] == [EXAMPLES[i]['word']] and columns['variants'][i] == EXAMPLES[i]['variants']
  assert 'tensorflow' not in sys.modules
