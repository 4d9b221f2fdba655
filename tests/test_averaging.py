"""Checkpoint averaging (scripts/average_checkpoints.py): one checkpoint reproduces itself, two
give their element-wise mean, and the averaged run decodes through translate and evaluate.

Uses the session's quick `reverse:short,quick` run (checkpoints at steps 2 and 4).
"""

import json

import jax
import numpy as np
import pytest
from helpers import assert_one_error_line, data_dir_of, load_script, run_command

from attn_seq2seq import evaluate as evaluate_cli
from attn_seq2seq import translate as translate_cli
from attn_seq2seq.inference import averaging, trained_run
from attn_seq2seq.inference.translate import Translator
from attn_seq2seq.run_files import CONFIG_FILE, RESULTS_FILE


@pytest.fixture(scope="module")
def average():
  return load_script("average_checkpoints")


def params_of(workdir, step=None):
  return jax.device_get(trained_run.load_run(workdir, step).params)


def test_averaging_one_checkpoint_reproduces_it(average, quick_reverse_run, tmp_path):
  out = tmp_path / "avg"
  assert average([f"--workdir={quick_reverse_run}", "--steps=4", f"--out={out}"]) == 0
  jax.tree.map(np.testing.assert_array_equal, params_of(out), params_of(quick_reverse_run, 4))
  record = json.loads((out / CONFIG_FILE).read_text())
  assert record[averaging.AVERAGED_KEY] == {"workdir": str(quick_reverse_run), "steps": [4]}
  lines = ["1 2 3", "4 5"]
  assert [t.text for t in Translator(trained_run.load_run(out)).translate(lines)] == [
    t.text for t in Translator(trained_run.load_run(quick_reverse_run)).translate(lines)
  ]


def test_averaging_two_checkpoints_gives_their_elementwise_mean(
  average, quick_reverse_run, tmp_path
):
  out = tmp_path / "avg"
  average([f"--workdir={quick_reverse_run}", "--last=2", f"--out={out}"])
  two, four = params_of(quick_reverse_run, 2), params_of(quick_reverse_run, 4)
  leaves = jax.tree.leaves(jax.tree.map(lambda a, b: np.any(a != b), two, four))
  assert any(leaves)  # not vacuous: the checkpoints differ
  averaged = trained_run.load_run(out)
  assert averaged.step == 4
  jax.tree.map(
    lambda got, a, b: np.testing.assert_allclose(got, (a + b) / 2, rtol=1e-6, atol=1e-7),
    jax.device_get(averaged.params),
    two,
    four,
  )
  record = json.loads((out / CONFIG_FILE).read_text())
  assert record[averaging.AVERAGED_KEY]["steps"] == [2, 4]


def test_the_averaged_run_decodes_through_translate_and_evaluate(
  average, quick_reverse_run, tmp_path, monkeypatch
):
  out = tmp_path / "avg"
  average([f"--workdir={quick_reverse_run}", "--steps=2,4", f"--out={out}"])
  source = tmp_path / "in.txt"
  source.write_text("1 2 3\n\n4 5\n")
  monkeypatch.setenv("TFDS_DATA_DIR", data_dir_of(quick_reverse_run))
  run_command(translate_cli, workdir=out, input=source, output=tmp_path / "out.txt")
  run_command(evaluate_cli, workdir=out, split="test")
  assert len((tmp_path / "out.txt").read_text().split("\n")) == 4
  results = json.loads((out / RESULTS_FILE).read_text())
  assert results["step"] == 4 and results["test"]["count"] == 16  # its one model: plain keys


@pytest.mark.parametrize(
  "args, fragment",
  [
    ([], "name the checkpoints to average: --last=N or --steps=a,b"),
    (["--last=1", "--steps=4"], "name the checkpoints to average"),
    (["--steps=3"], "--steps: no checkpoint step 3 in {run}; steps: 2, 4"),
    (["--steps=4,4"], "--steps: each step once"),
    (["--steps=four"], "--steps=four: allowed: comma-separated checkpoint steps"),
    (["--last=3"], "--last=3 is out of range: {run} has 2 checkpoints (steps: 2, 4)"),
    (["--last=0"], "--last=0"),
    (["--last=1", "--out={run}"], "--out={run} exists and is not an empty directory"),
  ],
)
def test_bad_averaging_request_is_one_line_naming_it(
  average, quick_reverse_run, tmp_path, args, fragment
):
  args = [a.format(run=quick_reverse_run) for a in args]
  if not any(a.startswith("--out=") for a in args):
    args.append(f"--out={tmp_path / 'avg'}")
  with pytest.raises(SystemExit) as exit_info:
    average([f"--workdir={quick_reverse_run}", *args])
  assert_one_error_line(str(exit_info.value.code), fragment.format(run=quick_reverse_run))
  assert not (tmp_path / "avg").exists()
