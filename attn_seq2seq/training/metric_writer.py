"""Scalar metrics of a run, written to `metrics.jsonl` (one object per step) and TensorBoard.

Only process 0 writes; on other hosts every call is a no-op. TensorBoard event files are written
by tensorboardX (no TensorFlow needed), imported on first use.
"""

import json
import math
from pathlib import Path

import jax

from attn_seq2seq.errors import FileWriteError
from attn_seq2seq.run_files import METRICS_FILE, TENSORBOARD_DIR


class MetricWriter:
  """`write(step, {'train/loss': 1.2, ...})` appends `{"step": ..., ...}` to metrics.jsonl and
  adds each scalar to TensorBoard under its name."""

  def __init__(self, workdir: str | Path, tensorboard: bool = True):
    self._active = jax.process_index() == 0
    self._jsonl = None
    self._tb = None
    if not self._active:
      return
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    self._path = workdir / METRICS_FILE
    self._jsonl = open(workdir / METRICS_FILE, "a", encoding="utf-8")  # noqa: SIM115
    if tensorboard:
      from tensorboardX import SummaryWriter  # noqa: PLC0415  (protobuf: only with TensorBoard)

      self._tb = SummaryWriter(str(workdir / TENSORBOARD_DIR))

  def write(self, step: int, scalars: dict[str, float]) -> None:
    if not self._active:
      return
    scalars = {k: float(v) for k, v in scalars.items()}
    # JSON has no NaN/Infinity: write them as null so every line stays standard JSON.
    record = {
      "step": int(step),
      **{k: (v if math.isfinite(v) else None) for k, v in scalars.items()},
    }
    try:
      self._jsonl.write(json.dumps(record) + "\n")
      self._jsonl.flush()
      if self._tb is not None:
        for name, value in scalars.items():
          self._tb.add_scalar(name, value, int(step))
        self._tb.flush()
    except OSError as e:  # a full disk: one line naming the file (a resumed run drops the part)
      raise FileWriteError(f"cannot write {self._path}: {e.strerror or e}") from None

  def close(self) -> None:
    if self._jsonl is not None:
      self._jsonl.close()
    if self._tb is not None:
      self._tb.close()
