"""Figures for analysis: attention heatmaps, metric-versus-source-length curves, scatter plots.

Drawn with matplotlib's object-oriented API on an Agg canvas, never through pyplot: importing this
module selects no backend, and a figure is never registered in pyplot's global figure list, so
nothing stays open after saving (the figure is garbage once the function returns) and plotting
from several threads or in a notebook does not leak state.
"""

import re
from collections.abc import Mapping, Sequence
from numbers import Real
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from mpl_toolkits.axes_grid1 import make_axes_locatable

from attn_seq2seq.metrics.by_length import BY_LENGTH, parse_bucket_label

_DPI = 150
# Side of one attention cell in inches: 12 inches over the longer side, kept within these bounds
# so a 60 x 60 map is about 12 inches wide and a 2 x 2 map is not a poster.
_MIN_CELL_INCHES, _MAX_CELL_INCHES = 0.2, 0.4
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_LINESTYLES = ("-", "--", "-.", ":")

# x positions of a curve: numbers (e.g. bucket centres) or labels (e.g. '10-19', '30+').
CurveX = Sequence[float] | Sequence[str]


def plot_attention(
  attn_weights: np.ndarray,
  src_tokens: Sequence[str],
  tgt_tokens: Sequence[str],
  path: str | Path,
  title: str | None = None,
) -> Path:
  """Saves a heatmap of one sentence's attention weights as a PNG (Bahdanau et al. 2015, Fig. 3).

  Source tokens label the x axis (rotated), output tokens the y axis, one row per decoder step.
  The colour scale is fixed to [0, 1] so maps of different sentences compare. Cells, figure and
  fonts scale with the matrix so every label stays legible up to 60 x 60 and beyond.
  Whitespace-only tokens (a space in character-level tasks) are drawn as '␣', an empty one as
  '∅'; text is never parsed as mathtext, so '$' tokens are drawn as they are.

  Args:
    attn_weights: [tgt_len, src_len] attention weights, row i the distribution over the source
      at output step i, already cut to the true lengths.
    src_tokens: [src_len] source tokens.
    tgt_tokens: [tgt_len] output tokens (including EOS if its row is included).
    path: where to write the PNG; parent directories are created.
    title: optional title above the map.

  Returns:
    The path written.
  """
  attn_weights = np.asarray(attn_weights, dtype=np.float64)
  expected = (len(tgt_tokens), len(src_tokens))
  if attn_weights.shape != expected:
    raise ValueError(
      f"attn_weights has shape {attn_weights.shape}, but the tokens need "
      f"[tgt_len, src_len] = {expected}"
    )
  if attn_weights.size == 0:
    raise ValueError(f"cannot plot an empty attention matrix of shape {expected}")

  tgt_len, src_len = expected
  cell = float(np.clip(12.0 / max(expected), _MIN_CELL_INCHES, _MAX_CELL_INCHES))
  fontsize = float(np.clip(0.6 * 72 * cell, 8, 12))  # points; 60 % of a cell's height
  # The axes fill the figure; bbox_inches='tight' adds room for the labels when saving.
  fig = Figure(figsize=(max(cell * src_len, 2.0) + 0.25, max(cell * tgt_len, 2.0)), dpi=_DPI)
  FigureCanvasAgg(fig)
  ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
  image = ax.imshow(
    attn_weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="equal", interpolation="nearest"
  )
  text = {"fontsize": fontsize, "parse_math": False}
  ax.set_xticks(np.arange(src_len), [_visible(t) for t in src_tokens], rotation=90, **text)
  ax.set_yticks(np.arange(tgt_len), [_visible(t) for t in tgt_tokens], **text)
  ax.set_xlabel("source", **text)
  ax.set_ylabel("output", **text)
  if title is not None:
    ax.set_title(title, **text)
  colorbar_ax = make_axes_locatable(ax).append_axes("right", size=0.15, pad=0.1)  # inches
  colorbar = fig.colorbar(image, cax=colorbar_ax)
  colorbar.ax.tick_params(labelsize=fontsize)
  return _save(fig, path)


def plot_metric_vs_length(
  curves: Mapping[str, tuple[CurveX, Sequence[float]]],
  path: str | Path,
  metric_name: str,
  *,
  title: str | None = None,
  xlabel: str = "source length (tokens)",
  bands: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
) -> Path:
  """Saves one line per run of a metric against source length (Bahdanau et al. 2015, Fig. 2).

  Args:
    curves: run label -> (x, values). x holds numbers (e.g. bucket centres) or bucket labels
      as written by `metrics.compute_metrics` ('0-9', '10-19', '30+'); labels are placed in
      order of their lower edge, and a run missing a bucket simply has no point there.
    path: where to write the PNG; parent directories are created.
    metric_name: y-axis label, e.g. 'BLEU' or 'exact match'.
    title: optional title.
    xlabel: x-axis label.
    bands: optional curve label -> (lower, upper) values at the curve's x, drawn as a shaded
      band in the curve's colour (e.g. a confidence interval over seeds); NaN leaves a gap.

  Returns:
    The path written.
  """
  bands = bands or {}
  if not curves:
    raise ValueError("plot_metric_vs_length needs at least one curve")
  for label, (xs, values) in curves.items():
    if len(xs) != len(values):
      raise ValueError(f"curve {label!r} has {len(xs)} x values but {len(values)} values")
  for label, (lower, upper) in bands.items():
    if label not in curves or not len(lower) == len(upper) == len(curves[label][0]):
      raise ValueError(f"band {label!r} needs a curve of that label and one bound per x")

  all_xs = [x for xs, _ in curves.values() for x in xs]
  categorical = not all(isinstance(x, Real) for x in all_xs)
  if categorical:
    categories = _ordered_categories([str(x) for x in all_xs])
    position = {category: i for i, category in enumerate(categories)}

  legend_beside = len(curves) > 4  # then the legend goes beside the axes, hiding no curve
  fig = Figure(figsize=(9.6 if legend_beside else 6.4, 4.2), dpi=_DPI, layout="constrained")
  FigureCanvasAgg(fig)
  ax = fig.add_subplot()
  # Ten curves fit the default colour cycle; more take tab20's dark shades, then its light ones.
  tab20 = matplotlib.colormaps["tab20"]
  colours = [
    tab20((2 * k) % 20 + (2 * k // 20) % 2) if len(curves) > 10 else None
    for k in range(len(curves))
  ]
  for k, (label, (xs, values)) in enumerate(curves.items()):
    positions = [position[str(x)] for x in xs] if categorical else xs
    (line,) = ax.plot(
      positions,
      values,
      marker=_MARKERS[k % len(_MARKERS)],
      linestyle=_LINESTYLES[k % len(_LINESTYLES)],
      color=colours[k],
      label=label,
    )
    if label in bands:
      lower, upper = (np.asarray(b, dtype=np.float64) for b in bands[label])
      ax.fill_between(positions, lower, upper, color=line.get_color(), alpha=0.15, lw=0)
  if categorical:
    rotation = 45 if len(categories) > 8 else 0
    ax.set_xticks(np.arange(len(categories)), categories, rotation=rotation)
  ax.set_xlabel(xlabel)
  ax.set_ylabel(metric_name)
  if title is not None:
    ax.set_title(title)
  ax.grid(True, alpha=0.3)
  if legend_beside:
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small")
  else:
    ax.legend()
  return _save(fig, path)


def plot_points(
  series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
  path: str | Path,
  *,
  xlabel: str,
  ylabel: str,
  title: str | None = None,
  log_x: bool = False,
) -> Path:
  """Saves a scatter plot, one marker style per series (e.g. one point per run of each arm).

  Args:
    series: label -> (x values, y values), of equal lengths.
    path: where to write the PNG; parent directories are created.
    xlabel: the x-axis label.
    ylabel: the y-axis label.
    title: optional title.
    log_x: a logarithmic x axis (e.g. FLOPs).

  Returns:
    The path written.
  """
  if not series:
    raise ValueError("plot_points needs at least one series")
  fig = Figure(figsize=(9.6 if len(series) > 4 else 6.4, 4.2), dpi=_DPI, layout="constrained")
  FigureCanvasAgg(fig)
  ax = fig.add_subplot()
  for k, (label, (xs, ys)) in enumerate(series.items()):
    if len(xs) != len(ys):
      raise ValueError(f"series {label!r} has {len(xs)} x values but {len(ys)} y values")
    ax.scatter(xs, ys, marker=_MARKERS[k % len(_MARKERS)], label=label)
  if log_x:
    ax.set_xscale("log")
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  if title is not None:
    ax.set_title(title)
  ax.grid(True, alpha=0.3)
  if len(series) > 4:
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small")
  else:
    ax.legend()
  return _save(fig, path)


def length_curve(
  results: Mapping[str, float], metric: str, *, prefix: str = "", min_count: int = 1
) -> tuple[list[str], list[float]]:
  """Extracts a metric-versus-length curve from flat `results.json`-style metrics.

  Reads the keys f'{prefix}by_length/<lo>-<hi>/{metric}' (and '<lo>+' for the open bucket)
  written by `metrics.compute_metrics`, in order of the buckets' lower edges.

  Args:
    results: flat metric dict, e.g. {'test/by_length/10-19/bleu': 27.3, ...}.
    metric: metric name, e.g. 'bleu' or 'exact_match'.
    prefix: text before 'by_length/', e.g. 'test/'.
    min_count: buckets whose '<...>/count' entry is below this are skipped (too few sentences
      for a stable value); buckets without a count entry are kept.

  Returns:
    (bucket labels, values), ready for `plot_metric_vs_length`.
  """
  key = re.compile(re.escape(f"{prefix}{BY_LENGTH}/") + r"([^/]+)/" + re.escape(metric))
  points = []
  for name, value in results.items():
    match = key.fullmatch(name)
    if match is None:
      continue
    label = match.group(1)
    if results.get(f"{prefix}{BY_LENGTH}/{label}/count", min_count) >= min_count:
      points.append((parse_bucket_label(label)[0], label, float(value)))
  if not points:
    raise ValueError(f"no '{prefix}{BY_LENGTH}/<bucket>/{metric}' entries in results")
  points.sort()
  return [label for _, label, _ in points], [value for _, _, value in points]


def _ordered_categories(labels: Sequence[str]) -> list[str]:
  """Distinct labels, by lower bucket edge when all are bucket labels, else by first use."""
  distinct = list(dict.fromkeys(labels))
  try:
    return sorted(distinct, key=lambda label: parse_bucket_label(label)[0])
  except ValueError:
    return distinct


def _visible(token: str) -> str:
  """The token; a whitespace-only one as one '␣' per character, the empty one as '∅'."""
  if token.strip():
    return token
  return "\u2423" * len(token) if token else "\u2205"


def _save(fig: Figure, path: str | Path) -> Path:
  """Writes `fig` as a PNG cropped to its content, creating parent directories."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, format="png", bbox_inches="tight", pad_inches=0.1)
  return path
