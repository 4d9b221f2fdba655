"""Multi-host training with two real processes on 127.0.0.1 (no mock): `attn_seq2seq.main
--coordinator_address=127.0.0.1:PORT --num_processes=2 --process_id=K`, each process with 2 fake
CPU devices, ends with the results of one process with 4 devices; a killed process makes the other
exit with an error within a bounded time, and the same two commands then resume exactly.
Incomplete or bad multi-host settings are one-line errors before anything is created.

The two-process test takes about a minute and a half on 2 busy cores (one in-process reference run,
two processes killed at their first checkpoint, the same two resumed to the end).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import (
  QUICK,
  ROOT,
  assert_one_error_line,
  checkpoint_steps,
  free_port,
  metrics_records,
  read_json,
  run_main,
  without_timing,
)

from attn_seq2seq.errors import ConfigError
from attn_seq2seq.run_files import RESULTS_FILE
from attn_seq2seq.training import distributed, train

STEPS = 8  # checkpoints every 2 steps: the kill lands after the first, well before the end
HEARTBEAT_TIMEOUT = 5  # seconds: how soon the survivor notices its peer is gone
SURVIVOR_DEADLINE = 90  # seconds from the kill to the survivor's exit (heartbeat + busy machine)


@pytest.mark.parametrize(
  ("settings", "env", "fragments"),
  [
    (
      {"coordinator_address": "127.0.0.1:1234"},
      {},
      ("incomplete", "--num_processes (or JAX_NUM_PROCESSES)", "--process_id (or JAX_PROCESS_ID)"),
    ),
    ({}, {"JAX_COORDINATOR_ADDRESS": "127.0.0.1:1234"}, ("incomplete", "--num_processes")),
    (
      {"num_processes": 2, "process_id": 0},
      {},
      ("missing --coordinator_address (or JAX_COORDINATOR_ADDRESS)", "--multihost"),
    ),
    (
      {"coordinator_address": "127.0.0.1:1234", "num_processes": 2, "process_id": 2},
      {},
      ("--process_id=2", "0 .. 1"),
    ),
    (
      {"coordinator_address": "localhost", "num_processes": 2, "process_id": 0},
      {},
      ("--coordinator_address='localhost'", "HOST:PORT"),
    ),
    (
      {"coordinator_address": "127.0.0.1:1234", "process_id": 0},
      {"JAX_NUM_PROCESSES": "two"},
      ("JAX_NUM_PROCESSES='two'", "integer"),
    ),
  ],
)
def test_incomplete_multihost_settings_are_one_line_errors(settings, env, fragments):
  with pytest.raises(ConfigError) as error:
    distributed.initialize(distributed.resolve(None, settings, env))
  assert all(f in str(error.value) for f in fragments) and "\n" not in str(error.value)


@pytest.mark.parametrize(
  "flag, fragments",
  [
    (
      "--coordinator_address=127.0.0.1:1234",
      ("incomplete", "--num_processes (or JAX_NUM_PROCESSES)"),
    ),
    # jax's cluster detection, which must run before anything initialises JAX: a fresh process
    ("--multihost", ("--multihost", "no cluster detected", "--coordinator_address")),
  ],
  ids=["incomplete", "no_cluster"],
)
def test_main_reports_bad_settings_in_one_line_before_creating_anything(flag, fragments, tmp_path):
  workdir = tmp_path / "run"
  result = run_main([QUICK[0], f"--workdir={workdir}", flag])
  assert result.returncode == 1
  assert_one_error_line(result.stderr, *fragments)
  assert not workdir.exists()


def start_process(workdir: Path, data_dir: Path, port: int, process_id: int, log: Path):
  """One of the two processes of the run, with 2 fake CPU devices, its log in `log`."""
  env = {
    **os.environ,
    "JAX_PLATFORMS": "cpu",
    "XLA_FLAGS": os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2",
  }
  env.pop("JAX_NUM_CPU_DEVICES", None)
  args = [
    *QUICK,
    f"--config.data.data_dir={data_dir}",
    f"--config.num_train_steps={STEPS}",
    f"--workdir={workdir}",
    f"--coordinator_address=127.0.0.1:{port}",
    "--num_processes=2",
    f"--process_id={process_id}",
    f"--heartbeat_timeout={HEARTBEAT_TIMEOUT}",
  ]
  with open(log, "w") as out:
    return subprocess.Popen(
      [sys.executable, "-m", "attn_seq2seq.main", *args],
      cwd=ROOT,
      env=env,
      stdout=out,
      stderr=subprocess.STDOUT,
    )


def start_pair(workdir: Path, data_dir: Path, logs: Path, attempt: int):
  port = free_port()
  return [
    start_process(workdir, data_dir, port, k, logs / f"attempt{attempt}_process{k}.log")
    for k in range(2)
  ]


def assert_close_records(records: list[dict], reference: list[dict]) -> None:
  """The same steps with the same losses and metrics, within float32 tolerance."""
  assert [r["step"] for r in records] == [r["step"] for r in reference]
  for record, expected in zip(records, reference, strict=True):
    for key in ("train/loss", "train/grad_norm", "eval/loss"):
      if key in expected:
        np.testing.assert_allclose(record[key], expected[key], rtol=1e-4, err_msg=key)


def assert_close_results(results: dict, reference: dict) -> None:
  assert results.keys() == reference.keys()
  for split, metrics in reference.items():
    if isinstance(metrics, dict) and "count" in metrics:
      assert results[split]["count"] == metrics["count"], split
      for name, value in metrics.items():
        if isinstance(value, float):
          np.testing.assert_allclose(results[split][name], value, rtol=1e-4, err_msg=split + name)


def test_two_processes_equal_one_process_and_survive_a_killed_peer(quick_reverse_config, tmp_path):
  data_dir = tmp_path / "tfds"
  config = quick_reverse_config(data_dir, steps=STEPS)
  reference = tmp_path / "one_process"
  train.train_and_evaluate(config, reference)  # this process: 4 devices; prepares the data too

  workdir = tmp_path / "two_processes"
  first = start_pair(workdir, data_dir, tmp_path, attempt=1)
  deadline = time.monotonic() + 240
  while not checkpoint_steps(workdir):
    assert all(p.poll() is None for p in first), "a process ended before its first checkpoint"
    assert time.monotonic() < deadline, "no checkpoint after 240 s"
    time.sleep(0.02)
  first[1].send_signal(signal.SIGKILL)
  killed_at = time.monotonic()
  status = first[0].wait(timeout=SURVIVOR_DEADLINE)
  log = (tmp_path / "attempt1_process0.log").read_text()
  assert status != 0 and not (workdir / RESULTS_FILE).exists(), log[-3000:]
  assert "another task died" in log, log[-3000:]  # jax's distributed runtime says why
  first[1].wait()
  print(f"survivor exited {time.monotonic() - killed_at:.1f} s after the kill")

  second = start_pair(workdir, data_dir, tmp_path, attempt=2)
  for k, process in enumerate(second):
    log = tmp_path / f"attempt2_process{k}.log"
    assert process.wait(timeout=300) == 0, log.read_text()[-3000:]
  assert "resum" in (tmp_path / "attempt2_process0.log").read_text().lower()

  assert_close_records(metrics_records(workdir), metrics_records(reference))
  results, expected = read_json(workdir / RESULTS_FILE), read_json(reference / RESULTS_FILE)
  assert without_timing(results)["step"] == STEPS
  assert_close_results(results, expected)
