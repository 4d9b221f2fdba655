"""Stopping a run cleanly: SIGTERM / SIGINT become a stop request at the next step boundary."""

import os
import signal
import threading

import jax
from jax.experimental import multihost_utils


class StopOnSignal:
  """Turns SIGTERM and SIGINT into a stop request the loop honours at the next step boundary.

  A second signal while the stop is pending (the stop checkpoint is being written) is ignored
  with a warning: interrupting the save would leave `<step>.orbax-checkpoint-tmp` instead of a
  checkpoint, and a KeyboardInterrupt raised inside orbax's or JAX's waits has left tracebacks
  from their threads and, once, a hang. SIGKILL still ends the run at once (the previous
  checkpoint is then the latest). In a multi-host run every host stops at the same step: JAX's
  preemption sync point (set up by `jax.distributed.initialize`) agrees on it. Handlers are
  only installed from the main thread and are restored on exit.
  """

  _SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self):
    self._event = threading.Event()
    self._previous = {}

  def _handle(self, signum, frame):
    name = signal.Signals(signum).name
    if self._event.is_set():
      _say(
        f"received {name} again; ignored: the run is already stopping and saving its checkpoint "
        "(SIGKILL abandons it and keeps the previous checkpoint)"
      )
      return
    _say(
      f"received {name}; stopping after this step with a checkpoint (another Ctrl-C is ignored "
      "while it is saved)"
    )
    self._event.set()

  def is_set(self, step: int) -> bool:
    if jax.process_count() > 1:
      return multihost_utils.reached_preemption_sync_point(step)
    return self._event.is_set()

  def requested_here(self) -> bool:
    """Whether this process received a stop signal, without a sync point: asked once training
    has no step left, where a one-process run then stops before its final evaluation (a
    multi-host run, whose hosts must agree, finishes it)."""
    return jax.process_count() == 1 and self._event.is_set()

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for sig in self._SIGNALS:
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    return False


def _say(message: str) -> None:
  """One warning line on stderr, written unbuffered: a signal handler that logs or prints
  through Python's buffered stderr while the interrupted code is writing to it raises
  "reentrant call" in the middle of that write."""
  os.write(2, f"warning: {message}\n".encode())
