"""Speed of one config as JSON: one measurement per command, each on the same timed training loop
(attn_seq2seq/benchmarking/timed_training.py: init as a run does, every shape compiled first,
steps timed to completion).

    python scripts/benchmark.py --config=configs/reverse.py:benchmark [--output=FILE]  # throughput
    python scripts/benchmark.py --measure=stacked_seeds --seeds=3
    python scripts/benchmark.py --measure=stacked_seeds --seeds=3 --learning_rates=3e-4,1e-3,3e-3
    python scripts/benchmark.py --measure=to_accuracy --to_accuracy=0.95

--measure=throughput (the default; `make benchmark`), benchmarking/throughput.py:
  * startup: seconds from process start to the first finished training step (imports, data,
    init, compile), and from init to it;
  * training in steady state (`--steps` timed steps, every bucket shape compiled beforehand):
    steps/s, target tokens/s (EOS included), target words/s (EOS excluded), source tokens/s, and
    GFLOP/s by attn_seq2seq/models/flops.py (real tokens; training = 3 x forward) with its
    fraction of the matmul peak measured in the same run, in the config's dtype (the best of
    `--matmul_peak_size` square matmuls over `--matmul_peak_seconds`, before and after decoding);
  * greedy and beam-`--beam_size` decoding throughput (sentences/s, compilation excluded) on
    `--decode_sentences` validation sentences in batches of `--decode_batch_size`, with their
    FLOP rate; parameters of `--workdir`'s latest checkpoint if given (then no FLOP rate: the
    output lengths are the model's), else the initialised model decoding to source length + 1;
  * with `--cache_startup` (the default), the startup of two more runs in fresh processes sharing
    a new compilation cache: the first fills it, the second (what every later run of a sweep
    pays) loads its compiled steps from it. The measurements above run without the cache.
--measure=stacked_seeds, benchmarking/stacked_seeds.py: the training throughput of one stacked
  run of `--seeds` seeds (training/members.py) against as many solo runs, interleaved step by
  step on the same `--steps` batches: sentences/s summed over the members, and their ratio.
  With `--learning_rates`, a learning-rate grid: the stack holds every (learning rate, seed)
  pair, against one solo run per pair.
--measure=to_accuracy, benchmarking/to_accuracy.py: training seconds (initialisation and
  compilation included, validation excluded) and steps until greedy validation exact match,
  checked every `--eval_every` steps, reaches `--to_accuracy` (or `num_train_steps` ends).

Every flag but --config, --measure and --output belongs to one or two measurements (its help
says which); given to another, it is a one-line error before anything is measured, as are a
stacked config (`--config.seeds`: the benchmark makes its own stacks), a model the FLOP count
does not cover (throughput) and a `--workdir` holding another model than `--config`'s.

JSON (stdout, and `--output`): date, command, measure, machine (sweeps/machine.py), config, then
  throughput: matmul_peak_gflops_per_second, matmul_peak_dtype, matmul_peak_size,
    matmul_peak_measurements, training {startup_seconds, init_compile_and_first_step_seconds,
    compile_seconds, steps, seconds, steps_per_second, sentences_per_second,
    tgt_tokens_per_second, tgt_words_per_second, src_tokens_per_second, tgt_padding_fraction,
    gflops_per_second, fraction_of_matmul_peak, startup_with_compilation_cache {cache_entries,
    first_run, second_run}}, decoding {sentences, batch_size, params, greedy
    {sentences_per_second, tokens_per_second, gflops_per_second}, beam<N> {...}};
  stacked_seeds: stacked_seeds {seeds, learning_rates, steps, sentences_per_step, solo {runs,
    seconds, sentences_per_second, steps_per_second_per_run, compile_seconds}, stacked {seconds,
    sentences_per_second, steps_per_second, compile_seconds, members}, stacked_over_solo};
  to_accuracy: to_accuracy {target_exact_match, reached, steps, train_seconds,
    validation_seconds, setup_seconds, startup_seconds, validation_sentences, eval_every,
    evaluations [{step, exact_match, train_seconds}]}.
A one-line summary goes to stderr.
"""

import time

_PROCESS_START = time.perf_counter()

import dataclasses  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

import jax  # noqa: E402
from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from attn_seq2seq import cli, data  # noqa: E402
from attn_seq2seq.benchmarking import throughput  # noqa: E402
from attn_seq2seq.benchmarking.stacked_seeds import stacked_seeds  # noqa: E402
from attn_seq2seq.benchmarking.to_accuracy import time_to_accuracy  # noqa: E402
from attn_seq2seq.errors import ConfigError  # noqa: E402
from attn_seq2seq.inference.trained_run import load_run  # noqa: E402
from attn_seq2seq.models import ModelConfig, flops  # noqa: E402
from attn_seq2seq.sweeps import machine  # noqa: E402
from attn_seq2seq.training import compilation_cache, train  # noqa: E402
from attn_seq2seq.training import mesh as mesh_lib  # noqa: E402

FLAGS = cli.script_flags(__name__)
MEASURES = ("throughput", "stacked_seeds", "to_accuracy")
# The flags of each measurement; any other flag but --config, --measure and --output is an error.
MEASURE_FLAGS = {
  "throughput": (
    "steps",
    "decode_sentences",
    "decode_batch_size",
    "beam_size",
    "workdir",
    "cache_startup",
    "matmul_peak_seconds",
    "matmul_peak_size",
    "startup_only",
  ),
  "stacked_seeds": ("steps", "seeds", "learning_rates"),
  "to_accuracy": ("to_accuracy", "eval_every"),
}


def _define(kind: str, name: str, default, help_string: str, **kwargs):
  """A flag on FLAGS whose help ends with the measurements it belongs to."""
  owners = [m for m, names in MEASURE_FLAGS.items() if name in names]
  define = getattr(flags, f"DEFINE_{kind}")
  return define(name, default, f"{help_string} [{', '.join(owners)}]", flag_values=FLAGS, **kwargs)


_CONFIG = config_flags.DEFINE_config_file(
  "config",
  "configs/reverse.py:benchmark",
  "Config to benchmark.",
  flag_values=FLAGS,
  lock_config=True,
)
_MEASURE = flags.DEFINE_enum(
  "measure", "throughput", MEASURES, "What to measure (module docstring).", flag_values=FLAGS
)
_OUTPUT = flags.DEFINE_string("output", None, "Also write the JSON here.", flag_values=FLAGS)
_STEPS = _define("integer", "steps", 40, "Timed training steps.", lower_bound=1)
_DECODE_SENTENCES = _define(
  "integer", "decode_sentences", 1000, "Validation sentences decoded.", lower_bound=1
)
_DECODE_BATCH = _define(
  "integer", "decode_batch_size", 64, "Sentences per search batch.", lower_bound=1
)
_BEAM = _define("integer", "beam_size", 5, "Beam size of the beam search.", lower_bound=2)
_WORKDIR = _define("string", "workdir", None, "Trained run of --config whose parameters decode.")
_CACHE_STARTUP = _define(
  "bool",
  "cache_startup",
  True,
  "Also measure the startup of a first and a second identical run with the persistent "
  "compilation cache (two more processes).",
)
_PEAK_SECONDS = _define(
  "float", "matmul_peak_seconds", 2.0, "Seconds of each matmul peak measurement.", lower_bound=0
)
_PEAK_SIZE = _define(
  "integer",
  "matmul_peak_size",
  2048,
  "n of the n x n matmuls of the peak measurement (an accelerator may need more to reach its "
  "peak).",
  lower_bound=1,
)
_STARTUP_ONLY = _define(
  "string",
  "startup_only",
  None,
  "Internal (--cache_startup): print the startup JSON of one run using this compilation "
  "cache directory, and exit.",
)
_SEEDS = _define("integer", "seeds", 3, "Seeds stacked (seed, seed + 1, ...).", lower_bound=1)
_LEARNING_RATES = _define(
  "list",
  "learning_rates",
  None,
  "A learning-rate grid: the stack holds every (learning rate, seed) pair, e.g. 1e-3,3e-3.",
)
_TO_ACCURACY = _define(
  "float", "to_accuracy", None, "Validation exact match to reach, in (0, 1] (e.g. 0.95)."
)
_EVAL_EVERY = _define("integer", "eval_every", 100, "Steps between validations.", lower_bound=1)


def check_flags() -> None:
  """A one-line ConfigError for a flag of another measurement than --measure's, a missing or
  out-of-range --to_accuracy, a --learning_rates that is not positive numbers, or an --output
  that cannot be written."""
  measure = _MEASURE.value
  for name in dict.fromkeys(n for names in MEASURE_FLAGS.values() for n in names):
    if FLAGS[name].present and name not in MEASURE_FLAGS[measure]:
      owners = " or ".join(m for m, names in MEASURE_FLAGS.items() if name in names)
      raise ConfigError(f"--{name} only applies to --measure={owners}")
  _learning_rates()  # positive numbers
  target = _TO_ACCURACY.value
  if measure == "to_accuracy" and target is None:
    raise ConfigError("--measure=to_accuracy needs --to_accuracy=X, the exact match to reach")
  if target is not None and not 0 < target <= 1:
    raise ConfigError(f"--to_accuracy={target} is out of range; allowed: a number > 0 and <= 1")
  output = _OUTPUT.value
  if output and (os.path.isdir(output) or not os.path.isdir(os.path.dirname(output) or ".")):
    raise ConfigError(f"--output={output}: not a file in an existing directory")


def main(argv):
  cli.flags_only(argv)
  with cli.user_errors():
    _benchmark(_CONFIG.value)


def _benchmark(config) -> None:
  check_flags()
  _check_config(config)
  compilation_cache.enable(_STARTUP_ONLY.value or "none")  # the measurements: without a cache
  task = data.load_task(config.data)
  mesh = mesh_lib.make_mesh()
  if _STARTUP_ONLY.value:
    print(json.dumps(throughput.first_step_seconds(config, task, mesh, _PROCESS_START)))
    return
  measure = {
    "throughput": _throughput,
    "stacked_seeds": _stacked_seeds,
    "to_accuracy": _to_accuracy,
  }[_MEASURE.value]
  measurements, summary = measure(config, task, mesh)
  _report(config, measurements)
  print(summary, file=sys.stderr)


def _check_config(config) -> None:
  """The config's own checks (as a training run makes them), then what the benchmark needs: one
  run, not a stack, and for throughput a model the FLOP count covers."""
  train.check_config(config)
  if config.get("seeds"):
    raise ConfigError(
      f"--config.seeds={tuple(config.seeds)}: the benchmark times single runs; compare a stack "
      "with --measure=stacked_seeds --seeds=N"
    )
  if _MEASURE.value == "throughput":
    flops.check_flop_model(ModelConfig.of_experiment(config))


def _throughput(config, task, mesh) -> tuple[dict, str]:
  trained = _trained_params(config, task)  # a bad --workdir: an error before measuring
  training, params = throughput.training_throughput(
    config, task, mesh, steps=_STEPS.value, process_start=_PROCESS_START
  )
  peaks = [_matmul_peak(config.dtype)]
  decoding = throughput.decoding_throughput(
    config,
    task,
    jax.device_get(params) if trained is None else trained,
    sentences=_DECODE_SENTENCES.value,
    batch_size=_DECODE_BATCH.value,
    beam_size=_BEAM.value,
    trained=trained is not None,
  )
  peaks.append(_matmul_peak(config.dtype))
  peak = max(peaks)  # a busy moment can only lower a measurement
  training["fraction_of_matmul_peak"] = training["gflops_per_second"] / peak
  if _CACHE_STARTUP.value:  # last: its two processes would slow the measurements above
    training["startup_with_compilation_cache"] = throughput.startup_with_compilation_cache(sys.argv)
  beam = decoding[f"beam{_BEAM.value}"]
  summary = (
    f"training: {training['steps_per_second']:.2f} steps/s, "
    f"{training['tgt_tokens_per_second']:,.0f} target tokens/s, "
    f"{training['gflops_per_second']:.3g} GFLOP/s = {training['fraction_of_matmul_peak']:.2f} "
    f"of the {config.dtype} matmul peak ({peak:.3g} GFLOP/s); greedy: "
    f"{_decode_summary(decoding['greedy'])}; beam {_BEAM.value}: {_decode_summary(beam)}"
  )
  report = {
    "matmul_peak_gflops_per_second": peak,
    "matmul_peak_dtype": config.dtype,
    "matmul_peak_size": _PEAK_SIZE.value,
    "matmul_peak_measurements": peaks,
    "training": training,
    "decoding": decoding,
  }
  return report, summary


def _matmul_peak(dtype: str) -> float:
  return throughput.matmul_peak_gflops(dtype, _PEAK_SIZE.value, _PEAK_SECONDS.value)


def _decode_summary(rates: dict) -> str:
  flop_rate = rates.get("gflops_per_second")
  return f"{rates['sentences_per_second']:,.0f} sentences/s" + (
    "" if flop_rate is None else f" ({flop_rate:.3g} GFLOP/s)"
  )


def _trained_params(config, task):
  """`--workdir`'s parameters (None without it), once its run is known to hold the model of
  `config` (the compute dtype may differ) and the task's vocabulary sizes."""
  if _WORKDIR.value is None:
    return None

  run = load_run(_WORKDIR.value)
  ours = ModelConfig.of_experiment(config)
  theirs = dataclasses.replace(run.model.config, dtype=ours.dtype)
  differences = [
    f"model.{f.name}={getattr(theirs, f.name)!r}"
    for f in dataclasses.fields(ours)
    if getattr(theirs, f.name) != getattr(ours, f.name)
  ]
  sizes = (run.model.src_vocab_size, run.model.tgt_vocab_size)
  if sizes != (task.src_vocab.size, task.tgt_vocab.size):
    differences.append(f"vocabulary sizes {sizes}")
  if differences:
    raise ConfigError(
      f"--workdir={_WORKDIR.value} holds another model than --config's ({', '.join(differences)});"
      " allowed: a run of the benchmarked config"
    )
  return run.params


def _stacked_seeds(config, task, mesh) -> tuple[dict, str]:
  rates = _learning_rates()
  report = stacked_seeds(
    config, task, mesh, num_seeds=_SEEDS.value, steps=_STEPS.value, learning_rates=rates
  )
  runs = report["solo"]["runs"]
  summary = (
    f"stacked seeds: {report['stacked']['sentences_per_second']:,.0f} sentences/s for a stack "
    f"of {runs}{' (a learning-rate grid)' if rates else ''}, "
    f"{report['solo']['sentences_per_second']:,.0f} for {runs} solo "
    f"runs: {report['stacked_over_solo']:.2f}x ({report['stacked']['members']})"
  )
  return {"stacked_seeds": report}, summary


def _learning_rates() -> tuple[float, ...]:
  """--learning_rates as positive numbers; a one-line ConfigError naming a bad one."""
  rates = []
  for text in _LEARNING_RATES.value or ():
    try:
      rates.append(float(text))
    except ValueError:
      rates.append(-1.0)
    if not rates[-1] > 0:
      raise ConfigError(f"--learning_rates: {text!r} is not a positive number")
  return tuple(rates)


def _to_accuracy(config, task, mesh) -> tuple[dict, str]:
  report = time_to_accuracy(
    config,
    task,
    mesh,
    target=_TO_ACCURACY.value,
    eval_every=_EVAL_EVERY.value,
    process_start=_PROCESS_START,
  )
  reached = "reached" if report["reached"] else "not reached"
  summary = (
    f"validation exact match {report['evaluations'][-1]['exact_match']:.4f}: "
    f"{report['target_exact_match']} {reached} after {report['steps']} steps, "
    f"{report['train_seconds']:.1f} s of training"
  )
  return {"to_accuracy": report}, summary


def _report(config, measurements: dict) -> None:
  """Prints (and writes to `--output`) the JSON report: date, command, measure, machine, config,
  and `measurements`."""
  report = {
    "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
    "measure": _MEASURE.value,
    "machine": machine.describe(),
    "config": config.to_dict(),
    **measurements,
  }
  text = json.dumps(report, indent=2, default=str)
  print(text)
  if _OUTPUT.value:
    with open(_OUTPUT.value, "w") as f:
      f.write(text + "\n")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
