"""A classic G2P system trained on exactly the project's CMUdict train split and scored on its
test split with the project's own metric code: the same-split reference for the neural models.

    python scripts/g2p_reference.py --system=phonetisaurus --workdir=DIR [--data_dir=TFDS_DIR]
    python scripts/g2p_reference.py --system=sequitur --sequitur_order=3 --workdir=DIR

Systems (`pip install -e '.[g2p]'`):
  phonetisaurus  joint-sequence n-gram WFST (Novak et al. 2016, "Phonetisaurus: Exploring
                 grapheme-to-phoneme conversion with joint n-gram models in the WFST framework").
                 The binaries the `phonetisaurus` wheel ships, run one by one as its
                 `phonetisaurus-train` runs them: `phonetisaurus-align` (EM many-to-many
                 alignment; --seq1_max, --seq2_max, graphemes never deleted, phones may be, as
                 Phonetisaurus' CMUdict recipe `phonetisaurus-train --seq2_del`), mitlm's
                 `estimate-ngram` (--ngram_order, modified Kneser-Ney), `phonetisaurus-arpa2wfst`,
                 then `phonetisaurus-g2pfst --nbest=1` on the test words.
  sequitur       joint-sequence models (Bisani & Ney 2008), `sequitur-g2p`'s g2p.py: order 1,
                 then ramped up one order at a time to --sequitur_order, each trained by EM with
                 the held-out set --sequitur_devel (default: the project's validation split).
                 The PyPI wheel (1.0.1668.30) sets `x.thisown = True` on SWIG objects without the
                 reference its runtime needs, which frees SWIG's type table after a while and
                 then fails ('SwigPyObject' object has no attribute 'thisown'; fixed upstream
                 after that release, sequitur-g2p PRs #111 and #112). g2p.py runs here with its
                 `sequitur` module patched in memory to hold that reference. Measured on the
                 full train split: the EM log-likelihoods equal those with upstream's first fix
                 (#111, the lines removed), and memory stays flat (~150 MB) where #111 alone
                 leaks ~0.85 GB per EM iteration (no destructor for unowned SWIG objects).
                 It also calls `numpy.sometrue` (removed in NumPy 2, which the wheel requires)
                 from the third EM iteration of every order >= 2: patched to `numpy.any`.

Training uses every pronunciation of every train word (as the neural models do); a test word is
right if the 1-best output equals any of its pronunciations (`metrics/g2p.py`). The workdir gets
a run-like record:
  results.json   {"<split>": {"count", "exact_match", "wer", "per", "by_length/...", ...},
                  "step": 0, "train_seconds", "predict_seconds", "missing_hypotheses"}
  config.json    {"config": {system, options, data}, "task", "versions", "machine", "command",
                  "date", "num_params": None}
  outcomes/<split>.json  per-example outcomes (attn_seq2seq/metrics/outcomes.py), paired by id
                 with the neural runs' outcomes
  predictions/<split>.tsv  word, hypothesis, references (tab-separated)
  model/         the trained model and the tools' logs
--max_train_words / --max_eval_words keep the first N words of a split (smoke tests only;
recorded in config.json).
"""

import datetime
import functools
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

from absl import app, flags

from attn_seq2seq import cli
from attn_seq2seq.choices import check_choice
from attn_seq2seq.data.datasets import get_data_config
from attn_seq2seq.data.task import load_task
from attn_seq2seq.errors import ConfigError, UserError
from attn_seq2seq.metrics.compute import compute_metrics
from attn_seq2seq.metrics.outcomes import outcome_columns, write_outcomes
from attn_seq2seq.run_files import CONFIG_FILE, RESULTS_FILE
from attn_seq2seq.sweeps import machine
from attn_seq2seq.training.evaluator import length_bucket_edges

SYSTEMS = ("phonetisaurus", "sequitur")
PACKAGES = {"phonetisaurus": "phonetisaurus", "sequitur": "sequitur-g2p"}
BUCKET_WIDTH = 10  # source-length buckets of results.json: a run's (length_bucket_width)
_RESERVED = re.compile(r"[\s}|_]")  # phonetisaurus-align's separators and skip symbol

FLAGS = cli.script_flags(__name__)
_string = functools.partial(flags.DEFINE_string, flag_values=FLAGS)
_count = functools.partial(flags.DEFINE_integer, flag_values=FLAGS)
_SYSTEM = _string("system", "phonetisaurus", "phonetisaurus or sequitur.")
_WORKDIR = _string("workdir", None, "Directory to write into.")
_DATA_DIR = _string(
  "data_dir",
  os.environ.get("TFDS_DATA_DIR", "~/tensorflow_datasets"),
  "TFDS data dir (the dataset is prepared there on first use).",
)
_DATASET = _string("dataset", "cmudict_g2p/no_stress", "cmudict_g2p/no_stress or /with_stress.")
_SPLIT = _string("split", "test", "Split to score.")
_NGRAM_ORDER = _count("ngram_order", 8, "phonetisaurus: joint n-gram order.", lower_bound=1)
_SEQ1_MAX = _count("seq1_max", 2, "phonetisaurus: most letters in an aligned chunk.", lower_bound=1)
_SEQ2_MAX = _count("seq2_max", 2, "phonetisaurus: most phones in an aligned chunk.", lower_bound=1)
_SEQUITUR_ORDER = _count(
  "sequitur_order", 3, "sequitur: final model order (ramped up from 1).", lower_bound=1
)
_SEQUITUR_DEVEL = _string(
  "sequitur_devel",
  "validation",
  "sequitur: held-out set, 'validation' (the project's split) or 'N%' of train.",
)
_MAX_TRAIN = _count("max_train_words", 0, "Keep the first N train words (0: all).", lower_bound=0)
_MAX_EVAL = _count("max_eval_words", 0, "Score the first N words (0: all).", lower_bound=0)
flags.mark_flag_as_required("workdir", flag_values=FLAGS)


class ToolError(UserError):
  """A G2P tool that failed; the message is one line naming the command and its log."""


# -- the lexicon in and the predictions out ------------------------------------------------------


def split_lexicon(task, split: str, limit: int = 0) -> tuple[list[str], list[list[list[str]]]]:
  """(words, pronunciations [word][pron][phone]) of `split`, the first `limit` words if > 0; a
  word with a character the tools reserve (whitespace, } | _) is an error."""
  words, prons = task.source_texts(split), task.references(split)
  if limit:
    words, prons = words[:limit], prons[:limit]
  for word, word_prons in zip(words, prons, strict=True):
    if _RESERVED.search(word) or any(_RESERVED.search(p) for pron in word_prons for p in pron):
      raise ConfigError(f"{split} word {word!r} holds whitespace or one of }} | _ (reserved)")
  if len(set(words)) != len(words):
    raise ConfigError(f"{split} lists a word twice; predictions are matched to words by spelling")
  return words, prons


def write_lexicon(path: Path, words: list[str], prons: list[list[list[str]]], sep: str) -> None:
  """One line per pronunciation: word, `sep`, its phones separated by spaces."""
  lines = [
    f"{w}{sep}{' '.join(p)}\n"
    for w, word_prons in zip(words, prons, strict=True)
    for p in word_prons
  ]
  path.write_text("".join(lines))


def parse_predictions(text: str, phones_field: int) -> dict[str, list[str]]:
  """{word: phones} from a tool's tab-separated output lines (word first; the phones, space-
  separated, in field `phones_field`); the first line of a word wins (its 1-best)."""
  predictions = {}
  for line in text.splitlines():
    fields = line.split("\t")
    if len(fields) > phones_field and fields[0] not in predictions:
      predictions[fields[0]] = fields[phones_field].split()
  return predictions


def score(words: list[str], prons: list, predictions: dict[str, list[str]]) -> tuple[dict, dict]:
  """(metrics as compute_metrics reports them, per-example outcome columns); a word without a
  prediction counts as an empty output (wrong)."""
  hyps = [predictions.get(word, []) for word in words]
  src_lengths = [len(word) for word in words]
  families = ("exact_match", "wer", "per")
  edges = length_bucket_edges(max(src_lengths), BUCKET_WIDTH)  # as the evaluator's
  metrics = compute_metrics(families, hyps, prons, src_lengths, bucket_edges=edges)
  return metrics, outcome_columns(hyps, prons, src_lengths)


# -- running the tools ----------------------------------------------------------------------------


def run_tool(command: list[str], log: Path, env: dict | None = None, stdout: Path | None = None):
  """Runs `command`, its stderr (and stdout unless `stdout` is given) appended to `log`."""
  with open(log, "a") as log_file, open(stdout or os.devnull, "w") as out_file:
    log_file.write(f"$ {' '.join(command)}\n")
    log_file.flush()
    result = subprocess.run(
      command, stdout=out_file if stdout else log_file, stderr=log_file, env=env, check=False
    )
  if result.returncode != 0:
    raise ToolError(f"{Path(command[0]).name} exited with status {result.returncode}; see {log}")


def phonetisaurus_env() -> dict:
  """This environment with the `phonetisaurus` wheel's binaries and libfst first."""
  import phonetisaurus  # noqa: PLC0415  (optional: the g2p extra)

  package = Path(phonetisaurus.__file__).parent
  bin_dir, lib_dir = package / "bin" / platform.machine(), package / "lib" / platform.machine()
  if not bin_dir.is_dir():
    raise ToolError(f"the phonetisaurus wheel has no binaries for {platform.machine()}")
  return {
    **os.environ,
    "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    "LD_LIBRARY_PATH": f"{lib_dir}{os.pathsep}{os.environ.get('LD_LIBRARY_PATH', '')}",
  }


def phonetisaurus_train(lexicon: Path, model_dir: Path, options: dict) -> Path:
  """Align, estimate the joint n-gram model and convert it to a WFST; returns the model path."""
  env, log = phonetisaurus_env(), model_dir / "train.log"
  corpus, arpa, fst = model_dir / "train.corpus", model_dir / "model.arpa", model_dir / "model.fst"
  run_tool(
    [
      "phonetisaurus-align",
      f"--input={lexicon}",
      f"--ofile={corpus}",
      "--seq1_del=false",
      "--seq2_del=true",
      f"--seq1_max={options['seq1_max']}",
      f"--seq2_max={options['seq2_max']}",
      "--grow=false",
    ],
    log,
    env,
  )
  order = str(options["ngram_order"])
  run_tool(["estimate-ngram", "-o", order, "-t", str(corpus), "-wl", str(arpa)], log, env)
  run_tool(["phonetisaurus-arpa2wfst", f"--lm={arpa}", f"--ofile={fst}"], log, env)
  arpa.unlink()  # 8-gram ARPA text: ~55 MB, the WFST holds the same model
  return fst


def phonetisaurus_predict(model: Path, words_file: Path, out: Path) -> dict[str, list[str]]:
  """1-best phones per word: `phonetisaurus-g2pfst` prints word, score, phones."""
  command = ["phonetisaurus-g2pfst", f"--model={model}", f"--wordlist={words_file}", "--nbest=1"]
  run_tool(command, model.parent / "predict.log", phonetisaurus_env(), stdout=out)
  return parse_predictions(out.read_text(), phones_field=2)


# Runs sequitur-g2p's g2p.py with its `sequitur` module patched (see the module docstring): each
# `x.thisown = True` also keeps one reference to SWIG's runtime capsule, the reference that
# taking ownership should have taken; `num.sometrue`, removed in NumPy 2 (which the wheel
# requires), becomes `num.any` (the discount search of every order >= 2 calls it).
_SEQUITUR_ENV = {**os.environ, "PYTHONHASHSEED": "0"}  # a set's order feeds the N% draw
_SEQUITUR_MAIN = r"""
import importlib.util, random, re, runpy, sys, types
random.seed(0)  # --devel N% draws its held-out words with `random` (and PYTHONHASHSEED=0)
spec = importlib.util.find_spec("sequitur")
source = open(spec.origin).read()
pattern, keep = r"^(\s*)(\w+)\.thisown = True$", r"\1\2.thisown = True\n\1_KEPT.append(_CAPSULE)"
patched, count = re.subn(pattern, keep, source, flags=re.M)
patched, removed = re.subn(r"\bnum\.sometrue\(", "num.any(", patched)  # gone in NumPy 2
print(f"patched {spec.origin}: {count} thisown, {removed} sometrue", file=sys.stderr)
module = types.ModuleType("sequitur")
module.__file__ = spec.origin
exec("import sequitur_", module.__dict__)
runtime = next(m for name, m in sys.modules.items() if name.startswith("swig_runtime_data"))
module._CAPSULE = runtime.type_pointer_capsule
module._KEPT = []
exec(compile(patched, spec.origin, "exec"), module.__dict__)
sys.modules["sequitur"] = module
sys.argv = ["g2p.py", *sys.argv[1:]]
runpy.run_module("g2p", run_name="__main__")
"""


def sequitur_train(lexicon: Path, devel: str, model_dir: Path, order: int) -> tuple[Path, list]:
  """Order 1, then ramp-up to `order`; returns (the final model, seconds per order)."""
  log, seconds, model = model_dir / "train.log", [], None
  for k in range(1, order + 1):
    start = time.perf_counter()
    previous = ["--model", str(model), "--ramp-up"] if model else []
    model = model_dir / f"model-{k}"
    command = [sys.executable, "-c", _SEQUITUR_MAIN, *previous, "--train", str(lexicon)]
    run_tool([*command, "--devel", devel, "--write-model", str(model)], log, _SEQUITUR_ENV)
    seconds.append(round(time.perf_counter() - start, 2))
  return model, seconds


def sequitur_predict(model: Path, words_file: Path, out: Path) -> dict[str, list[str]]:
  """1-best phones per word: g2p.py --apply prints word, phones."""
  command = [sys.executable, "-c", _SEQUITUR_MAIN, "--model", str(model), "--apply"]
  run_tool([*command, str(words_file)], model.parent / "predict.log", _SEQUITUR_ENV, stdout=out)
  return parse_predictions(out.read_text(), phones_field=1)


# -- the run ---------------------------------------------------------------------------------------


def train_and_predict(system: str, task, workdir: Path, options: dict) -> tuple[dict, dict]:
  """(predictions {word: phones} of the scored split, timings and per-system facts)."""
  model_dir = workdir / "model"
  model_dir.mkdir(parents=True, exist_ok=True)
  train_words, train_prons = split_lexicon(task, "train", options["max_train_words"])
  words, _ = split_lexicon(task, options["split"], options["max_eval_words"])
  words_file = model_dir / f"{options['split']}.words"
  words_file.write_text("".join(f"{w}\n" for w in words))
  lexicon = model_dir / "train.lexicon"
  write_lexicon(lexicon, train_words, train_prons, "\t" if system == "phonetisaurus" else " ")
  facts = {"train_words": len(train_words), "train_pronunciations": sum(map(len, train_prons))}
  start = time.perf_counter()
  if system == "phonetisaurus":
    model = phonetisaurus_train(lexicon, model_dir, options)
  else:
    devel = options["sequitur_devel"]
    if devel == "validation":
      devel_words, devel_prons = split_lexicon(task, "validation")
      write_lexicon(model_dir / "validation.lexicon", devel_words, devel_prons, " ")
      devel = str(model_dir / "validation.lexicon")
    model, facts["seconds_per_order"] = sequitur_train(
      lexicon, devel, model_dir, options["sequitur_order"]
    )
  facts["train_seconds"] = round(time.perf_counter() - start, 2)
  start = time.perf_counter()
  predict = phonetisaurus_predict if system == "phonetisaurus" else sequitur_predict
  predictions = predict(model, words_file, model_dir / f"{options['split']}.out")
  facts["predict_seconds"] = round(time.perf_counter() - start, 2)
  return predictions, facts


def write_run(workdir: Path, task, options: dict, predictions: dict, facts: dict) -> dict:
  """results.json, config.json, outcomes/<split>.json and predictions/<split>.tsv."""
  split = options["split"]
  words, prons = split_lexicon(task, split, options["max_eval_words"])
  metrics, columns = score(words, prons, predictions)
  write_outcomes(workdir, split, 0, columns)
  (workdir / "predictions").mkdir(exist_ok=True)
  rows = [
    f"{w}\t{' '.join(predictions.get(w, []))}\t{' | '.join(' '.join(p) for p in ps)}\n"
    for w, ps in zip(words, prons, strict=True)
  ]
  header = "word\thypothesis\treferences\n"
  (workdir / "predictions" / f"{split}.tsv").write_text(header + "".join(rows))
  results = {
    split: metrics,
    "step": 0,
    "train_seconds": facts["train_seconds"],
    "predict_seconds": facts["predict_seconds"],
    "missing_hypotheses": sum(w not in predictions for w in words),
  }
  package = PACKAGES[options["system"]]
  record = {
    "config": options,
    "task": {"name": task.name, "eval_splits": [split]},
    "num_params": None,
    "facts": facts,
    "versions": {name: importlib.metadata.version(name) for name in (package, "cmudict")},
    "machine": machine.host(),
    "command": " ".join(sys.argv),
    "date": datetime.datetime.now().isoformat(timespec="seconds"),
  }
  for name, value in ((RESULTS_FILE, results), (CONFIG_FILE, record)):
    (workdir / name).write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")
  return results


def main(argv: list[str]) -> int:
  cli.flags_only(argv)
  with cli.user_errors():
    check_choice("system", _SYSTEM.value, SYSTEMS)
    if not re.fullmatch(r"validation|\d+(\.\d+)?%", _SEQUITUR_DEVEL.value):
      raise ConfigError(f"--sequitur_devel={_SEQUITUR_DEVEL.value}; allowed: validation or N%")
    options = {
      "system": _SYSTEM.value,
      "dataset": _DATASET.value,
      "split": _SPLIT.value,
      "max_train_words": _MAX_TRAIN.value,
      "max_eval_words": _MAX_EVAL.value,
    }
    if _SYSTEM.value == "phonetisaurus":
      options.update(ngram_order=_NGRAM_ORDER.value, seq1_max=_SEQ1_MAX.value)
      options.update(seq2_max=_SEQ2_MAX.value)
    else:
      options.update(sequitur_order=_SEQUITUR_ORDER.value, sequitur_devel=_SEQUITUR_DEVEL.value)
    module = "phonetisaurus" if _SYSTEM.value == "phonetisaurus" else "sequitur_"
    if importlib.util.find_spec(module) is None:
      raise ConfigError(
        f"--system={_SYSTEM.value} needs {PACKAGES[_SYSTEM.value]}: pip install -e '.[g2p]'"
      )
    task = load_task(get_data_config(_DATASET.value, data_dir=_DATA_DIR.value))
    check_choice(f"{_DATASET.value} split", _SPLIT.value, task.splits)
    workdir = Path(_WORKDIR.value)
    workdir.mkdir(parents=True, exist_ok=True)
    predictions, facts = train_and_predict(_SYSTEM.value, task, workdir, options)
    results = write_run(workdir, task, options, predictions, facts)
  metrics = results[_SPLIT.value]
  print(
    f"{_SYSTEM.value} on {_DATASET.value} {_SPLIT.value}: WER {metrics['wer']:.4f}, "
    f"PER {metrics['per']:.4f}, {metrics['count']} words; train {results['train_seconds']} s, "
    f"predict {results['predict_seconds']} s -> {workdir}"
  )
  return 0


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
