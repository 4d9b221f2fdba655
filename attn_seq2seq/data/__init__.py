"""Datasets and the input pipeline: TFDS builders (no TensorFlow), vocabularies, bucketed batches.

from attn_seq2seq import data
task = data.load_task(data.get_data_config(name='dates'))
batch = next(task.train_batches(batch_size=64, seed=0))
"""

from attn_seq2seq.data.datasets import get_data_config
from attn_seq2seq.data.pipeline import Batch, TrainBatches
from attn_seq2seq.data.records import DataError
from attn_seq2seq.data.task import Task, load_task, load_vocabs
from attn_seq2seq.data.vocab import SentencePieceVocabulary, TokenVocabulary, Vocabulary

__all__ = [
  "Batch",
  "DataError",
  "SentencePieceVocabulary",
  "Task",
  "TokenVocabulary",
  "TrainBatches",
  "Vocabulary",
  "get_data_config",
  "load_task",
  "load_vocabs",
]
