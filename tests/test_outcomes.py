"""Per-example outcome files: they add up to the split's metrics, round-trip by id, and a file
that is missing or damaged is a one-line error naming it."""

import json

import numpy as np
import pytest

from attn_seq2seq.metrics import outcomes
from attn_seq2seq.metrics.compute import compute_metrics
from attn_seq2seq.metrics.outcomes import OutcomesError, read_outcomes, write_outcomes

PHONES = "AA B K T".split()


def random_split(rng, num_examples=200):
  """(hyps, refs, src_lengths): 1-3 references per example, hypotheses often one of them."""
  refs = [
    [list(rng.choice(PHONES, rng.integers(1, 6))) for _ in range(rng.integers(1, 4))]
    for _ in range(num_examples)
  ]
  hyps = [
    list(r[rng.integers(len(r))]) if rng.random() < 0.5 else list(rng.choice(PHONES, 3))
    for r in refs
  ]
  return hyps, refs, list(rng.integers(1, 9, num_examples))


def test_outcome_columns_add_up_to_the_metrics_of_compute_metrics():
  hyps, refs, src_lengths = random_split(np.random.default_rng(0))
  columns = outcomes.outcome_columns(hyps, refs, src_lengths)
  metrics = compute_metrics(
    ("exact_match", "wer", "per"), hyps, refs, src_lengths, bucket_edges=(1,)
  )
  exact = np.array(columns["exact"])
  assert 0 < exact.mean() < 1
  assert exact.mean() == pytest.approx(metrics["exact_match"])
  assert 1 - exact.mean() == pytest.approx(metrics["wer"])
  per = sum(columns["edit_distance"]) / sum(columns["ref_length"])
  assert per == pytest.approx(metrics["per"])
  assert columns["hyp_length"] == [len(h) for h in hyps]
  assert columns["id"] == list(range(len(hyps)))


def test_written_outcomes_read_back_sorted_by_id(tmp_path):
  columns = {name: [3, 1, 2, 0] for name in outcomes.COLUMNS}
  columns["exact"] = [1, 0, 1, 0]
  columns["extra"] = [7, 5, 6, 4]
  path = write_outcomes(tmp_path, "test/beam5", 3000, columns)
  assert path == tmp_path / "outcomes" / "test" / "beam5.json"
  assert [p.name for p in path.parent.iterdir()] == ["beam5.json"]  # no temporary file left
  read = read_outcomes(tmp_path, "test/beam5")
  assert (read.split, read.key, read.step, len(read)) == ("test", "test/beam5", 3000, 4)
  assert read.columns["id"].tolist() == [0, 1, 2, 3]
  assert read.columns["exact"].tolist() == [0, 0, 1, 1]  # rows kept together
  assert read.columns["extra"].tolist() == [4, 5, 6, 7]


def good_record() -> dict:
  columns = {name: [0, 1] for name in outcomes.COLUMNS}
  return {"split": "test", "key": "test", "step": 10, "columns": columns}


def damage(record: dict, column: str, values) -> dict:
  record["columns"][column] = values
  return record


@pytest.mark.parametrize(
  "content, reason",
  [
    ('{"split": "test", "key": "test", "step": 10, "colu', "not valid JSON (Unterminated string"),
    ("[1, 2]", "not an object with 'columns'"),
    (json.dumps({**good_record(), "key": "validation"}), "'step' or 'key'"),
    (json.dumps(damage(good_record(), "exact", [0, 2])), "other than 0 and 1"),
    (json.dumps(damage(good_record(), "edit_distance", [0, -1])), "not a non-negative integer"),
    (json.dumps(damage(good_record(), "ref_length", [0.5, 1])), "not a non-negative integer"),
    (json.dumps(damage(good_record(), "ref_length", [1])), "columns differ in length"),
    (json.dumps(damage(good_record(), "id", [1, 1])), "repeats an id"),
    (json.dumps(damage(good_record(), "id", [1, 0])), "not sorted"),
    (json.dumps({**good_record(), "columns": {"id": [0]}}), "missing columns"),
  ],
  ids=lambda x: x[:20] if isinstance(x, str) else None,
)
def test_a_damaged_outcomes_file_is_a_one_line_error_naming_it(tmp_path, content, reason):
  path = tmp_path / "outcomes" / "test.json"
  path.parent.mkdir()
  path.write_text(content)
  with pytest.raises(OutcomesError) as error:
    read_outcomes(tmp_path, "test")
  message = str(error.value)
  assert "\n" not in message
  assert message.startswith(f"damaged outcomes file {path}: ")
  assert reason in message


def test_a_missing_outcomes_file_is_a_one_line_error_naming_it(tmp_path):
  with pytest.raises(OutcomesError, match=f"{tmp_path}/outcomes/test_long.json does not exist"):
    read_outcomes(tmp_path, "test_long")


@pytest.mark.parametrize("key", ["", "../test", "test//beam5", "/test", ".hidden", "a b"])
def test_a_key_that_is_not_a_split_key_is_refused(tmp_path, key):
  with pytest.raises(OutcomesError, match="bad outcomes key"):
    write_outcomes(tmp_path, key, 0, good_record()["columns"])
  assert not (tmp_path / "outcomes").exists()
