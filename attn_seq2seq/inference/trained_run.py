"""A trained run, loaded back from its workdir for decoding: `load_run`.

    run = load_run("runs/dates")                       # the run's model, default device
    run = load_run("runs/dates", step=500, sharding=mesh_lib.replicated(mesh))

Reads what `train.train_and_evaluate` wrote (see its module docstring): `config.json` -> the model
(`models.ModelConfig.of_experiment`, `models.build_model`), the saved vocabularies, and the
parameters of one checkpoint step. Only the parameters are restored (no optimizer state, no data
position), onto `sharding`: a run trained on 8 devices loads on a 1-CPU laptop and the other way
round. The workdir is only read.
A member of a stacked run (`<run>/members/seed_<k>/`, see members.py) loads like a run: its
parameters are its slice of the stack's checkpoints.

Whatever is missing or unreadable (the workdir, config.json, a vocabulary, the checkpoint or one
of its files) raises `RunError` with a one-line message naming the path, which the CLIs print
without a traceback.
"""

import dataclasses
import json
from pathlib import Path
from typing import Any

import jax
import ml_collections

from attn_seq2seq.errors import UserError, one_line
from attn_seq2seq.run_files import CHECKPOINTS_DIR, CONFIG_FILE, MEMBERS_DIR, RESULTS_FILE
from attn_seq2seq.training import checkpoint, members


class RunError(UserError):
  """A run that cannot be loaded (workdir, config, vocabulary, checkpoint) or used as asked (e.g.
  a split its task does not have); the message is one line naming the path or the choices."""


@dataclasses.dataclass(frozen=True)
class Run:
  """A trained model ready to decode.

  workdir:   the run directory.
  config:    the experiment config the run was trained with (`config.json`'s "config").
  record:    all of `config.json` (also versions, devices and task facts such as bucket shapes).
  model:     the `Seq2Seq` module.
  src_vocab, tgt_vocab: the run's saved vocabularies.
  params:    the parameter pytree of checkpoint `step`, placed on the requested sharding.
  step:      the checkpoint step the parameters come from.
  """

  workdir: Path
  config: ml_collections.ConfigDict
  record: dict
  model: Any
  src_vocab: Any
  tgt_vocab: Any
  params: Any
  step: int

  @property
  def variables(self) -> dict:
    """`{'params': params}`, what `model.apply` and the searches take."""
    return {"params": self.params}


def load_run(
  workdir: str | Path, step: int | None = None, sharding: jax.sharding.Sharding | None = None
) -> Run:
  """Loads the run in `workdir` with the parameters of checkpoint `step`, placed on `sharding`
  (default: the first device). The default step is the one a finished run's results.json
  evaluated (its `step`: under early stopping the best step, else the last), or the latest
  checkpoint of an unfinished run. Raises `RunError` (see the module docstring)."""
  from attn_seq2seq import data  # noqa: PLC0415  (TFDS import: only when a run is loaded)
  from attn_seq2seq.models import ModelConfig, build_model  # noqa: PLC0415  (flax: idem)

  workdir = Path(workdir)
  if not workdir.is_dir():
    raise RunError(f"no run directory {workdir}")
  record = _read_json(workdir / CONFIG_FILE)
  try:
    config = ml_collections.ConfigDict(record["config"])
    task = record["task"]
    model = build_model(
      ModelConfig.of_experiment(config),
      task["src_vocab_size"],
      task["tgt_vocab_size"],
    )
  except (KeyError, TypeError, ValueError) as e:
    raise RunError(
      f"{workdir / CONFIG_FILE} is not a config written by attn_seq2seq.main "
      f"({type(e).__name__}: {e})"
    ) from None
  seeds = config.get("seeds") or ()
  if seeds:  # its checkpoint holds every member along a leading axis: no single model
    names = [d.name for d in members.stack_member_dirs(workdir) or ()]
    listed = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    raise RunError(
      f"{workdir} is a stacked run (seeds {', '.join(map(str, seeds))}), not one model: "
      f"use one of its members, {workdir / MEMBERS_DIR}/<member> ({listed or 'seed_<k>'})"
    )
  try:
    src_vocab, tgt_vocab = data.load_vocabs(workdir)
  except (OSError, ValueError, KeyError) as e:
    raise RunError(
      f"cannot read the vocabularies of {workdir}: {one_line(e, max_chars=300)}"
    ) from None
  step = _evaluated_step(workdir) if step is None else step
  sharding = sharding or jax.sharding.SingleDeviceSharding(jax.devices()[0])
  abstract = _abstract_params(model, sharding)
  stack = members.stack_of(workdir)
  if stack is None:
    params, step = restore_params(workdir / CHECKPOINTS_DIR, abstract, step)
  else:  # a member of a stacked run: its slice of the stack's checkpoint
    root, index, size = stack
    abstract = jax.tree.map(
      lambda x: jax.ShapeDtypeStruct((size, *x.shape), x.dtype, sharding=x.sharding), abstract
    )
    params, step = restore_params(root / CHECKPOINTS_DIR, abstract, step)
    params = members.take(params, index)
  return Run(workdir, config, record, model, src_vocab, tgt_vocab, params, step)


def restore_params(
  directory: Path, abstract_params: Any, step: int | None = None
) -> tuple[Any, int]:
  """`(params, step)`: the parameters of checkpoint `step` (default: the latest) in `directory`,
  a `checkpoint.Checkpointer` directory, shaped and placed as `abstract_params`
  (`jax.ShapeDtypeStruct`s with shardings). Restores the `params` field of the saved train state
  only (orbax partial restore). Raises `RunError` naming the path."""
  import orbax.checkpoint as ocp  # noqa: PLC0415  (heavy: only when a checkpoint is read)

  if not directory.is_dir():
    raise RunError(f"no checkpoint directory {directory}")
  options = ocp.CheckpointManagerOptions(create=False, enable_async_checkpointing=False)
  with ocp.CheckpointManager(
    directory.absolute(), options=options, item_names=checkpoint.ITEMS
  ) as manager:
    steps = sorted(manager.all_steps())
    if not steps:
      raise RunError(f"no checkpoint in {directory}")
    step = steps[-1] if step is None else step
    if step not in steps:
      raise RunError(
        f"no checkpoint step {step} in {directory}; steps: {', '.join(map(str, steps))}"
      )
    target = {"params": abstract_params}
    args = ocp.args.PyTreeRestore(
      target, partial_restore=True, restore_args=ocp.checkpoint_utils.construct_restore_args(target)
    )
    try:
      with checkpoint.quiet_failed_restore():
        restored = manager.restore(step, args=ocp.args.Composite(state=args))
    except Exception as e:  # noqa: BLE001  (orbax/tensorstore raise many types for a bad file)
      raise RunError(
        f"cannot restore checkpoint {directory / str(step)}: {type(e).__name__}: "
        f"{one_line(e, max_chars=300)}"
      ) from None
  return restored["state"]["params"], step


def _abstract_params(model, sharding) -> Any:
  """The parameter shapes of `model` (no computation), as `ShapeDtypeStruct`s on `sharding`."""
  from attn_seq2seq.models import abstract_params  # noqa: PLC0415  (flax: only when a run loads)

  shapes = abstract_params(model)
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), shapes)


def _evaluated_step(workdir: Path) -> int | None:
  """The `step` of a finished run's results.json (the model its results describe), or None."""
  try:
    step = json.loads((workdir / RESULTS_FILE).read_text()).get("step")
  except (OSError, ValueError, AttributeError):
    return None
  return step if isinstance(step, int) and not isinstance(step, bool) else None


def _read_json(path: Path) -> dict:
  try:
    return json.loads(path.read_text())
  except FileNotFoundError:
    raise RunError(f"no {path.name} in {path.parent}: not a run directory") from None
  except (OSError, ValueError) as e:
    raise RunError(f"cannot read {path}: {one_line(e)}") from None
