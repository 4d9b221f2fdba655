"""Training progress and results as text: the interval meter behind the progress line, the
cumulative cost of a run's training (`Totals`), the line itself, and the results table printed at
the end of a run or an evaluation."""

import contextlib
import dataclasses
import time
from collections.abc import Callable

import jax
import numpy as np

from attn_seq2seq.training import members, steps

# `flops_fn(local_batch) -> float`: the FLOPs of one model's training step on a host's batch
# (host-side numpy on `src_lengths` / `tgt_lengths`; see `train.train_and_evaluate`).
FlopsFn = Callable[[dict], float]


@dataclasses.dataclass
class Totals:
  """The cumulative cost of a run's training, continued across resumes: the `train/seconds`,
  `train/tgt_tokens`, `train/src_tokens` (and `train/flops`) of every metrics.jsonl record.

  `seconds` counts time inside training steps only: not evaluation, checkpoints, nor the first
  step after each (re)start, which compiles. Tokens are real (non-padding) tokens of every host's
  batches, EOS included on the target side; a stacked run's members each see all of them.
  """

  seconds: float = 0.0  # training-step time (see the class docstring)
  tgt_tokens: int = 0  # real target tokens trained on
  src_tokens: int = 0  # real source tokens trained on
  flops: float | None = None  # one model's training FLOPs from `flops_fn`; None: not counted

  def scalars(self) -> dict[str, float]:
    """The `train/*` entries of a metrics record."""
    out = {
      "train/seconds": self.seconds,
      "train/tgt_tokens": self.tgt_tokens,
      "train/src_tokens": self.src_tokens,
    }
    if self.flops is not None:
      out["train/flops"] = self.flops
    return out

  def to_json(self) -> dict:
    return dataclasses.asdict(self)

  @classmethod
  def from_json(cls, record: dict | None) -> "Totals":
    return cls(**record) if record else cls()


class Interval:
  """Training metrics and throughput between two progress lines, with paused time excluded, and
  the run's cumulative `Totals` (which the paused time and the compiling first step are not part
  of)."""

  def __init__(self, step: int, totals: Totals | None = None, flops_fn: FlopsFn | None = None):
    self.totals = Totals() if totals is None else dataclasses.replace(totals)
    if flops_fn is not None and self.totals.flops is None:
      self.totals.flops = 0.0
    self._flops_fn = flops_fn
    self._pause_began = None
    self._metrics = []
    # The clock starts with `restart_clock`, after the first step (which compiles).
    self._first_step, self._start, self._paused, self._tokens = step, None, 0.0, 0

  def restart(self, step: int) -> None:
    """A new interval after `step`: metrics and clock (the time so far goes into the totals)."""
    self.totals.seconds += self._counted()
    self._metrics = []
    self.restart_clock(step)

  def restart_clock(self, step: int) -> None:
    """Throughput and training time count from after `step` (e.g. the first one, which compiled:
    its time is dropped); metrics stay."""
    self._first_step, self._start, self._paused, self._tokens = step, time.perf_counter(), 0.0, 0

  def stop_clock(self) -> None:
    """Training is over: the time so far goes into the totals, and no more time is counted."""
    self.totals.seconds += self._counted()
    self._start = None

  def add(self, metrics, local_batch: dict) -> None:
    """One step's device metrics (fetched lazily, at `scalars`) and this host's batch (its real
    tokens, counted for every host)."""
    hosts = jax.process_count()
    tgt_tokens = int(np.count_nonzero(local_batch["tgt_out"])) * hosts
    self._metrics.append(metrics)
    self._tokens += tgt_tokens
    self.totals.tgt_tokens += tgt_tokens
    self.totals.src_tokens += int(np.sum(local_batch["src_lengths"])) * hosts
    if self._flops_fn is not None:
      self.totals.flops += float(self._flops_fn(local_batch)) * hosts

  @contextlib.contextmanager
  def paused(self):
    """Time inside the block is neither throughput nor training time."""
    self._pause_began = time.perf_counter()
    try:
      yield
    finally:
      self._paused += time.perf_counter() - self._pause_began
      self._pause_began = None

  def totals_now(self) -> Totals:
    """The totals up to now (a copy); call when the devices have finished the steps dispatched."""
    return dataclasses.replace(self.totals, seconds=self.totals.seconds + self._counted())

  def _counted(self) -> float:
    """Seconds of training since the clock started: elapsed, less the pauses (the current too)."""
    if self._start is None:
      return 0.0
    now = time.perf_counter()
    pausing = 0.0 if self._pause_began is None else now - self._pause_began
    return max(now - self._start - self._paused - pausing, 0.0)

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
    elapsed = max(self._counted(), 1e-9)
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
  """The headline metrics of every split of `results` (its entries with a `count`) as an aligned
  text table."""
  splits = [s for s in results if isinstance(results[s], dict) and "count" in results[s]]
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


def selection_line(results: dict) -> str | None:
  """What early stopping selected, for a run's results.json (None if it was off)."""
  rule = results.get("early_stopping")
  if rule is None:
    return None
  best = rule["best_value"]
  return (
    f"early stopping on validation {rule['metric']}: the model of step {results['step']}"
    + (f" ({best:.4f})" if best is not None else "")
    + f", trained to step {results['last_step']} ({results['stop_reason']})"
  )


def _format(value: float) -> str:
  return f"{value:.4f}" if isinstance(value, float) else str(value)


def last_good_checkpoint(step: int | None, directory) -> str:
  """The sentence of a stop message that says where a re-run would resume."""
  if step is None:
    return f"No checkpoint was saved yet (in {directory}): a re-run starts from scratch"
  return f"The last good checkpoint is step {step} in {directory}"
