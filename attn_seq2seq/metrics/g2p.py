"""Word and phone error rates for grapheme-to-phoneme conversion.

The G2P literature's convention (Bisani & Ney 2008, "Joint-sequence models for
grapheme-to-phoneme conversion"; Rao et al. 2015, "Grapheme-to-phoneme conversion using
LSTM recurrent neural networks", ICASSP; Yao & Zweig 2015, "Sequence-to-sequence neural net models
for grapheme-to-phoneme conversion", Interspeech): a word with several listed pronunciations is
scored against the one closest to the prediction, so producing any listed pronunciation is correct.
"""

from collections.abc import Sequence

from attn_seq2seq.metrics.edit_distance import edit_distance
from attn_seq2seq.metrics.sum_count import SumCount

Phones = Sequence[str]


def word_error(hyp: Phones, refs: Sequence[Phones]) -> SumCount:
  """(0, 1) if `hyp` equals any listed pronunciation, else (1, 1); WER = sum / words.

  Args:
    hyp: [hyp_len] predicted phones, EOS and padding removed.
    refs: [num_prons][pron_len] the word's listed pronunciations.
  """
  return SumCount(float(not any(list(hyp) == list(ref) for ref in refs)), 1.0)


def phone_errors(hyp: Phones, refs: Sequence[Phones]) -> SumCount:
  """(edit distance to the closest pronunciation, that pronunciation's length in phones).

  The closest pronunciation has the smallest Levenshtein distance to `hyp`; the first listed
  wins ties (CMUdict lists the primary pronunciation first). Summed over words and normalised
  once, PER = total phone edits / total phones of the chosen references.

  Args:
    hyp: [hyp_len] predicted phones, EOS and padding removed.
    refs: [num_prons][pron_len] the word's listed pronunciations, at least one.
  """
  if not refs:
    raise ValueError("phone_errors needs at least one reference pronunciation")
  distances = [edit_distance(hyp, ref) for ref in refs]
  closest = min(range(len(refs)), key=distances.__getitem__)  # min keeps the first of ties
  return SumCount(float(distances[closest]), float(len(refs[closest])))
