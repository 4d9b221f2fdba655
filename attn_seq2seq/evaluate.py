r"""Scores a trained run on one split of its task, with greedy or beam search, into results.json.

    python -m attn_seq2seq.evaluate --workdir=runs/reverse --split=test_long \
        [--beam_size=5 --alpha=0.6 --coverage_penalty=0.2] [--oracle_length] \
        [--ablation=uniform|shuffled|zero_context] [--checkpoint_step=S] [--data_dir=DIR]
    python -m attn_seq2seq.evaluate --workdir=runs/a,runs/b [--ensemble=linear] \
        --results_dir=runs/ensemble_ab --split=test

The dataset is read from `--data_dir` (default: $TFDS_DATA_DIR, else ~/tensorflow_datasets),
never from a path recorded in the run's config.json: a workdir is data, not instructions.

Decodes every example of the split (the `Evaluator` of training: data-parallel over all devices,
the run's `eval_batch_size` rounded up to a multiple of the device count, its output length
limit; see `inference/evaluate.py`) and computes the task's metrics: teacher-forced loss and
perplexity, then exact match, token accuracy and the task's own families (BLEU/chrF, WER/PER,
alignment quality for copy and reverse), overall and per source-length bucket
(`by_length/<lo>-<hi>/<metric>`).

Several runs (`--workdir=a,b,c`, or a stacked run's root: all its members) are evaluated as an
ensemble: their next-token distributions combine inside the search (`--ensemble`: log_linear,
the default, or linear) and the teacher-forced metrics are those of the combined distribution.
The runs must share vocabularies and dataset; the results go to `--results_dir` (results.json,
outcomes/, and ensemble.json naming the runs), since they belong to no single run. A single run's
results go to `--results_dir` too when given (a read-only run); where the results go is checked
to be writable before anything is decoded.

`--oracle_length`: EOS is suppressed until each output (EOS excluded) is as long as its source,
a diagnostic of a model that stops early. `--ablation`: the same parameters decode with the
attention replaced at every step (uniform, shuffled or zero_context; models/attention_ablation.py),
how much the model relies on its attention.

The metrics go into the run's results.json under `results_key`, e.g. `test` (greedy: the entry
training wrote, recomputed), `test/beam5`, `test/beam5/alpha0.6`, `test_long/oracle_length`,
`test_long/ablation_uniform` (the keys of training's `extra_evaluations`), with `/step<S>`
appended when the checkpoint is not the step of the run's final results. Other entries are kept:
the file is merged under a lock and replaced atomically (`workdir.merge_results`), and an
unreadable results.json is reported before anything is decoded.
The per-example outcomes of the split (id, source, hypothesis and reference lengths, exact,
edit distance; `metrics/outcomes.py`) go to `<workdir>/outcomes/<key>.json`. The headline
metrics and the per-length rows are printed as a table.
"""

from collections.abc import Sequence
from pathlib import Path

from absl import app, flags

from attn_seq2seq import atomic_files, cli, search
from attn_seq2seq.errors import ConfigError
from attn_seq2seq.inference import ensembles, run_flags
from attn_seq2seq.inference import evaluate as evaluate_lib
from attn_seq2seq.metrics.outcomes import outcomes_path
from attn_seq2seq.run_files import RESULTS_FILE
from attn_seq2seq.training import workdir as workdir_lib

_RUN_FLAGS = run_flags.define_flags()
flags.adopt_module_key_flags(run_flags)
_RESULTS_DIR = flags.DEFINE_string(
  "results_dir",
  None,
  "For an ensemble (several --workdir runs, or a stacked run's root): the directory for its "
  "results.json and outcomes/ (its metrics belong to no single run). For one run: write them "
  "there instead of into its workdir (e.g. a read-only run).",
)
_DATA_DIR = flags.DEFINE_string(
  "data_dir",
  None,
  "TFDS data directory of the run's dataset (default: $TFDS_DATA_DIR, else "
  "~/tensorflow_datasets); prepared there if missing.",
)
_SPLIT = flags.DEFINE_string(
  "split", "test", "Split of the run's task to score, e.g. test or test_long."
)


def main(argv: Sequence[str]) -> None:
  with run_flags.command(argv):
    workdirs = ensembles.workdirs_of(_RUN_FLAGS.workdir.value)
    if len(workdirs) > 1 and _RESULTS_DIR.value is None:
      raise ConfigError(
        f"--workdir names {len(workdirs)} runs: an ensemble's results need --results_dir=DIR"
      )
    workdir = _RESULTS_DIR.value or workdirs[0]
    workdir_lib.read_results(workdir)  # unreadable: say so now, not after decoding
    # Where the metrics go must be writable: checked now, not after decoding the whole split.
    atomic_files.check_writable(
      workdir, "" if _RESULTS_DIR.value else "; pass --results_dir=DIR to write the metrics there"
    )
    runs = _RUN_FLAGS.load_runs()
    run = runs[0]
    spec = search.SearchSpec.of_experiment(run.config, **_RUN_FLAGS.search_options())
    if _RESULTS_DIR.value is not None:
      evaluate_lib.claim_ensemble_dir(workdir, runs)
    ablation = _RUN_FLAGS.ablation.value
    if len(runs) > 1:
      key = evaluate_lib.results_key(_SPLIT.value, spec, _RUN_FLAGS.checkpoint_step.value, ablation)
    else:
      key = evaluate_lib.key_in_results(run.workdir, _SPLIT.value, spec, run.step, ablation)
    metrics = evaluate_lib.evaluate_run(
      runs,
      _SPLIT.value,
      spec=spec,
      data_dir=_DATA_DIR.value,
      outcomes_path=outcomes_path(workdir, key),
      results_key=key,
    )
    evaluate_lib.write_results(workdir, key, metrics)
  print(evaluate_lib.metrics_table(key, metrics))
  print(f"written to {Path(workdir) / RESULTS_FILE} under {key!r} (checkpoint step {run.step})")
  print(f"per-example outcomes: {outcomes_path(workdir, key)}")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
