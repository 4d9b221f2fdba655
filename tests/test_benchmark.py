"""scripts/benchmark.py and attn_seq2seq/benchmarking/: each measurement runs on a tiny config and
reports its rates (a FLOP rate for every decoder); a flag of another measurement, or two that
contradict each other, is a one-line error before anything is measured; the shared timed loop
trains exactly as `train_and_evaluate` does.

The measurements run in-process (`load_script`, as the command line parses them) to share this
process's JAX start and compiled programs; the flag errors run through the real command line too.
"""

import json
from pathlib import Path

import jax
import numpy as np
import pytest
from helpers import assert_one_error_line, load_script, run_script

from attn_seq2seq import data
from attn_seq2seq.benchmarking.timed_training import StepTiming, TimedTraining
from attn_seq2seq.inference.trained_run import load_run
from attn_seq2seq.run_files import CONFIG_FILE
from attn_seq2seq.training import members
from attn_seq2seq.training import mesh as mesh_lib

QUICK = "--config=configs/reverse.py:short,quick"
TINY_THROUGHPUT = [
  "--steps=2",
  "--decode_sentences=8",
  "--decode_batch_size=8",
  "--beam_size=2",
  "--matmul_peak_seconds=0",
  "--matmul_peak_size=128",
  "--nocache_startup",
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> str:
  return str(tmp_path_factory.mktemp("tfds"))


def benchmark(tmp_path: Path, data_dir: str, *args: str) -> dict:
  """`scripts/benchmark.py QUICK ARGS` in this process; its JSON report."""
  output = tmp_path / "benchmark.json"
  load_script("benchmark")(
    [QUICK, f"--config.data.data_dir={data_dir}", f"--output={output}", *args]
  )
  return json.loads(output.read_text())


def error_of(*args: str) -> str:
  """The one-line error (SystemExit) of `scripts/benchmark.py ARGS`, run in this process."""
  with pytest.raises(SystemExit) as stopped:
    load_script("benchmark")([QUICK, *args])
  return str(stopped.value.code)


# -- flags --------------------------------------------------------------------------------------


def test_a_flag_of_another_measurement_is_one_line_on_the_command_line():
  result = run_script("benchmark", "--measure=stacked_seeds", "--seeds=3", "--to_accuracy=0.9")
  assert result.returncode == 1
  assert_one_error_line(result.stderr, "error: --to_accuracy only applies to --measure=to_accuracy")
  assert result.stdout == ""


def test_the_old_seeds_flag_alone_names_the_measurement_it_needs():
  result = run_script("benchmark", "--seeds=3")
  assert result.returncode == 1
  assert_one_error_line(result.stderr, "error: --seeds only applies to --measure=stacked_seeds")


@pytest.mark.parametrize(
  "args, message",
  [
    (["--to_accuracy=0.9"], "--to_accuracy only applies to --measure=to_accuracy"),
    (["--measure=to_accuracy", "--steps=5", "--to_accuracy=0.9"], "--steps only applies to "),
    (["--measure=stacked_seeds", "--decode_sentences=8"], "--decode_sentences only applies to "),
    (["--measure=stacked_seeds", "--nocache_startup"], "--cache_startup only applies to "),
    (["--measure=throughput", "--eval_every=5"], "--eval_every only applies to "),
    (["--measure=to_accuracy"], "--measure=to_accuracy needs --to_accuracy=X"),
    (["--measure=to_accuracy", "--to_accuracy=0"], "--to_accuracy=0.0 is out of range"),
    (["--measure=to_accuracy", "--to_accuracy=1.5"], "--to_accuracy=1.5 is out of range"),
    (["--config.seeds=0,1"], "--config.seeds=(0, 1): the benchmark times single runs"),
    (["--output=/"], "--output=/: not a file in an existing directory"),
    (["--output=/no/such/dir/x.json"], "not a file in an existing directory"),
    (["--beam_size=1"], "--beam_size"),
    (["--measure=stacked_seeds", "--learning_rates=0.001,x"], "--learning_rates: 'x' is not a"),
    (["--learning_rates=0.001"], "--learning_rates only applies to --measure=stacked_seeds"),
  ],
)
def test_flags_that_do_not_fit_the_measurement_are_one_line_errors(args, message):
  error = error_of(*args)
  assert error.startswith("error: ") and "\n" not in error
  assert message in error


def test_steps_names_both_measurements_it_belongs_to():
  error = error_of("--measure=to_accuracy", "--to_accuracy=0.9", "--steps=5")
  assert error == "error: --steps only applies to --measure=throughput or stacked_seeds"


def test_a_workdir_of_another_model_is_refused_before_measuring(quick_reverse_run, tmp_path):
  data_dir = json.loads((quick_reverse_run / CONFIG_FILE).read_text())["config"]["data"]["data_dir"]
  output = tmp_path / "never.json"
  with pytest.raises(SystemExit) as stopped:
    load_script("benchmark")(
      [
        QUICK,
        f"--config.data.data_dir={data_dir}",
        "--config.model.decoder=luong",
        f"--workdir={quick_reverse_run}",
        f"--output={output}",
        *TINY_THROUGHPUT,
      ]
    )
  error = str(stopped.value.code)
  assert error.startswith(f"error: --workdir={quick_reverse_run} holds another model")
  assert "model.decoder='bahdanau'" in error and not output.exists()


# -- measurements -------------------------------------------------------------------------------


# bahdanau: test_throughput_decodes_a_trained_run_of_the_same_model and test_accelerator_check.py;
# fixed_init: test_stacked_seeds_... (its benchmark code is fixed_context's, its count is in
# test_flops.py). Each model costs a compilation, the bulk of these tests' time.
@pytest.mark.parametrize("decoder", ["luong", "fixed_context"])
def test_throughput_reports_a_flop_rate_for_every_decoder(decoder, tmp_path, data_dir, capsys):
  report = benchmark(tmp_path, data_dir, f"--config.model.decoder={decoder}", *TINY_THROUGHPUT)
  assert report["measure"] == "throughput" and report["config"]["model"]["decoder"] == decoder
  assert report["machine"]["platform"] == "cpu" and report["machine"]["flax"]
  training = report["training"]
  assert training["steps"] == 2 and training["steps_per_second"] > 0
  assert training["startup_seconds"] >= training["init_compile_and_first_step_seconds"] > 0
  assert training["tgt_words_per_second"] < training["tgt_tokens_per_second"]
  assert training["gflops_per_second"] > 0 and training["fraction_of_matmul_peak"] > 0
  decoding = report["decoding"]
  assert decoding["sentences"] == 8
  for search in ("greedy", "beam2"):
    assert (
      decoding[search]["sentences_per_second"] > 0 and decoding[search]["gflops_per_second"] > 0
    )
  assert "startup_with_compilation_cache" not in training  # --nocache_startup
  summary = capsys.readouterr().err.strip().splitlines()[-1]
  assert summary.startswith("training: ") and "GFLOP/s" in summary


def test_throughput_decodes_a_trained_run_of_the_same_model(quick_reverse_run, tmp_path):
  data_dir = json.loads((quick_reverse_run / CONFIG_FILE).read_text())["config"]["data"]["data_dir"]
  report = benchmark(tmp_path, data_dir, f"--workdir={quick_reverse_run}", *TINY_THROUGHPUT)
  assert report["decoding"]["params"] == "trained"
  assert report["decoding"]["greedy"]["sentences_per_second"] > 0
  assert "gflops_per_second" not in report["decoding"]["greedy"]  # output lengths: the model's
  assert report["training"]["gflops_per_second"] > 0


def test_stacked_seeds_compares_one_stack_with_as_many_solo_runs(tmp_path, data_dir):
  fixed_init = "--config.model.decoder=fixed_init"  # the quickest to compile
  report = benchmark(
    tmp_path, data_dir, fixed_init, "--measure=stacked_seeds", "--seeds=2", "--steps=2"
  )
  stacked = report["stacked_seeds"]
  assert report["measure"] == "stacked_seeds" and stacked["seeds"] == [0, 1]
  assert stacked["steps"] == 2 and stacked["sentences_per_step"] == 8  # batch_size, no dummy rows
  assert stacked["solo"]["runs"] == 2 and len(stacked["solo"]["steps_per_second_per_run"]) == 2
  assert stacked["stacked"]["members"] == "lax.map"  # CPU (training/members.py)
  ratio = stacked["stacked"]["sentences_per_second"] / stacked["solo"]["sentences_per_second"]
  assert stacked["stacked_over_solo"] == pytest.approx(ratio)


def test_a_learning_rate_grid_stack_is_compared_with_one_solo_run_per_pair(tmp_path, data_dir):
  report = benchmark(
    tmp_path,
    data_dir,
    "--config.model.decoder=fixed_init",
    "--measure=stacked_seeds",
    "--seeds=1",
    "--learning_rates=0.001,0.003",
    "--steps=1",
  )
  stacked = report["stacked_seeds"]
  assert stacked["seeds"] == [0] and stacked["learning_rates"] == [0.001, 0.003]
  assert stacked["solo"]["runs"] == 2 and stacked["sentences_per_step"] == 8
  assert stacked["stacked_over_solo"] > 0


def test_to_accuracy_trains_until_the_target_or_the_last_step(tmp_path, data_dir):
  report = benchmark(
    tmp_path, data_dir, "--measure=to_accuracy", "--to_accuracy=1", "--eval_every=3"
  )
  result = report["to_accuracy"]
  steps = [e["step"] for e in result["evaluations"]]
  if result["reached"]:  # possible in principle on 16 sentences; then it stopped there
    assert result["evaluations"][-1]["exact_match"] == 1.0
  else:  # quick: 4 steps, validated at 3 and at the last step
    assert steps == [3, 4] and result["steps"] == 4
  seconds = [e["train_seconds"] for e in result["evaluations"]]
  assert seconds == sorted(seconds) and seconds[0] > result["setup_seconds"] > 0
  assert result["train_seconds"] == seconds[-1] and result["validation_seconds"] > 0


# -- the timed training loop ----------------------------------------------------------------------


def test_the_timed_loop_trains_exactly_as_train_and_evaluate(quick_reverse_run):
  """The quick run trained 4 steps; 4 timed steps from the same config reach its parameters."""
  trained = load_run(quick_reverse_run)
  config = trained.config
  task = data.load_task(config.data)
  run = TimedTraining(config, task, mesh_lib.make_mesh(), count_flops=True)
  batches = task.train_batches(config.batch_size, seed=members.data_order_seed(config))
  timed = [next(batches) for _ in range(config.num_train_steps)]
  run.start(timed[0])
  run.compile_bucket_shapes()
  timing = run.time_steps(timed[:1]) + run.time_steps(timed[1:])
  for ours, theirs in zip(
    jax.tree.leaves(run.params), jax.tree.leaves(trained.params), strict=True
  ):
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
  assert timing.steps == config.num_train_steps
  assert timing.tgt_tokens == sum(int(b["tgt_lengths"].sum()) for b in timed)
  assert timing.sentences == sum(int((b["example_ids"] >= 0).sum()) for b in timed)
  assert timing.flops > 0


def test_timings_add_up_and_a_missing_flop_count_stays_missing():
  a = StepTiming(1, 0.5, 8, 80, 90, 100, 1e6)
  b = StepTiming(2, 1.5, 16, 160, 180, 200, 2e6)
  total = a + b
  assert (total.steps, total.seconds, total.tgt_tokens, total.flops) == (3, 2.0, 270, 3e6)
  assert total.throughput()["tgt_padding_fraction"] == pytest.approx(1 - 270 / 300)
  assert (a + StepTiming(1, 1.0, 8, 80, 90, 100, None)).flops is None
  assert "gflops_per_second" not in StepTiming(1, 1.0, 8, 80, 90, 100, None).throughput()
