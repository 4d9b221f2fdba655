"""Stopping a run cleanly: SIGTERM / SIGINT become a stop request at the next step boundary."""

import signal
import threading

import jax
from absl import logging
from jax.experimental import multihost_utils


class StopOnSignal:
  """Turns SIGTERM and SIGINT into a stop request the loop honours at the next step boundary.

  A second SIGINT raises KeyboardInterrupt at once. In a multi-host run every host stops at the
  same step: JAX's preemption sync point (set up by `jax.distributed.initialize`) agrees on it.
  Handlers are only installed from the main thread and are restored on exit.
  """

  _SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self):
    self._event = threading.Event()
    self._previous = {}

  def _handle(self, signum, frame):
    if signum == signal.SIGINT and self._event.is_set():
      raise KeyboardInterrupt
    logging.warning("received %s; stopping after this step", signal.Signals(signum).name)
    self._event.set()

  def is_set(self, step: int) -> bool:
    if jax.process_count() > 1:
      return multihost_utils.reached_preemption_sync_point(step)
    return self._event.is_set()

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for sig in self._SIGNALS:
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    return False
