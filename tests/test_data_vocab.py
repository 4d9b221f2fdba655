"""Vocabularies: reserved ids, unknown symbols, decoding, JSON round trips."""

import json

import numpy as np
import pytest

from attn_seq2seq.data import vocab as vocab_lib
from attn_seq2seq.data.vocab import SentencePieceVocabulary, TokenVocabulary, Vocabulary
from attn_seq2seq.tokens import BOS_ID, EOS_ID, PAD_ID, UNK_ID

TEXTS = ["monday 14 august 1995", "tue 3 may 2001", "14.08.95", "août 1995 ünïcode"]


@pytest.fixture(scope="module")
def spm_vocab():
  animals, things = ("cat", "dog", "bird", "fish", "horse"), ("mat", "log", "chair")
  pairs = [(w, v) for w in animals for v in things]
  sentences = [f"the {w} sat on the {v} number {i}" for i, (w, v) in enumerate(pairs)] * 20
  return SentencePieceVocabulary.train(sentences, vocab_size=60)


def test_reserved_ids_are_pad_bos_eos_unk():
  assert (PAD_ID, BOS_ID, EOS_ID, UNK_ID) == (0, 1, 2, 3)
  vocab = TokenVocabulary.build(TEXTS, "char")
  assert vocab.tokens([PAD_ID, BOS_ID, EOS_ID, UNK_ID]) == list(vocab_lib.RESERVED_TOKENS)
  assert min(vocab.encode("".join(TEXTS))) > UNK_ID


@pytest.mark.parametrize("level", ["char", "word"])
def test_encode_decode_round_trip(level):
  vocab = TokenVocabulary.build(TEXTS, level)
  for text in TEXTS:
    ids = vocab.encode(text)
    assert len(ids) == len(vocab.tokenize(text))
    assert vocab.decode(ids) == (text if level == "char" else " ".join(text.split()))
    assert vocab.tokens(ids) == vocab.tokenize(text)


@pytest.mark.parametrize("level", ["char", "word"])
def test_unknown_symbols_become_unk_without_crashing(level):
  vocab = TokenVocabulary.build(["ab ab", "ba"], level)
  text = "ab zz ☃ ba \udcff"  # The last is how Python decodes a non-UTF-8 byte (surrogateescape).
  ids = vocab.encode(text)
  flat, lengths = vocab.encode_batch([text, "", "zz"])
  assert UNK_ID in ids and all(0 <= i < vocab.size for i in ids)
  np.testing.assert_array_equal(flat, ids + vocab.encode("zz"))
  np.testing.assert_array_equal(lengths, [len(ids), 0, len(vocab.encode("zz"))])


def test_encode_batch_matches_encode_for_every_level(spm_vocab):
  for vocab in (
    TokenVocabulary.build(TEXTS[:2], "char"),
    TokenVocabulary.build(TEXTS[:2], "word"),
    spm_vocab,
  ):
    flat, lengths = vocab.encode_batch(TEXTS)
    assert flat.dtype == np.int32 and lengths.dtype == np.int32
    rows = np.split(flat, np.cumsum(lengths)[:-1])
    assert [row.tolist() for row in rows] == [vocab.encode(t) for t in TEXTS]


def test_decode_stops_at_eos_and_skips_pad_and_bos():
  vocab = TokenVocabulary.build(["abc"], "char")
  a, b, c = vocab.encode("abc")
  assert vocab.decode([BOS_ID, a, PAD_ID, b, EOS_ID, c, c]) == "ab"
  assert vocab.decode(np.array([a, b, c, PAD_ID, PAD_ID])) == "abc"
  assert vocab.tokens([BOS_ID, a, EOS_ID]) == ["<s>", "a", "</s>"]


def test_build_orders_by_frequency_then_alphabetically():
  vocab = TokenVocabulary.build(["b a c a", "c b a"], "word")
  assert vocab.tokens(range(4, vocab.size)) == ["a", "b", "c"]
  assert TokenVocabulary.build(["b a c a", "c b a"], "word").to_json() == vocab.to_json()


@pytest.mark.parametrize("level", ["char", "word", "sentencepiece"])
def test_save_load_round_trip_as_plain_json(tmp_path, spm_vocab, level):
  vocab = spm_vocab if level == "sentencepiece" else TokenVocabulary.build(TEXTS, level)
  vocab.save(tmp_path / "vocab.json")
  assert json.loads((tmp_path / "vocab.json").read_text())["kind"] == level
  restored = Vocabulary.load(tmp_path / "vocab.json")
  assert type(restored) is type(vocab) and restored.size == vocab.size
  for text in TEXTS:
    assert restored.encode(text) == vocab.encode(text)
    assert restored.decode(vocab.encode(text)) == vocab.decode(vocab.encode(text))


def test_sentencepiece_has_the_reserved_ids_and_round_trips(spm_vocab):
  assert spm_vocab.tokens([PAD_ID, BOS_ID, EOS_ID, UNK_ID]) == list(vocab_lib.RESERVED_TOKENS)
  text = "the dog sat on the chair number 7"
  ids = spm_vocab.encode(text)
  assert min(ids) > UNK_ID and spm_vocab.decode(ids + [EOS_ID] + ids) == text
  assert spm_vocab.tokens(ids) == spm_vocab.tokenize(text)
  assert UNK_ID in spm_vocab.encode("☃")
  assert spm_vocab.encode_batch(["dog \udcff"])[0].tolist() == spm_vocab.encode("dog \udcff")
  assert UNK_ID in spm_vocab.encode("dog \udcff")  # A non-UTF-8 byte, as surrogateescape reads it.


def test_invalid_vocabularies_are_rejected():
  with pytest.raises(ValueError, match="unknown tokenizer level"):
    TokenVocabulary.build(["a"], "byte")
  with pytest.raises(ValueError, match="single characters"):
    TokenVocabulary(["ab"], "char")
  with pytest.raises(ValueError, match="unknown vocabulary kind"):
    Vocabulary.from_json({"kind": "pickle"})
