r"""Scores a trained run on one split of its task, with greedy or beam search, into results.json.

    python -m attn_seq2seq.evaluate --workdir=runs/reverse --split=test_long \
        [--beam_size=5 --alpha=0.6] [--checkpoint_step=S] [--data_dir=DIR]

The dataset is read from `--data_dir` (default: $TFDS_DATA_DIR, else ~/tensorflow_datasets),
never from a path recorded in the run's config.json: a workdir is data, not instructions.

Decodes every example of the split (the `Evaluator` of training: data-parallel over all devices,
the run's `eval_batch_size` rounded up to a multiple of the device count, its output length
limit) and computes the task's metrics: teacher-forced loss and perplexity, then exact match,
token accuracy and the task's own families (BLEU/chrF, WER/PER, alignment quality for copy and
reverse), overall and per source-length bucket (`by_length/<lo>-<hi>/<metric>`).

The metrics go into the run's results.json under `results_key`, e.g. `test` (greedy: the entry
training wrote, recomputed), `test/beam5`, `test/beam5/alpha0.6`, with `/step<S>` appended when
the checkpoint is not the step of the run's final results. Other entries are kept: the file is
merged under a lock and replaced atomically (`workdir.merge_results`), and an unreadable
results.json is reported before anything is decoded. The headline metrics and the per-length rows
are printed as a table.
"""

import functools
import os
from collections.abc import Sequence
from pathlib import Path

import jax
from absl import flags, logging

from attn_seq2seq import cli, search
from attn_seq2seq.inference import run_flags, trained_run
from attn_seq2seq.metrics import BY_LENGTH
from attn_seq2seq.run_files import RESULTS_FILE
from attn_seq2seq.training import mesh as mesh_lib
from attn_seq2seq.training import workdir as workdir_lib
from attn_seq2seq.training.evaluator import Evaluator
from attn_seq2seq.training.progress import results_table

_RUN_FLAGS = run_flags.define_flags()
flags.adopt_module_key_flags(run_flags)
_SPLIT = flags.DEFINE_string(
  "split", "test", "Split of the run's task to score, e.g. test or test_long."
)
_DATA_DIR = flags.DEFINE_string(
  "data_dir",
  None,
  "TFDS data directory of the run's dataset (default: $TFDS_DATA_DIR, else "
  "~/tensorflow_datasets); prepared there if missing.",
)


def results_key(
  split: str, beam_size: int = 1, alpha: float = 0.0, step_suffix: int | None = None
) -> str:
  """Where results.json keeps a split's metrics: `<split>` for greedy search,
  `<split>/beam<K>[/alpha<A>]` for beam search, then `/step<S>` if `step_suffix` is given."""
  key = split
  if beam_size > 1:
    key += f"/beam{beam_size}" + (f"/alpha{alpha:g}" if alpha else "")
  return key if step_suffix is None else f"{key}/step{step_suffix}"


def default_data_dir() -> str:
  """$TFDS_DATA_DIR, else ~/tensorflow_datasets (TFDS's own default)."""
  return os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"


def evaluate_run(
  run: trained_run.Run,
  split: str,
  *,
  beam_size: int = 1,
  alpha: float = 0.0,
  data_dir: str | None = None,
) -> dict[str, float]:
  """The metrics of `run` on `split` (see the module docstring); greedy search for
  `beam_size == 1`, else beam search. The dataset is read from `data_dir` (default:
  `default_data_dir()`), never from the run's recorded config. Raises `RunError` for a split the
  task does not have or data that cannot be read."""
  from attn_seq2seq import data  # noqa: PLC0415  (TFDS)

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
  kwargs = {
    "batch_size": -(-config.eval_batch_size // num_devices) * num_devices,
    "max_len_a": config.decode_max_len_a,
    "max_len_b": config.decode_max_len_b,
    "length_bucket_width": config.length_bucket_width,
  }
  best_of_beam = None  # the Evaluator's greedy search
  if beam_size > 1:
    beam_search = functools.partial(
      search.beam_search,
      run.model,
      beam_size=beam_size,
      alpha=alpha,
      max_len_a=config.decode_max_len_a,
      max_len_b=config.decode_max_len_b,
    )

    def best_of_beam(params, batch):  # scored by the best hypothesis
      out = beam_search({"params": params}, batch["src_ids"], batch["src_lengths"])
      return out.tokens[:, 0], out.attn_weights[:, 0]

  evaluator = Evaluator(run.model, task, mesh, search_fn=best_of_beam, **kwargs)
  return evaluator.evaluate(jax.device_put(run.params, mesh_lib.replicated(mesh)), split)


def write_results(
  workdir: str | Path, split: str, metrics: dict, *, beam_size: int, alpha: float, step: int
) -> str:
  """Stores `metrics` in the run's results.json under `results_key` (with `/step<S>` unless
  `step` is the step of the final results there), keeping every other entry; the file is
  replaced atomically. Returns the key."""
  results = workdir_lib.read_results(workdir)
  key = results_key(split, beam_size, alpha, None if results.get("step") == step else step)
  workdir_lib.merge_results(workdir, {key: metrics})
  return key


def metrics_table(key: str, metrics: dict) -> str:
  """The headline metrics of `key`, then one row per non-empty source-length bucket."""
  rows = {key: metrics}
  for name, value in metrics.items():
    if name.startswith(f"{BY_LENGTH}/"):
      _, label, metric = name.split("/")
      rows.setdefault(f"  length {label}", {})[metric] = value
  return results_table({name: row for name, row in rows.items() if row["count"]})


def main(argv: Sequence[str]) -> None:
  cli.flags_only(argv)
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # stderr: warnings and errors only
  workdir, beam_size, alpha = (
    _RUN_FLAGS.workdir.value,
    _RUN_FLAGS.beam_size.value,
    _RUN_FLAGS.alpha.value,
  )
  with cli.user_errors():
    workdir_lib.read_results(workdir)  # unreadable: say so now, not after decoding
    run = trained_run.load_run(workdir, _RUN_FLAGS.checkpoint_step.value)
    metrics = evaluate_run(
      run, _SPLIT.value, beam_size=beam_size, alpha=alpha, data_dir=_DATA_DIR.value
    )
    key = write_results(
      workdir, _SPLIT.value, metrics, beam_size=beam_size, alpha=alpha, step=run.step
    )
  print(metrics_table(key, metrics))
  print(f"written to {Path(workdir) / RESULTS_FILE} under {key!r} (checkpoint step {run.step})")
