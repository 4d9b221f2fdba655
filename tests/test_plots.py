"""Attention heatmaps and metric-versus-length curves: files, sizes, labels, no leaked state."""

import struct
import warnings

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest

from attn_seq2seq.metrics import compute_metrics
from attn_seq2seq.metrics.plots import (
  length_curve,
  plot_attention,
  plot_metric_vs_length,
)


def png_size(path):
  """(width, height) from the PNG signature and IHDR chunk; fails on anything but a PNG."""
  header = path.read_bytes()[:24]
  assert header[:8] == b"\x89PNG\r\n\x1a\n" and header[12:16] == b"IHDR"
  return struct.unpack(">II", header[16:24])


def random_attention(tgt_len, src_len, seed=0):
  logits = np.random.default_rng(seed).normal(size=(tgt_len, src_len))
  weights = np.exp(logits)
  return weights / weights.sum(axis=1, keepdims=True)


def test_one_by_one_attention_map_is_a_small_readable_png(tmp_path):
  path = plot_attention(np.ones((1, 1)), ["x"], ["</s>"], tmp_path / "one.png", title="1 x 1")
  width, height = png_size(path)
  assert 150 <= width <= 1000 and 150 <= height <= 1000
  assert matplotlib.image.imread(path).shape[:2] == (height, width)


def test_sixty_by_sixty_map_grows_with_the_matrix(tmp_path):
  src = [f"src{i}" for i in range(60)]
  tgt = [f"out{i}" for i in range(59)] + ["</s>"]
  path = plot_attention(random_attention(60, 60), src, tgt, tmp_path / "nested" / "sixty.png")
  width, height = png_size(path)
  # At least ~25 px per cell at 150 dpi, so 60 labels of 8 pt fit without overlapping.
  assert 1500 <= width <= 4000 and 1500 <= height <= 4000


def test_unicode_whitespace_and_dollar_tokens_render_without_missing_glyphs(tmp_path):
  src = ["\u2581the", "Stra\u00dfe", "\u00e9t\u00e9", " ", "$x$", "\u0436\u0443\u043a"]
  tgt = ["\u03a9", "na\u00efve", "", "</s>"]
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    attn = random_attention(4, 6)
    path = plot_attention(attn, src, tgt, tmp_path / "unicode.png", title="$5")
  assert png_size(path)
  assert not [w for w in caught if "missing from" in str(w.message)]


def test_attention_shape_must_match_the_tokens(tmp_path):
  with pytest.raises(ValueError, match=r"\(3, 2\)"):
    plot_attention(np.ones((2, 3)), ["a", "b"], ["x", "y", "z"], tmp_path / "bad.png")
  assert not (tmp_path / "bad.png").exists()


def test_plots_leave_no_pyplot_figures_open(tmp_path):
  plot_attention(np.ones((1, 1)), ["x"], ["y"], tmp_path / "a.png")
  plot_metric_vs_length({"run": ([5, 15], [0.9, 0.8])}, tmp_path / "b.png", "exact match")
  assert plt.get_fignums() == []


def test_metric_vs_length_draws_several_runs_with_numeric_or_bucket_x(tmp_path):
  numeric = {
    "attention": ([5, 15, 25], [0.99, 0.97, 0.95]),
    "no attention": ([5, 15], [0.9, 0.6]),
  }
  width, height = png_size(plot_metric_vs_length(numeric, tmp_path / "n.png", "exact match"))
  assert 500 <= width <= 2000 and 300 <= height <= 1500
  labelled = {
    "RNNsearch": (["0-9", "10-19", "20+"], [24.0, 22.0, 20.0]),
    "RNNenc": (["0-9", "20+"], [20.0, 10.0]),  # a run without the middle bucket
  }
  assert png_size(plot_metric_vs_length(labelled, tmp_path / "l.png", "BLEU", title="t"))


def test_metric_vs_length_rejects_mismatched_curve(tmp_path):
  with pytest.raises(ValueError, match="'run' has 2 x values but 1"):
    plot_metric_vs_length({"run": ([5, 15], [0.9])}, tmp_path / "c.png", "exact match")


def test_length_curve_reads_prefixed_bucket_keys_in_numeric_edge_order():
  results = {
    "test/by_length/100+/bleu": 10.0,
    "test/by_length/20-29/bleu": 20.0,
    "test/by_length/0-9/bleu": 30.0,
    "test/by_length/0-9/chrf": 55.0,  # another metric
    "dev/by_length/0-9/bleu": 99.0,  # another split
    "test/bleu": 25.0,
  }
  assert length_curve(results, "bleu", prefix="test/") == (
    ["0-9", "20-29", "100+"],
    [30.0, 20.0, 10.0],
  )


def test_length_curve_skips_buckets_with_too_few_examples():
  results = {
    "by_length/0-9/count": 100,
    "by_length/0-9/exact_match": 0.9,
    "by_length/10+/count": 3,
    "by_length/10+/exact_match": 0.1,
  }
  assert length_curve(results, "exact_match", min_count=10) == (["0-9"], [0.9])


def test_length_curve_reads_what_compute_metrics_writes():
  hyps = [["a"], ["b", "c"], ["x", "y", "z"]]
  refs = [[["a"]], [["b", "d"]], [["x", "y", "z"]]]
  results = compute_metrics(("exact_match",), hyps, refs, [1, 2, 12], bucket_edges=[0, 2, 10])
  # Bucket 2-9 holds the wrong example, 10+ the right one; empty buckets give no point.
  assert length_curve(results, "exact_match") == (["0-1", "2-9", "10+"], [1.0, 0.0, 1.0])


def test_length_curve_without_the_metric_raises():
  with pytest.raises(ValueError, match="by_length/<bucket>/bleu"):
    length_curve({"by_length/0-9/exact_match": 1.0}, "bleu")
