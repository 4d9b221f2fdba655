"""Training progress and results as text: the interval meter behind the progress line, the
line itself, and the results table printed at the end of a run or an evaluation."""

import contextlib
import time

import jax
import numpy as np

from attn_seq2seq.training import members, steps


class Interval:
  """Training metrics and throughput between two progress lines, with paused time excluded."""

  def __init__(self, step: int):
    self.restart(step)

  def restart(self, step: int) -> None:
    """A new interval after `step`: metrics and clock."""
    self._metrics = []
    self.restart_clock(step)

  def restart_clock(self, step: int) -> None:
    """Throughput counts from after `step` (e.g. the first one, which compiled); metrics stay."""
    self._first_step, self._start, self._paused, self._tokens = step, time.perf_counter(), 0.0, 0

  def add(self, metrics, num_tokens: int) -> None:
    """One step's device metrics (fetched lazily, at `scalars`) and its real target tokens."""
    self._metrics.append(metrics)
    self._tokens += int(num_tokens)

  @contextlib.contextmanager
  def paused(self):
    began = time.perf_counter()
    try:
      yield
    finally:
      self._paused += time.perf_counter() - began

  def scalars(self, step: int) -> dict[str, float]:
    """`train/*` means of the (sum, count) metrics, steps/s and target tokens/s."""
    return self._scalars(step, jax.device_get(self._metrics))

  def member_scalars(self, step: int, num_members: int) -> list[dict[str, float]]:
    """`scalars` of each member of a stacked run (metrics with `[members]` leaves; every member
    trains on all the target tokens)."""
    per_member = members.split_metrics(jax.device_get(self._metrics), num_members)
    return [self._scalars(step, metrics) for metrics in per_member]

  def _scalars(self, step: int, host_metrics: list) -> dict[str, float]:
    summed = steps.sum_metrics(host_metrics)
    scalars = {f"train/{k}": v for k, v in steps.normalize(summed).items()}
    elapsed = max(time.perf_counter() - self._start - self._paused, 1e-9)
    scalars["train/steps_per_sec"] = (step - self._first_step) / elapsed
    scalars["train/tgt_tokens_per_sec"] = self._tokens / elapsed
    return scalars


def progress_line(step: int, num_steps: int, scalars: dict) -> str:
  rate = scalars["train/steps_per_sec"]
  eta = (num_steps - step) / rate if rate > 0 else float("inf")
  return (
    f"step {step}/{num_steps}  loss {scalars['train/loss']:.4f}  "
    f"acc {scalars['train/accuracy']:.4f}  {rate:.2f} steps/s  "
    f"{scalars['train/tgt_tokens_per_sec']:,.0f} tgt tokens/s  ETA {duration(eta)}"
  )


def duration(seconds: float) -> str:
  if not np.isfinite(seconds):
    return "?"
  minutes, seconds = divmod(int(round(seconds)), 60)
  hours, minutes = divmod(minutes, 60)
  return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


def results_table(results: dict) -> str:
  """The headline metrics of every split of `results` as an aligned text table."""
  splits = [s for s in results if isinstance(results[s], dict)]
  names = []
  for split in splits:
    names += [k for k in results[split] if "/" not in k and k != "count" and k not in names]
  rows = [["split", "count", *names]]
  for split in splits:
    metrics = results[split]
    rows.append(
      [
        split,
        f"{metrics.get('count', '')}",
        *[_format(metrics[n]) if n in metrics else "" for n in names],
      ]
    )
  widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
  return "\n".join(
    "  ".join(
      cell.rjust(w) if i else cell.ljust(w)
      for i, (cell, w) in enumerate(zip(row, widths, strict=True))
    )
    for row in rows
  )


def _format(value: float) -> str:
  return f"{value:.4f}" if isinstance(value, float) else str(value)
