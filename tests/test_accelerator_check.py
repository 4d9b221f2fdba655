"""scripts/accelerator_check.sh: its CPU dry run (`--cpu`, tiny configs; the attention_vs_fixed
group is its quick stacked one, 2 members) runs every step and writes every JSON; with
--skip_install it uses this interpreter (the install from wheels/ needs the folder
scripts/prepare_wheels.sh downloads: see the README's "Accelerator check").

    scripts/accelerator_check.sh OUT_DIR --cpu --skip_install
"""

import json
import os
import subprocess
import sys

from helpers import ROOT


def test_cpu_dry_run_writes_every_json(tmp_path):
  env = {**os.environ, "PYTHON": sys.executable}
  out = tmp_path / "out"
  result = subprocess.run(
    [str(ROOT / "scripts/accelerator_check.sh"), str(out), "--cpu", "--skip_install"],
    cwd=tmp_path,
    env=env,
    capture_output=True,
    text=True,
    timeout=600,
  )
  assert result.returncode == 0, result.stdout + result.stderr
  check = json.loads((out / "check.json").read_text())
  assert check["mode"] == "cpu dry run" and check["date"] and check["machine"]["jax"]
  steps = {step["name"]: step for step in check["steps"]}
  assert list(steps) == [
    "benchmark_float32",
    "benchmark_bfloat16",
    "benchmark_seeds1",
    "benchmark_seeds8",
    "default_run",
    "group",
  ]
  for name, step in steps.items():
    assert step["status"] == "ok", (name, step)

  float32 = json.loads((out / "benchmark_float32.json").read_text())
  bfloat16 = json.loads((out / "benchmark_bfloat16.json").read_text())
  assert (float32["config"]["dtype"], bfloat16["config"]["dtype"]) == ("float32", "bfloat16")
  assert float32["machine"]["platform"] == "cpu"
  assert float32["measure"] == bfloat16["measure"] == "throughput"
  for report in (float32, bfloat16):  # a FLOP rate for training and both searches
    rates = [report["training"], report["decoding"]["greedy"], report["decoding"]["beam2"]]
    assert all(r["gflops_per_second"] > 0 for r in rates)
  cache = float32["training"]["startup_with_compilation_cache"]
  assert cache["cache_entries"] > 0
  assert cache["second_run"]["startup_seconds"] > 0 and cache["first_run"]["startup_seconds"] > 0
  assert "startup_with_compilation_cache" not in bfloat16["training"]
  for n in (1, 8):
    seeds = json.loads((out / f"benchmark_seeds{n}.json").read_text())
    assert seeds["measure"] == "stacked_seeds" and seeds["stacked_seeds"]["seeds"] == list(range(n))
    assert seeds["stacked_seeds"]["stacked_over_solo"] > 0
  results = json.loads((out / "default_results.json").read_text())
  assert results["step"] > 0 and "exact_match" in results["test"]
  group = json.loads((out / "group_results.json").read_text())  # the stacked group, tiny here
  assert group["run"] == "bahdanau_h16" and group["wall_seconds"] > 0
  assert sorted(group["members"]) == ["members/lr0.001_seed_0", "members/lr0.001_seed_1"]
  for member, results in group["members"].items():
    assert results["step"] > 0 and "exact_match" in results["test_long"]
    assert group["timing"][member]["steps_per_second"] > 0
  assert not list(tmp_path.glob("*/venv"))  # --skip_install: nothing installed
