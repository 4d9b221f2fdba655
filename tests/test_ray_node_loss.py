"""The Ray backend of run_sweep.py losing a node: a real multi-node Ray cluster on 127.0.0.1 (a
head with no CPUs, and worker nodes started as separate raylets with `ray start --address`). The
sweep's runs train on worker node A; once each has a checkpoint, node B joins and node A is
killed outright (its whole process tree SIGKILLed, Ray workers first, then the trainers: a
machine that vanished). Ray reports the runs' tasks as failed, the runs are rescheduled on B,
resume from their checkpoints, and the sweep ends with every result once.

One test, about a minute and a half on 2 busy cores.
"""

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import pytest
from helpers import ROOT, checkpoint_steps, free_port, read_json, start_ray_node, stop_ray_node

pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")  # installed with ray

RUNS = ("seed0", "seed1")
STEPS = 400
SWEEP_FILE = f"""
def get_sweep(arg=None):
  return [{{"name": f"seed{{seed}}", "config": "configs/dates.py:quick",
           "overrides": {{"seed": seed, "num_train_steps": {STEPS}, "checkpoint_every_steps": 20,
                         "log_every_steps": 50, "eval_every_steps": {STEPS}}}}}
          for seed in range(2)]
"""
# The GCS declares a silent node dead after 3 missed health checks 1 s apart (default: 5 x 3 s).
FAST_HEALTH_CHECKS = {
  "RAY_health_check_period_ms": "1000",
  "RAY_health_check_failure_threshold": "3",
}


def kill_node(node: subprocess.Popen) -> None:
  """SIGKILLs `ray start --block` and every process under it, parents first: its raylet, the Ray
  workers the raylet started (in their own sessions), and the trainers they started; the Ray
  workers die before they could report their trainer's end, as on a machine that vanished."""
  tree = psutil.Process(node.pid).children(recursive=True)  # parents before their children
  for process in [psutil.Process(node.pid), *tree]:
    with contextlib.suppress(psutil.NoSuchProcess):
      process.send_signal(signal.SIGKILL)
  node.wait()
  node.stdout.close()


def attempt_pids(log_path) -> dict[int, int]:
  """Attempt number -> trainer pid, from the headers of a run's log.txt."""
  text = log_path.read_text() if log_path.exists() else ""
  return {int(a): int(p) for a, p in re.findall(r"ray attempt (\d+) on \S+, pid (\d+):", text)}


def test_a_lost_node_s_runs_resume_on_another_node(tmp_path):
  port = free_port()
  temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit
  env = {
    **os.environ,
    **FAST_HEALTH_CHECKS,
    "TFDS_DATA_DIR": str(tmp_path / "tfds"),
    "RAY_USAGE_STATS_ENABLED": "0",
  }
  worker = ["--address", f"127.0.0.1:{port}", "--num-cpus=2"]
  nodes = [start_ray_node(["--head", f"--port={port}", "--num-cpus=0"], env, temp_dir)]
  try:
    nodes.append(start_ray_node(worker, env))  # node A: where the runs start
    sweep_file = tmp_path / "two_runs.py"
    sweep_file.write_text(SWEEP_FILE)
    root = tmp_path / "root"
    driver = subprocess.Popen(
      [
        sys.executable,
        "scripts/run_sweep.py",
        f"--sweep={sweep_file}",
        f"--root={root}",
        "--backend=ray",
        f"--address=127.0.0.1:{port}",
        "--cpus_per_run=1",
        "--retries=2",
      ],
      cwd=ROOT,
      stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT,
      text=True,
    )
    deadline = time.monotonic() + 600
    while not all(checkpoint_steps(root / run) for run in RUNS):
      assert driver.poll() is None, driver.stdout.read()
      assert time.monotonic() < deadline, "the runs never checkpointed"
      time.sleep(0.05)
    nodes.append(start_ray_node(worker, env))  # node B joins; nothing runs on it yet
    kill_node(nodes[1])  # node A vanishes
    killed_at = {run: checkpoint_steps(root / run)[-1] for run in RUNS}
    assert not any((root / run / "results.json").exists() for run in RUNS), "killed too late"
    output, _ = driver.communicate(timeout=600)
  finally:
    if driver.poll() is None:
      driver.kill()
    for node in nodes[::-1]:
      if node.poll() is None:
        stop_ray_node(node)
    subprocess.run(["rm", "-rf", temp_dir], check=False)

  assert driver.returncode == 0, output
  assert re.search(r"\[ray\] 2/2 done, 0 running, 0 waiting, 0 failed", output), output
  for run in RUNS:
    # The lost attempt, reported by Ray (not by its trainer's exit status) and retried.
    assert re.search(rf"{run} failed \((?!exit)", output), output
    log = (root / run / "log.txt").read_text()
    assert len(attempt_pids(root / run / "log.txt")) == 2, log  # rescheduled once, on node B
    resumed = re.search(r"resumed from step (\d+)", log)
    assert resumed and int(resumed.group(1)) >= killed_at[run], log  # resumed, not restarted
    assert log.count("trainer exited with 0") == 1, log  # finished once
    assert read_json(root / run / "results.json")["step"] == STEPS
  sweep_runs = [r["name"] for r in read_json(root / "sweep.json")["runs"]]
  assert sorted(sweep_runs) == list(RUNS)
