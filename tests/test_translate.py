"""The translate CLI: batch-size independence, empty / over-long / out-of-vocabulary / non-UTF-8
lines, attention heatmaps, greedy = beam 1, and one-line errors for bad runs.

One tiny `reverse:short,quick` run (4 steps on the 4 fake CPU devices) is trained once; its
outputs are arbitrary but deterministic, which is all these invariants need. Test sentences are at
most 12 tokens, so the searches compile for two source-length buckets (8 and 12).
"""

import io
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import random_sentences, run_command, run_python, write_lines

from attn_seq2seq import search
from attn_seq2seq import translate as translate_cli
from attn_seq2seq.inference import trained_run, translate
from attn_seq2seq.run_files import CHECKPOINTS_DIR
from attn_seq2seq.tokens import UNK_ID


@pytest.fixture(scope="module")
def workdir(quick_reverse_run):
  return quick_reverse_run  # read-only here (see conftest.py)


@pytest.fixture(scope="module")
def run(workdir):
  return trained_run.load_run(workdir)


@pytest.fixture(scope="module")
def lines(run):
  """40 sentences of 1-12 in-vocabulary symbols, with empty lines at 1, 10 and 40."""
  return random_sentences(run.src_vocab, 40, seed=0, empty=(1, 10, 40))


def translate_file(tmp_path: Path, workdir, lines, **flag_values) -> list[str]:
  """The translate command (its `main`, in-process) on `lines`: the lines it wrote."""
  source, output = write_lines(tmp_path / "input.txt", lines), tmp_path / "output.txt"
  run_command(translate_cli, workdir=workdir, input=source, output=output, **flag_values)
  return output.read_text(encoding="utf-8").split("\n")[:-1]


@pytest.mark.parametrize("beam_size", [1, 3])
def test_outputs_are_bitwise_identical_for_batch_sizes_1_7_64(run, lines, beam_size):
  translator = translate.Translator(run, beam_size=beam_size)
  by_batch_size = {}
  for batch_size in (1, 7, 64):
    by_batch_size[batch_size] = [
      t
      for start in range(0, len(lines), batch_size)
      for t in translator.translate(lines[start : start + batch_size])
    ]
  reference = by_batch_size[64]
  assert any(t.text for t in reference)
  for batch_size in (1, 7):
    for got, want in zip(by_batch_size[batch_size], reference, strict=True):
      assert got.text == want.text and got.tgt_tokens == want.tgt_tokens
      if want.attn_weights is not None:
        assert got.attn_weights.tobytes() == want.attn_weights.tobytes()  # bitwise


def test_cli_batch_size_does_not_change_the_output_file(tmp_path, workdir, lines):
  outputs = {bs: translate_file(tmp_path, workdir, lines, batch_size=bs) for bs in (1, 7, 64)}
  assert len(outputs[1]) == len(lines)
  assert outputs[1] == outputs[7] == outputs[64]


def test_empty_lines_give_empty_outputs_in_place(tmp_path, workdir, run, lines):
  for line, result in zip(lines, translate.Translator(run).translate(lines), strict=True):
    if line:
      assert result.tgt_tokens[-1] == "</s>"  # translated (the text may still be empty)
    else:
      assert result.text == "" and result.tgt_tokens == [] and result.attn_weights is None
  outputs = translate_file(tmp_path, workdir, lines)
  assert len(outputs) == len(lines) and outputs[0] == outputs[9] == outputs[39] == ""


def test_out_of_vocabulary_symbols_become_unk(run, lines):
  in_vocab = lines[1].split()
  oov_lines = [
    " ".join(["zzz", *in_vocab]),
    " ".join(["@@", *in_vocab]),
    " ".join(["<unk>", *in_vocab]),
  ]
  ids, _ = run.src_vocab.encode_batch(oov_lines[:1])
  assert ids[0] == UNK_ID
  results = translate.Translator(run).translate(oov_lines)
  assert results[0].src_tokens[0] == "zzz"  # plotted as typed
  assert results[0].tgt_tokens  # translated, not skipped
  assert results[0].text == results[1].text == results[2].text


def test_over_long_line_is_reported_by_number_and_the_others_translated(
  tmp_path, workdir, run, lines, capsys
):
  limit = translate.default_max_src_len(run)
  too_long = " ".join([lines[1].split()[0]] * (limit + 1))
  with_long = [*lines[:4], too_long, *lines[4:]]
  outputs = translate_file(tmp_path, workdir, with_long)
  error_lines = capsys.readouterr().err.strip().splitlines()
  assert error_lines == [
    f"warning: line 5 has {limit + 1} tokens, more than the {limit} this "
    f"model takes (--max_src_len); output left empty"
  ]
  assert outputs[4] == ""
  assert outputs[:4] + outputs[5:] == translate_file(tmp_path, workdir, lines)


def test_non_utf8_line_is_a_one_line_error_naming_it(tmp_path, workdir):
  source = tmp_path / "latin1.txt"
  source.write_bytes("1 2\n3\ncaf\xe9 4\n".encode("latin-1"))
  with pytest.raises(SystemExit) as exit_info:
    run_command(translate_cli, workdir=workdir, input=source, output=tmp_path / "out.txt")
  message = str(exit_info.value.code)
  assert message.startswith("error: line 3 is not valid UTF-8") and "\n" not in message


def test_attention_dir_has_one_heatmap_per_translated_line(tmp_path, workdir, lines):
  few = lines[:4]  # line 1 is empty
  translate_file(tmp_path, workdir, few, attention_dir=tmp_path / "attention")
  assert sorted(p.name for p in (tmp_path / "attention").iterdir()) == [
    "line_000002.png",
    "line_000003.png",
    "line_000004.png",
  ]


def test_beam_size_one_equals_greedy(run, lines):
  sentences = [line for line in lines if line]
  greedy = translate.Translator(run, beam_size=1).translate(sentences)
  flat_ids, lengths = run.src_vocab.encode_batch(sentences)
  src_ids = np.zeros((len(sentences), 12), np.int32)
  for row, ids in enumerate(np.split(flat_ids, np.cumsum(lengths)[:-1])):
    src_ids[row, : len(ids)] = ids
  spec = search.SearchSpec.of_experiment(run.config)
  beam = search.decode(run.model, run.variables, src_ids, lengths, spec, algorithm="beam")
  assert [t.text for t in greedy] == [run.tgt_vocab.decode(ids) for ids in beam.best().tokens]


def test_stdin_to_stdout(workdir, run, lines, monkeypatch, capsys):
  monkeypatch.setattr(
    sys,
    "stdin",
    io.TextIOWrapper(io.BytesIO("".join(line + "\n" for line in lines[:5]).encode("utf-8"))),
  )
  run_command(translate_cli, workdir=workdir)
  want = [t.text for t in translate.Translator(run).translate(lines[:5])]
  assert capsys.readouterr().out.split("\n")[:-1] == want


@pytest.mark.parametrize("problem", ["no_workdir", "no_checkpoint", "unknown_step"])
def test_missing_run_or_checkpoint_is_a_one_line_error_naming_the_path(tmp_path, workdir, problem):
  target, flag_values = tmp_path / "run", {}
  if problem != "no_workdir":
    shutil.copytree(workdir, target)
  if problem == "no_checkpoint":
    shutil.rmtree(target / CHECKPOINTS_DIR)
  if problem == "unknown_step":
    flag_values["checkpoint_step"] = 3
  with pytest.raises(SystemExit) as exit_info:
    run_command(
      translate_cli, workdir=target, input=write_lines(tmp_path / "in.txt", ["1"]), **flag_values
    )
  message = str(exit_info.value.code)
  assert message.startswith("error: ") and str(target) in message and "\n" not in message
  if problem == "unknown_step":
    assert message.endswith("steps: 2, 4")


def test_corrupt_checkpoint_is_a_one_line_error_in_a_fresh_process(tmp_path, workdir):
  """The real entry point: stderr is the error line alone, no tracebacks from orbax's threads."""
  target = tmp_path / "run"
  shutil.copytree(workdir, target)
  for data_file in (target / CHECKPOINTS_DIR / "4" / "state" / "d").iterdir():
    data_file.write_bytes(b"corrupt")
  result = run_python(
    "-m", "attn_seq2seq.translate", f"--workdir={target}", input=b"1 2\n", text=False
  )
  assert result.returncode == 1 and result.stdout == b""
  stderr = result.stderr.decode().strip().splitlines()
  assert len(stderr) == 1, stderr
  assert stderr[0].startswith(f"error: cannot restore checkpoint {target / CHECKPOINTS_DIR / '4'}")
