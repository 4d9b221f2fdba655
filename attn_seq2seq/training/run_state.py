"""What one launch of a run holds between the training loop's phases (train.py: restore or
initialise, train an interval, evaluate, finish), and what of it a checkpoint records.

    state.progress_record()          # saved with every checkpoint (its `progress` item)
    totals = state.restore_progress(checkpointer.restore_progress(step))   # on resume

The record holds the last evaluated step, the wall seconds of the launches so far, the run's
cumulative `progress.Totals` and each member's early-stopping `Tracker`: with the train state and
the data position, everything a resumed run needs to take the decisions, and write the records,
of an uninterrupted one.
"""

import contextlib
import dataclasses
import time
from pathlib import Path
from typing import Any

import jax
import ml_collections
from absl import logging

from attn_seq2seq.training import members, progress
from attn_seq2seq.training.checkpoint import Checkpointer
from attn_seq2seq.training.early_stopping import Rule, Tracker
from attn_seq2seq.training.evaluator import Evaluator
from attn_seq2seq.training.progress import Totals

VALIDATION = "validation"  # the split the loop evaluates (early stopping, heatmaps)


@dataclasses.dataclass(eq=False)
class RunState:
  """What one launch of a run holds between the training loop's phases (see the module
  docstring)."""

  config: ml_collections.ConfigDict
  workdir: Path
  group: members.MemberGroup  # the models trained: one, or a stack's members
  rule: Rule  # early stopping (off: patience 0)
  task: Any  # data.Task: vocabularies and batches
  fns: Any  # train_functions.TrainFunctions: model, schedule, jitted init and train step
  data_sharding: Any
  checkpointer: Checkpointer
  train_iter: Any  # the training batches, positioned after `step`
  abstract_state: Any  # the train state's shapes and shardings
  dropout_rng: jax.Array  # one key, or `[members]` keys
  started: float  # perf_counter() when this launch started
  startup: dict[str, float]  # seconds of each startup phase, for the first step's log line
  trackers: list[Tracker]  # early stopping, one per member
  state: Any = None  # the train state after `step` updates
  step: int = 0
  meter: progress.Interval | None = None  # progress lines and the run's cumulative totals
  evaluator: Evaluator | None = None
  evaluated_step: int | None = None  # the last step whose evaluation is done
  wall_before: float = 0.0  # wall seconds of the launches before this one
  first: tuple | None = None  # (first batch, its compilation) until the first step has run
  pending_loss: tuple | None = None  # (step, loss sums) of the last step, checked one step late
  validation: dict[int, list] = dataclasses.field(default_factory=dict)  # step -> per member

  @property
  def num_steps(self) -> int:
    return self.config.num_train_steps

  def active(self) -> list[int]:
    """The members still training (all of them unless early stopping stopped some)."""
    return [k for k, tracker in enumerate(self.trackers) if not tracker.stopped]

  def training_left(self) -> bool:
    return self.step < self.num_steps and bool(self.active())

  def evaluation_due(self) -> bool:
    every = self.config.eval_every_steps
    due = self.step % every == 0 or self.step == self.num_steps
    return self.step > 0 and due and self.evaluated_step != self.step

  def wall_seconds(self) -> float:
    return self.wall_before + time.perf_counter() - self.started

  def kept_steps(self) -> frozenset[int]:
    """The checkpoints kept whatever their age: each member's best step."""
    return frozenset(t.best_step for t in self.trackers if t.best_step is not None)

  def progress_record(self) -> dict:
    """What a checkpoint stores of the loop (`restore_progress` reads it back)."""
    return {
      "evaluated_step": self.evaluated_step,
      "wall_seconds": self.wall_seconds(),
      "totals": self.meter.totals_now().to_json(),
      "members": [tracker.to_json() for tracker in self.trackers],
    }

  def restore_progress(self, record: dict | None) -> Totals | None:
    """Takes the loop's state from a checkpoint's `progress_record`; returns its totals. None:
    a fresh run, or a checkpoint written before the record existed (the loop evaluated before
    saving, except at the last step, whose evaluation was the final one)."""
    if record is None:
      self.evaluated_step = self.step if 0 < self.step < self.num_steps else None
      return None
    self.evaluated_step, self.wall_before = record["evaluated_step"], record["wall_seconds"]
    if len(record["members"]) == len(self.trackers):
      self.trackers = [Tracker.from_json(t) for t in record["members"]]
    return Totals.from_json(record["totals"])

  def remember_validation(self, step: int, metrics: list) -> None:
    """Keeps the validation metrics of `step` while it may be some member's selected step."""
    self.validation[step] = metrics
    wanted = self.kept_steps() | {step}
    self.validation = {s: m for s, m in self.validation.items() if s in wanted}

  def selected(self, k: int, end_totals: Totals) -> tuple[int, Totals]:
    """Member k's selected step and the totals then: its best step under early stopping, else its
    last one."""
    tracker = self.trackers[k]
    if self.rule.enabled and tracker.best_step is not None:
      return tracker.best_step, Totals.from_json(tracker.best_totals)
    return self.last(k, end_totals)

  def last(self, k: int, end_totals: Totals) -> tuple[int, Totals]:
    """Member k's last trained step and the totals then (`end_totals`: at the end of training)."""
    tracker = self.trackers[k]
    if tracker.stopped:
      return tracker.stopped_step, Totals.from_json(tracker.stopped_totals)
    return self.step, end_totals

  @contextlib.contextmanager
  def pause(self):
    """Evaluation or checkpointing: waits for the steps dispatched, yields the totals after them,
    and keeps the block out of the training time and throughput."""
    jax.block_until_ready(self.state)
    with self.meter.paused():
      yield self.meter.totals_now()  # the same all through the block

  def record_split(
    self, k: int, split: str, step: int, metrics: dict, took: float, totals: Totals
  ) -> None:
    """Member k's log line and metrics record of an evaluation of `split` at `step`."""
    headline = "  ".join(
      f"{n} {v:.4f}" for n, v in metrics.items() if "/" not in n and n != "count"
    )
    logging.info("%s at step %d%s: %s (%.1f s)", split, step, self.group.label(k), headline, took)
    prefix = "eval" if split == VALIDATION else split
    scalars = {f"{prefix}/{n}": v for n, v in metrics.items() if "/" not in n}
    self.group.write(k, step, {**scalars, **totals.scalars()})
