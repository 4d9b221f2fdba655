"""scripts/g2p_reference.py: a classic G2P system trained on the project's CMUdict train split,
scored by the project's metrics, written as a run whose outcomes pair with the neural runs'."""

import json

import numpy as np
import pytest
from helpers import SCRIPTS, load_module, load_script, run_script

from attn_seq2seq.metrics.outcomes import read_outcomes

g2p_reference = load_module(SCRIPTS / "g2p_reference.py")


class FakeTask:
  """The two methods of `Task` the script reads a split through."""

  def __init__(self, words, prons):
    self.words, self.prons = words, prons

  def source_texts(self, split):
    return self.words

  def references(self, split):
    return self.prons


def test_both_tools_outputs_parse_to_their_first_best():
  phonetisaurus = "abad\t11.9\tAH B AE D\nabad\t12.5\tAH B AA D\nabadi\t16.3\tAH B AE D IY\n"
  assert g2p_reference.parse_predictions(phonetisaurus, phones_field=2) == {
    "abad": ["AH", "B", "AE", "D"],
    "abadi": ["AH", "B", "AE", "D", "IY"],
  }
  sequitur = "abad\tAH B AE D\nbroken line\n"
  assert g2p_reference.parse_predictions(sequitur, phones_field=1) == {"abad": "AH B AE D".split()}


def test_any_listed_pronunciation_is_right_and_a_missing_prediction_is_wrong():
  words = ["either", "cat", "dog"]
  prons = [[["IY", "DH", "ER"], ["AY", "DH", "ER"]], [["K", "AE", "T"]], [["D", "AO", "G"]]]
  predictions = {"either": ["AY", "DH", "ER"], "cat": ["K", "AH", "T"]}
  metrics, columns = g2p_reference.score(words, prons, predictions)
  assert columns["exact"] == [1, 0, 0]
  assert columns["edit_distance"] == [0, 1, 3]
  assert metrics["wer"] == pytest.approx(2 / 3)
  assert metrics["per"] == pytest.approx(4 / 9)


def test_a_word_with_a_reserved_character_is_refused():
  task = FakeTask(["a_b"], [[["EY"]]])
  with pytest.raises(ValueError, match=r"train word 'a_b' holds whitespace or one of \} \| _"):
    g2p_reference.split_lexicon(task, "train")


@pytest.mark.parametrize(
  "flag, message",
  [
    ("--system=espeak", "unknown system 'espeak'; valid choices: phonetisaurus, sequitur"),
    ("--sequitur_devel=half", "--sequitur_devel=half; allowed: validation or N%"),
  ],
)
def test_bad_options_are_one_line_errors(tmp_path, flag, message):
  with pytest.raises(SystemExit) as exit_:
    load_script("g2p_reference")([f"--workdir={tmp_path / 'run'}", flag])
  assert str(exit_.value) == f"error: {message}"
  assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
  "system, flags",
  [
    ("phonetisaurus", ["--max_train_words=2000", "--ngram_order=4"]),
    ("sequitur", ["--max_train_words=300", "--sequitur_order=2", "--sequitur_devel=10%"]),
  ],
)
def test_a_tiny_reference_run_writes_results_that_its_outcomes_reproduce(
  tmp_path, cmudict_data_dir, system, flags
):
  pytest.importorskip("phonetisaurus" if system == "phonetisaurus" else "sequitur_")
  workdir = tmp_path / system
  args = [f"--system={system}", f"--workdir={workdir}", f"--data_dir={cmudict_data_dir}", *flags]
  process = run_script("g2p_reference", *args, "--max_eval_words=60", timeout=300)
  assert process.returncode == 0, process.stderr[-2000:]
  results = json.loads((workdir / "results.json").read_text())
  record = json.loads((workdir / "config.json").read_text())
  outcomes = read_outcomes(workdir, "test")
  assert results["step"] == 0 and results["test"]["count"] == 60 == len(outcomes)
  assert outcomes.columns["id"].tolist() == list(range(60))
  exact = outcomes.columns["exact"]
  assert results["test"]["wer"] == pytest.approx(1 - exact.mean())
  per = outcomes.columns["edit_distance"].sum() / outcomes.columns["ref_length"].sum()
  assert results["test"]["per"] == pytest.approx(per)
  assert np.mean(exact) > 0  # it learnt something
  # A word the tool could not convert (sequitur, with letters it never saw) is an empty output.
  assert results["missing_hypotheses"] <= np.sum(outcomes.columns["hyp_length"] == 0)
  assert record["config"]["system"] == system and record["task"]["eval_splits"] == ["test"]
  assert set(record["versions"]) == {g2p_reference.PACKAGES[system], "cmudict"}
  assert len((workdir / "predictions" / "test.tsv").read_text().splitlines()) == 61
