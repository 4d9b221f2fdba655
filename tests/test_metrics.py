"""Metrics against hand-computed values on small cases."""

import json
import math

import numpy as np
import pytest
import sacrebleu

from attn_seq2seq.metrics import (
  SumCount,
  alignment_error_rate,
  alignment_quality,
  assign_buckets,
  bleu,
  bucket_labels,
  chrf,
  compute_metrics,
  edit_distance,
  exact_match,
  parse_bucket_label,
  phone_errors,
  token_accuracy,
  word_error,
)


def toks(text):
  return text.split()


# --- exact match and token accuracy ------------------------------------------------------------


def test_exact_match_accepts_any_listed_reference():
  assert exact_match(toks("b c"), [toks("a"), toks("b c")]) == SumCount(1.0, 1.0)
  assert exact_match(toks("b"), [toks("a"), toks("b c")]) == SumCount(0.0, 1.0)


def test_token_accuracy_compares_positions_without_realigning():
  # Positions 0 and 2 match; the deleted 'b' is not realigned; normalised by |ref| = 4.
  assert token_accuracy(toks("a x c"), [toks("a b c d")]) == SumCount(2.0, 4.0)
  # Tokens past the reference's end are not counted against the hypothesis.
  assert token_accuracy(toks("a b c d e"), [toks("a b")]) == SumCount(2.0, 2.0)


def test_token_accuracy_uses_reference_with_highest_rate():
  # 'a b c d e' matches 3 of 5 (0.6) tokens, 'a b' matches 2 of 2 (1.0).
  assert token_accuracy(toks("a b c"), [toks("a b x y e"), toks("a b")]) == SumCount(2.0, 2.0)


def test_token_accuracy_is_a_micro_average_over_reference_tokens():
  hyps = [toks("a"), toks("x y z")]
  refs = [[toks("a")], [toks("a b c")]]
  results = compute_metrics(("token_accuracy",), hyps, refs, [1, 3], bucket_edges=[0])
  assert results["token_accuracy"] == pytest.approx(1 / 4)  # not (1/1 + 0/3) / 2


# --- edit distance, WER, PER -------------------------------------------------------------------


@pytest.mark.parametrize(
  "hyp, ref, distance",
  [
    ("k i t t e n", "s i t t i n g", 3),  # 2 substitutions + 1 insertion
    ("f l a w", "l a w n", 2),  # 1 deletion + 1 insertion
    ("", "a b c", 3),
    ("a b c", "", 3),
    ("HH AH L OW", "HH AH L OW", 0),
    ("HH EH L OW", "HH AH L OW", 1),
    ("K AE T", "K AE T S", 1),
    ("a b", "b a", 2),
  ],
)
def test_edit_distance_matches_hand_computed_cases(hyp, ref, distance):
  assert edit_distance(toks(hyp), toks(ref)) == distance
  assert edit_distance(toks(ref), toks(hyp)) == distance


def test_wer_counts_any_listed_pronunciation_as_correct():
  prons = [toks("T AH M EY T OW"), toks("T AH M AA T OW")]
  assert word_error(toks("T AH M AA T OW"), prons) == SumCount(0.0, 1.0)
  assert word_error(toks("T AH M AA T"), prons) == SumCount(1.0, 1.0)


def test_per_scores_against_closest_pronunciation_and_its_length():
  prons = [toks("T AH M EY T OW"), toks("T AH M AA T OW")]
  # 2 edits from the first pronunciation, 1 deletion from the second.
  assert phone_errors(toks("T AH M AA T"), prons) == SumCount(1.0, 6.0)


def test_per_prefers_first_listed_pronunciation_on_ties():
  # 1 edit from either; the first listed (2 phones) is used, not the second (3 phones).
  assert phone_errors(toks("A B"), [toks("A C"), toks("A B C")]) == SumCount(1.0, 2.0)


def test_wer_and_per_pool_words_and_phones_over_the_corpus():
  hyps = [toks("T AH M AA T"), toks("K AE T"), toks("D AO G")]
  refs = [
    [toks("T AH M EY T OW"), toks("T AH M AA T OW")],  # 1 edit / 6 phones
    [toks("K AE T S")],  # 1 edit / 4 phones
    [toks("D AA G"), toks("D AO G")],  # correct: 0 / 3
  ]
  results = compute_metrics(("wer", "per"), hyps, refs, [6, 4, 3], bucket_edges=[0])
  assert results["wer"] == pytest.approx(2 / 3)
  assert results["per"] == pytest.approx(2 / 13)


# --- BLEU and chrF -----------------------------------------------------------------------------


def test_bleu_matches_hand_computed_value():
  # Clipped n-gram precisions 5/6, 3/5, 2/4, 1/3; equal lengths, so no brevity penalty.
  score = bleu([toks("the cat sat on the mat")], [[toks("the cat sat on a mat")]])
  assert score == pytest.approx(100 * (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25)


def test_bleu_applies_brevity_penalty_by_hand():
  # All precisions 1; hypothesis 5 words, reference 6: BP = exp(1 - 6/5).
  score = bleu([toks("the cat sat on the")], [[toks("the cat sat on the mat")]])
  assert score == pytest.approx(100 * math.exp(1 - 6 / 5))


def test_bleu_and_chrf_agree_with_sacrebleu_on_joined_strings():
  hyps = [toks("a small house ."), toks("he reads the book"), toks("it rains")]
  refs = [[toks("a small house .")], [toks("he is reading the book")], [toks("it is raining")]]
  hyp_strs = ["a small house .", "he reads the book", "it rains"]
  ref_strs = [["a small house .", "he is reading the book", "it is raining"]]
  assert bleu(hyps, refs) == sacrebleu.corpus_bleu(hyp_strs, ref_strs).score
  assert chrf(hyps, refs) == sacrebleu.corpus_chrf(hyp_strs, ref_strs).score


def test_bleu_joins_character_tokens_with_the_given_separator():
  hyps = [list("3 april 2001"), list("12 may 1999")]
  refs = [[list("3 april 2001")], [list("12 may 1998")]]
  expected = sacrebleu.corpus_bleu(
    ["3 april 2001", "12 may 1999"], [["3 april 2001", "12 may 1998"]]
  )
  assert bleu(hyps, refs, detok="") == expected.score


def test_bleu_uses_a_detok_callable():
  def decode_pieces(pieces):
    return "".join(pieces).replace("\u2581", " ").strip()

  hyps = [["\u2581the", "\u2581cat", "s", "\u2581sat", "\u2581down"]]
  refs = [[["\u2581the", "\u2581cat", "\u2581sat", "\u2581down"]]]
  expected = sacrebleu.corpus_bleu(["the cats sat down"], [["the cat sat down"]])
  assert bleu(hyps, refs, detok=decode_pieces) == expected.score


def test_bleu_scores_each_example_against_all_its_references():
  # Second example matches its second reference exactly; the first has a single reference.
  hyps = [toks("a b c d e"), toks("v w x y z")]
  refs = [[toks("a b c d e")], [toks("p q r s t"), toks("v w x y z")]]
  assert bleu(hyps, refs) == pytest.approx(100.0)


# --- alignment ---------------------------------------------------------------------------------


def _one_hot_rows(positions, src_len):
  attn = np.zeros((len(positions), src_len))
  attn[np.arange(len(positions)), positions] = 1.0
  return attn


def test_perfect_copy_attention_gives_full_mass_and_zero_aer():
  attn = _one_hot_rows([0, 1, 2, 3, 1], src_len=4)  # last row: EOS step, excluded
  quality = alignment_quality(attn, src_length=4, num_outputs=4, gold_alignment="copy")
  assert quality["gold_attention_mass"].value() == 1.0
  assert quality["alignment_error_rate"].value() == 0.0


def test_perfect_reverse_attention_gives_full_mass_and_zero_aer():
  attn = _one_hot_rows([3, 2, 1, 0, 0], src_len=4)
  quality = alignment_quality(attn, src_length=4, num_outputs=4, gold_alignment="reverse")
  assert quality["gold_attention_mass"].value() == 1.0
  assert quality["alignment_error_rate"].value() == 0.0


def test_imperfect_copy_attention_matches_hand_computed_mass_and_aer():
  attn = np.array(
    [
      [0.7, 0.2, 0.1],  # argmax 0 = gold
      [0.6, 0.3, 0.1],  # argmax 0, gold 1
      [0.1, 0.1, 0.8],  # argmax 2 = gold
      [0.0, 1.0, 0.0],  # EOS step
    ]
  )
  quality = alignment_quality(attn, src_length=3, num_outputs=3, gold_alignment="copy")
  assert quality["gold_attention_mass"].value() == pytest.approx((0.7 + 0.3 + 0.8) / 3)
  # A = {(0,0), (1,0), (2,2)}, S = P = {(0,0), (1,1), (2,2)}: 1 - (2 + 2) / (3 + 3).
  assert quality["alignment_error_rate"].value() == pytest.approx(1 / 3)


def test_reverse_gold_alignment_pairs_output_i_with_source_len_minus_1_minus_i():
  attn = np.array([[0.2, 0.8], [0.9, 0.1]])  # output 0 -> source 1, output 1 -> source 0
  quality = alignment_quality(attn, src_length=2, num_outputs=2, gold_alignment="reverse")
  assert quality["gold_attention_mass"].value() == pytest.approx((0.8 + 0.9) / 2)
  assert quality["alignment_error_rate"].value() == 0.0


def test_short_hypothesis_loses_recall_and_long_one_loses_precision():
  perfect = _one_hot_rows([0, 1, 2, 0, 0], src_len=3)
  short = alignment_quality(perfect, src_length=3, num_outputs=2, gold_alignment="copy")
  assert short["gold_attention_mass"].value() == 1.0  # over the 2 rows with a gold link
  assert short["alignment_error_rate"].value() == pytest.approx(1 - 2 * 2 / (2 + 3))
  long = alignment_quality(perfect, src_length=3, num_outputs=4, gold_alignment="copy")
  assert long["gold_attention_mass"].value() == 1.0
  assert long["alignment_error_rate"].value() == pytest.approx(1 - 2 * 3 / (4 + 3))


def test_aer_credits_possible_links_as_och_and_ney():
  sure, possible = {(0, 0)}, {(0, 0), (1, 2), (2, 2)}
  assert alignment_error_rate({(0, 0), (1, 2)}, sure, possible).value() == 0.0
  # 1 - (|A&S| + |A&P|) / (|A| + |S|) = 1 - (0 + 1) / (1 + 1).
  assert alignment_error_rate({(1, 2)}, sure, possible).value() == pytest.approx(0.5)


def test_alignment_family_pools_links_over_the_corpus():
  attention = [_one_hot_rows([0, 0], src_len=1), _one_hot_rows([1, 1, 2, 0], src_len=3)]
  hyps = [toks("a"), toks("x y z")]
  refs = [[toks("a")], [toks("x y z")]]
  results = compute_metrics(
    ("alignment",),
    hyps,
    refs,
    [1, 3],
    bucket_edges=[0],
    attention=attention,
    gold_alignment="copy",
  )
  # 1 + 2 correct links, 1 + 3 predicted, 1 + 3 gold: 1 - 2 * 3 / 8, not the sentence mean
  # (0 + 1/3) / 2. Gold mass: rows 0 | 0, 1, 2 put 1 | 0, 1, 1 on their gold position.
  assert results["alignment_error_rate"] == pytest.approx(0.25)
  assert results["gold_attention_mass"] == pytest.approx(3 / 4)


def test_alignment_family_requires_attention_and_gold_alignment():
  with pytest.raises(ValueError, match="gold_alignment"):
    compute_metrics(("alignment",), [toks("a")], [[toks("a")]], [1], bucket_edges=[0])


# --- length buckets ----------------------------------------------------------------------------


def test_bucket_labels_are_inclusive_with_an_open_last_bucket():
  assert bucket_labels([0, 10, 20, 30]) == ["0-9", "10-19", "20-29", "30+"]
  assert [parse_bucket_label(label) for label in ["0-9", "30+"]] == [(0, 9), (30, None)]


def test_lengths_on_an_edge_go_to_the_bucket_it_opens():
  buckets = assign_buckets([0, 9, 10, 19, 20, 75], [0, 10, 20])
  np.testing.assert_array_equal(buckets, [0, 0, 1, 1, 2, 2])


def test_lengths_below_the_first_edge_are_an_error():
  with pytest.raises(ValueError, match="below the first bucket edge"):
    assign_buckets([3], [5, 10])


def test_compute_metrics_breaks_every_metric_down_by_length_bucket():
  hyps = [toks("a b"), toks("a c"), toks("a b c d e f g h i j k l")]
  refs = [[toks("a b")], [toks("a b")], [toks("a b c d e f g h i j k m")]]
  results = compute_metrics(
    ("exact_match", "token_accuracy"), hyps, refs, [2, 2, 12], bucket_edges=[0, 5, 10, 15]
  )
  assert results["count"] == 3
  assert results["exact_match"] == pytest.approx(1 / 3)
  assert results["token_accuracy"] == pytest.approx((2 + 1 + 11) / (2 + 2 + 12))
  assert results["by_length/0-4/count"] == 2
  assert results["by_length/0-4/exact_match"] == pytest.approx(0.5)
  assert results["by_length/0-4/token_accuracy"] == pytest.approx(3 / 4)
  assert results["by_length/10-14/count"] == 1
  assert results["by_length/10-14/token_accuracy"] == pytest.approx(11 / 12)
  # The empty buckets report a count of 0 and no (undefined) metric values.
  assert results["by_length/5-9/count"] == 0
  assert results["by_length/15+/count"] == 0
  assert [key for key in results if key.startswith("by_length/5-9/")] == ["by_length/5-9/count"]
  json.dumps(results, allow_nan=False)


def test_bucket_bleu_is_corpus_bleu_of_that_bucket():
  hyps = [toks("a b c d"), toks("the cat sat on the mat today"), toks("w x y z")]
  refs = [[toks("a b c d")], [toks("the cat sat on a mat today")], [toks("w x q z")]]
  results = compute_metrics(("bleu",), hyps, refs, [4, 7, 4], bucket_edges=[0, 5])
  expected = sacrebleu.corpus_bleu(["a b c d", "w x y z"], [["a b c d", "w x q z"]]).score
  assert results["by_length/0-4/bleu"] == expected
  assert results["bleu"] == bleu(hyps, refs)


def test_unknown_family_raises_one_line_naming_value_and_choices():
  with pytest.raises(ValueError) as error:
    compute_metrics(("exact_match", "bleuu"), [toks("a")], [[toks("a")]], [1], bucket_edges=[0])
  message = str(error.value)
  assert "bleuu" in message and "exact_match" in message and "chrf" in message
  assert "\n" not in message
