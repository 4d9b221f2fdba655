"""Perplexity from a summed negative log-likelihood and its token count."""

import math


def perplexity(nll_sum: float, token_count: float) -> float:
    """exp(mean per-token negative log-likelihood).

    Args:
      nll_sum: sum over target tokens of -log p(token | prefix, source), natural log (nats),
        EOS included, padding excluded.
      token_count: the number of tokens summed in `nll_sum`.

    Returns:
      exp(nll_sum / token_count).
    """
    if token_count <= 0:
        raise ValueError(f"perplexity needs a positive token_count, got {token_count}")
    return math.exp(nll_sum / token_count)
