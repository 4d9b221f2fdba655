"""The Ray backend of run_sweep.py on a real local Ray cluster (`ray start --head` on 127.0.0.1,
no mock): a 3-run sweep in which one run's trainer is SIGKILLed part way still finishes every
run, and the killed run resumes from its checkpoint rather than starting again.

One test, about a minute on 2 idle cores (several when they are busy): the cluster starts (a few
seconds), three `dates:quick` runs train as Ray tasks, one with 600 steps so the kill lands mid-run;
then the cluster is stopped.
"""

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from helpers import ROOT, checkpoint_steps, free_port, start_ray_node, stop_ray_node

from attn_seq2seq.sweeps import ray_backend

pytest.importorskip("ray")

LONG_RUN = "seed0"  # the run whose trainer is killed: long enough to be killed mid-run
SWEEP_FILE = """
def get_sweep(arg=None):
  runs = [{"name": f"seed{seed}", "config": "configs/dates.py:quick",
           "overrides": {"seed": seed}} for seed in range(3)]
  runs[0]["overrides"].update({"num_train_steps": 600, "checkpoint_every_steps": 50,
                               "log_every_steps": 50, "eval_every_steps": 600})
  return runs
"""


@pytest.fixture
def ray_cluster(tmp_path):
  """HOST:PORT of a fresh one-node Ray cluster (2 CPUs), stopped afterwards. Its workers, and so
  the trainers, get this environment (JAX_PLATFORMS, the throwaway compilation cache of
  conftest, TFDS_DATA_DIR in tmp_path)."""
  port = free_port()
  temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit
  env = {**os.environ, "TFDS_DATA_DIR": str(tmp_path / "tfds"), "RAY_USAGE_STATS_ENABLED": "0"}
  head = start_ray_node(["--head", f"--port={port}", "--num-cpus=2"], env, temp_dir)
  try:
    yield f"127.0.0.1:{port}"
  finally:
    stop_ray_node(head)
    subprocess.run(["rm", "-rf", temp_dir], check=False)


def trainer_pid(log: Path) -> int | None:
  """The pid in the header of the run's first Ray attempt, if written yet."""
  match = (
    re.search(r"# \S+ ray attempt 1 on \S+, pid (\d+):", log.read_text()) if log.exists() else None
  )
  return int(match.group(1)) if match else None


def test_killed_run_resumes_and_the_sweep_finishes(ray_cluster, tmp_path):
  sweep_file = tmp_path / "three_runs.py"
  sweep_file.write_text(SWEEP_FILE)
  root = tmp_path / "root"
  command = [
    sys.executable,
    "scripts/run_sweep.py",
    f"--sweep={sweep_file}",
    f"--root={root}",
    "--backend=ray",
    f"--address={ray_cluster}",
    "--cpus_per_run=1",
    "--retries=1",
  ]
  driver = subprocess.Popen(
    command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
  )
  try:
    long_run = root / LONG_RUN
    deadline = time.monotonic() + 600  # generous: a busy 2-core machine is many times slower
    killed_after = None
    while killed_after is None and driver.poll() is None and time.monotonic() < deadline:
      steps = checkpoint_steps(long_run)
      pid = trainer_pid(long_run / "log.txt")
      if steps and pid:  # part way: a checkpoint is saved, the run is not finished
        assert not (long_run / "results.json").exists(), "the kill came too late"
        os.kill(pid, signal.SIGKILL)
        killed_after = steps[-1]
      time.sleep(0.05)
    assert killed_after is not None, "the long run never checkpointed"
    output, _ = driver.communicate(timeout=600)
  finally:
    if driver.poll() is None:
      driver.kill()
  assert driver.returncode == 0, output

  for seed in range(3):
    assert (root / f"seed{seed}" / "results.json").exists(), output
  log = (long_run / "log.txt").read_text()
  assert "ray attempt 2 on " in log and "trainer exited with -9" in log, log
  resumed = re.search(r"resumed from step (\d+)", log)
  assert resumed and int(resumed.group(1)) >= killed_after, log  # resumed, not restarted
  assert f"{LONG_RUN} failed (exit -9)" in output and "retrying, attempt 2 of 2" in output
  assert re.search(r"\[ray\] 3/3 done, 0 running, 0 waiting, 0 failed", output), output
  assert "3/3 runs finished" in output

  # Finished runs are never launched again (no cluster is even needed to find that out).
  lines = []
  runs = [{"name": f"seed{seed}"} for seed in range(3)]
  assert ray_backend.launch(runs, str(root), address="127.0.0.1:1", echo=lines.append) == {
    f"seed{seed}": "finished" for seed in range(3)
  }
  assert lines == ["3 runs: 3 finished, 0 to run on the Ray cluster"]
