"""Scoring a trained run on one split of its task, with any search, into its results.json: the
library behind `python -m attn_seq2seq.evaluate` (whose docstring is the command's usage).

    metrics = evaluate_run(load_run("runs/reverse"), "test_long", spec=SearchSpec(beam_size=5))
    key = key_in_results("runs/reverse", "test_long", spec, run.step)
    write_results("runs/reverse", key, metrics)

`evaluate_run` decodes every example of the split with the `Evaluator` of training
(data-parallel over all devices, the run's `eval_batch_size` rounded up to a multiple of the
device count) and computes the task's metrics: teacher-forced loss and perplexity, then exact
match, token accuracy and the task's own families (BLEU/chrF, WER/PER, alignment quality for copy
and reverse), overall and per source-length bucket (`by_length/<lo>-<hi>/<metric>`). The dataset
is read from `data_dir` (default: $TFDS_DATA_DIR, else ~/tensorflow_datasets), never from a path
recorded in the run's config.json: a workdir is data, not instructions.

`write_results` stores them under their `key_in_results`, e.g. `test` (greedy: the entry
training wrote, recomputed), `test/beam5`, `test/beam5/alpha0.6`, `test_long/oracle_length`, with
`/step<S>` appended when the checkpoint is not the step of the run's final results. Other entries
are kept: the file is merged under a lock and replaced atomically (`workdir.merge_results`).
An ensemble's results belong to no single run: they go to a directory of their own
(`claim_ensemble_dir`), which records the runs in `ensemble.json`.
"""

import os
from collections.abc import Sequence
from pathlib import Path

import jax

from attn_seq2seq import search
from attn_seq2seq.inference import ensembles, trained_run
from attn_seq2seq.metrics import BY_LENGTH
from attn_seq2seq.run_files import CONFIG_FILE
from attn_seq2seq.training import mesh as mesh_lib
from attn_seq2seq.training import workdir as workdir_lib
from attn_seq2seq.training.evaluator import Evaluator
from attn_seq2seq.training.progress import results_table

ENSEMBLE_FILE = "ensemble.json"  # in an ensemble's --results_dir: the runs it combines


def results_key(
  split: str, spec: search.SearchSpec, step_suffix: int | None = None, ablation: str = "none"
) -> str:
  """Where results.json keeps a split's metrics under `spec`: `<split>` for greedy search (which
  alpha and the coverage penalty do not change), `<split>/beam<K>[/alpha<A>][/coverage<B>]` for
  beam search, then `/linear` for an ensemble combined linearly, `/oracle_length` for
  oracle-length decoding (another minimum length: `/min_len_a<A>_b<B>`), `/ablation_<kind>` for a
  model whose attention is ablated (the key training's `extra_evaluations` writes), then
  `/step<S>` if `step_suffix` is given."""
  key = split
  if spec.algorithm == "beam":
    key += f"/beam{spec.beam_size}" + (f"/alpha{spec.alpha:g}" if spec.alpha else "")
    key += f"/coverage{spec.coverage_penalty:g}" if spec.coverage_penalty else ""
  if spec.ensemble != "log_linear":  # an ensemble combined otherwise than by default
    key += f"/{spec.ensemble}"
  if spec.oracle_length:
    key += "/oracle_length"
  elif spec.has_min_len:
    key += f"/min_len_a{spec.min_len_a:g}_b{spec.min_len_b:g}"
  if ablation != "none":
    key += f"/ablation_{ablation}"
  return key if step_suffix is None else f"{key}/step{step_suffix}"


def default_data_dir() -> str:
  """$TFDS_DATA_DIR, else ~/tensorflow_datasets (TFDS's own default)."""
  return os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"


def evaluate_run(
  runs: trained_run.Run | Sequence[trained_run.Run],
  split: str,
  *,
  spec: search.SearchSpec | None = None,
  data_dir: str | None = None,
  outcomes_path: str | Path | None = None,
  results_key: str | None = None,
) -> dict[str, float]:
  """The metrics of a run (or of an ensemble of runs, `ensembles.load_runs`) on `split` (see the
  module docstring), decoded with `spec` (default: `SearchSpec.of_experiment(run.config)`, the
  greedy search of training; for an ensemble, the first run's); with `outcomes_path`, the
  per-example outcomes go there too (recording `results_key` and the first run's step). The
  dataset is read from `data_dir` (default: `default_data_dir()`), never from the run's recorded
  config. Raises `RunError` for a split the task does not have or data that cannot be read."""
  from attn_seq2seq import data  # noqa: PLC0415  (TFDS)

  runs = ensembles.as_runs(runs)
  run = runs[0]  # the dataset, vocabularies, batch size and output length limit

  data_config = run.config.data.copy_and_resolve_references()
  data_config.data_dir = data_dir or default_data_dir()
  data_path = os.path.expanduser(data_config.data_dir)
  if os.path.exists(data_path) and not os.path.isdir(data_path):
    raise trained_run.RunError(
      f"data directory {data_config.data_dir} is a file; pass --data_dir "
      "or set TFDS_DATA_DIR to a directory"
    )
  try:
    task = data.load_task(data_config, vocabs=(run.src_vocab, run.tgt_vocab))
  except data.DataError as e:
    raise trained_run.RunError(str(e)) from None
  if split not in task.splits:
    raise trained_run.RunError(
      f"{task.name} has no split {split!r}; splits: {', '.join(task.splits)}"
    )
  mesh = mesh_lib.make_mesh()
  num_devices = mesh.devices.size
  config = run.config
  model, _ = ensembles.search_inputs(runs)
  evaluator = Evaluator(
    model,
    task,
    mesh,
    batch_size=-(-config.eval_batch_size // num_devices) * num_devices,
    spec=spec or search.SearchSpec.of_experiment(config),
    length_bucket_width=config.length_bucket_width,
  )
  params = tuple(r.params for r in runs) if len(runs) > 1 else run.params
  params = jax.device_put(params, mesh_lib.replicated(mesh))
  return evaluator.evaluate(
    params, split, outcomes_path=outcomes_path, results_key=results_key, step=run.step
  )


def key_in_results(
  workdir: str | Path, split: str, spec: search.SearchSpec, step: int, ablation: str = "none"
) -> str:
  """The `results_key` under which the run in `workdir` stores the metrics of `split` under
  `spec` (and `ablation`) from checkpoint `step` (`/step<S>` unless `step` is the step of its
  final results)."""
  results = workdir_lib.read_results(workdir)
  return results_key(split, spec, None if results.get("step") == step else step, ablation)


def claim_ensemble_dir(results_dir: str | Path, runs: Sequence[trained_run.Run]) -> Path:
  """The directory that keeps an ensemble's results (its metrics belong to no single run):
  `results.json` and `outcomes/` as in a run's workdir, and `ensemble.json` naming the runs.
  Created on first use; a `RunError` if it records another ensemble or is a run's workdir."""
  results_dir = Path(results_dir)
  if (results_dir / CONFIG_FILE).exists():
    raise trained_run.RunError(
      f"--results_dir={results_dir} is a run's workdir; an ensemble's results need their own "
      "directory"
    )
  record = {"runs": [str(run.workdir.resolve()) for run in runs]}
  path = results_dir / ENSEMBLE_FILE
  if path.exists():
    recorded = workdir_lib.read_json(path)
    if recorded.get("runs") != record["runs"]:
      raise trained_run.RunError(
        f"{path} records another ensemble ({', '.join(recorded.get('runs', []))}); "
        "choose another --results_dir"
      )
    return results_dir
  results_dir.mkdir(parents=True, exist_ok=True)
  workdir_lib.write_json_atomically(path, record)
  return results_dir


def write_results(workdir: str | Path, key: str, metrics: dict) -> None:
  """Stores `metrics` in the run's results.json under `key`, keeping every other entry; the file
  is replaced atomically."""
  workdir_lib.merge_results(workdir, {key: metrics})


def metrics_table(key: str, metrics: dict) -> str:
  """The headline metrics of `key`, then one row per non-empty source-length bucket."""
  rows = {key: metrics}
  for name, value in metrics.items():
    if name.startswith(f"{BY_LENGTH}/"):
      _, label, metric = name.split("/")
      rows.setdefault(f"  length {label}", {})[metric] = value
  return results_table({name: row for name, row in rows.items() if row["count"]})
