"""Corpus BLEU and chrF through sacrebleu, from token lists.

Both are corpus-level: BLEU pools clipped n-gram matches and lengths over the whole corpus before
the geometric mean and the brevity penalty (Papineni et al. 2002), chrF pools character n-gram
statistics before the F-score (Popovic 2015), so neither is a mean of sentence scores and neither
decomposes into one (sum, count) pair; a bucket's score is computed on that bucket's examples.
Scores are on sacrebleu's 0-100 scale with its default settings (BLEU: 13a tokenisation, 'exp'
smoothing; chrF: character 6-grams, no word n-grams, beta=2), so they equal
`sacrebleu.corpus_bleu` / `corpus_chrf` on the same strings (Post 2018).
"""

from collections.abc import Callable, Sequence

import sacrebleu

Tokens = Sequence[str]
# How token lists become the strings sacrebleu scores: a separator to join them with ('' for
# characters, ' ' for words or already-decoded subwords), or a callable such as a
# sentencepiece decoder.
Detok = str | Callable[[Tokens], str]


def detokenize(tokens: Tokens, detok: Detok) -> str:
  """`detok.join(tokens)` for a separator, `detok(tokens)` for a callable."""
  return detok.join(tokens) if isinstance(detok, str) else detok(tokens)


def _strings(
  hyps: Sequence[Tokens], refs: Sequence[Sequence[Tokens]], detok: Detok
) -> tuple[list[str], list[list[str | None]]]:
  """Hypothesis strings and sacrebleu's reference streams.

  sacrebleu takes references as [num_streams][num_examples]; an example with fewer references
  than the most has None in the remaining streams, which sacrebleu skips.
  """
  hyp_strs = [detokenize(hyp, detok) for hyp in hyps]
  num_streams = max(len(example_refs) for example_refs in refs)
  ref_streams = [
    [detokenize(r[k], detok) if k < len(r) else None for r in refs] for k in range(num_streams)
  ]
  return hyp_strs, ref_streams


def bleu(hyps: Sequence[Tokens], refs: Sequence[Sequence[Tokens]], detok: Detok = " ") -> float:
  """Corpus BLEU, 0-100.

  Args:
    hyps: [num_examples][hyp_len] predicted tokens.
    refs: [num_examples][num_refs][ref_len] reference tokens; num_refs may vary per example.
    detok: separator or callable turning a token list into the scored string.
  """
  return sacrebleu.corpus_bleu(*_strings(hyps, refs, detok)).score


def chrf(hyps: Sequence[Tokens], refs: Sequence[Sequence[Tokens]], detok: Detok = " ") -> float:
  """Corpus chrF, 0-100. Arguments as for `bleu`."""
  return sacrebleu.corpus_chrf(*_strings(hyps, refs, detok)).score
