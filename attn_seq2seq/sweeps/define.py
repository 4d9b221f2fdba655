"""What sweep files (`experiments/*.py`) build their runs from: groups of seeds, stacked or solo,
groups whose hyperparameter is tuned on validation, and the hidden sizes at which the baselines
match an attention model's parameter count.

    runs = define.seed_group("bahdanau_h64", "configs/reverse.py:short", {...}, seeds=(0, 1, 2),
                             stacked=define.stacks_seeds(variants, solo_by_default=False))
    runs = define.tuned_group("bahdanau_h64", "configs/reverse.py:short", {...},
                              grid={"learning_rate": (3e-4, 1e-3, 3e-3)}, seeds=(0, 1, 2))
    runs = define.tuned_group(..., stacked=True)   # the whole grid x seeds as one stacked run
"""

import dataclasses
from collections.abc import Sequence

from attn_seq2seq.models import (
  ModelConfig,
  abstract_params,
  build_model,
  count_params,
  matching_hidden_size,
)
from attn_seq2seq.sweeps.sweep import run_config


def seed_group(
  name: str,
  config: str,
  overrides: dict,
  seeds: Sequence[int],
  *,
  stacked: bool,
  size_matched_to: str | None = None,
) -> list[dict]:
  """The runs of one group of seeds: one stacked run `name` training every seed as one program
  (`--config.seeds=0,1,2`, see members.py), or one run `<name>_s<seed>` per seed. A stacked
  group shares one data order; solo runs each follow their own seed. `size_matched_to` names
  the reference group; it gets the same suffix."""
  if stacked:
    matched = {} if size_matched_to is None else {"size_matched_to": size_matched_to}
    return [
      {
        "name": name,
        "config": config,
        "overrides": {**overrides, "seeds": ",".join(map(str, seeds))},
        **matched,
      }
    ]
  return [
    {
      "name": f"{name}_s{seed}",
      "config": config,
      "overrides": {**overrides, "seed": seed},
      **({} if size_matched_to is None else {"size_matched_to": f"{size_matched_to}_s{seed}"}),
    }
    for seed in seeds
  ]


def tuned_group(
  name: str,
  config: str,
  overrides: dict,
  *,
  grid: dict[str, Sequence],
  seeds: Sequence[int],
  select_on: tuple[str, str] = ("validation", "exact_match"),
  size_matched_to: str | None = None,
  stacked: bool = False,
) -> list[dict]:
  """A group of seeds whose one tuned field is chosen on validation (see selection.py): a trial
  run `<name>_<abbrev><value>_s<seeds[0]>` per value of `grid` (one field), then a run
  `<name>_s<seed>` for each other seed, which the launchers start with the value of the trial
  whose `select_on` = (split, metric) is best. `size_matched_to` names the reference group.

  `stacked` (a learning-rate grid only): one stacked run `<name>` whose members are every
  (learning rate, seed) pair (`learning_rates` beside `seeds`, training/members.py): one compiled
  program instead of len(grid) + len(seeds) - 1 runs. Its `tuned_in_stack` entry tells the
  selection to choose, after the run, exactly as above: on the tuning seed's members; the other
  seeds' members at the chosen value are the group, the rest extra trials."""
  if len(grid) != 1:
    raise ValueError(f"tuned_group tunes one field; got {sorted(grid)}")
  (field, values), (split, metric) = next(iter(grid.items())), select_on
  if split.startswith("test"):
    raise ValueError(f"select_on={select_on}: choose on a validation split, never on {split}")
  tuning_seed, *other_seeds = seeds
  matched = {} if size_matched_to is None else {"size_matched_to": size_matched_to}
  if stacked:
    if field != "learning_rate":
      raise ValueError(f"a stacked tuned_group tunes learning_rate only; got {field}")
    pairs = [(value, seed) for seed in seeds for value in values]
    grid_overrides = {
      "seeds": ",".join(str(seed) for _, seed in pairs),
      "learning_rates": ",".join(f"{value:g}" for value, _ in pairs),
    }
    select = {"field": field, "split": split, "metric": metric, "tuning_seed": tuning_seed}
    stack = {"name": name, "config": config, "overrides": {**overrides, **grid_overrides}}
    return [{**stack, "tuned_in_stack": select, **matched}]
  trials = [
    {
      "name": f"{name}_{_abbrev(field)}{value:g}_s{tuning_seed}",
      "config": config,
      "overrides": {**overrides, field: value, "seed": tuning_seed},
      **matched,
    }
    for value in values
  ]
  candidates = [trial["name"] for trial in trials]
  select = {"field": field, "candidates": candidates, "split": split, "metric": metric}
  return trials + [
    {
      "name": f"{name}_s{seed}",
      "config": config,
      "overrides": {**overrides, "seed": seed},
      "select": select,
      **matched,
    }
    for seed in other_seeds
  ]


def trained_to_best(
  metric: str,
  *,
  patience: int,
  min_delta: float,
  every: int | None = None,
  warmup: int | None = None,
) -> dict:
  """The overrides that train a run to its own best: early stopping on validation `metric`
  after `patience` evaluations without an improvement above `min_delta` (the config's
  num_train_steps stays the cap), evaluations and checkpoints every `every` steps, and a constant
  learning rate after `warmup` steps (a decay schedule would tie the rate to the cap)."""
  overrides = {
    "lr_schedule": "constant",
    "early_stopping.metric": metric,
    "early_stopping.patience": patience,
    "early_stopping.min_delta": min_delta,
  }
  if every is not None:
    overrides.update(eval_every_steps=every, checkpoint_every_steps=every)
  if warmup is not None:
    overrides["warmup_steps"] = warmup
  return overrides


def _abbrev(field: str) -> str:
  """'learning_rate' -> 'lr', 'model.dropout' -> 'dropout': a short run-name prefix."""
  last = field.rsplit(".", 1)[-1]
  return "lr" if last == "learning_rate" else last


def stacks_seeds(variants: set[str], solo_by_default: bool) -> bool:
  """Whether a sweep's groups of seeds are stacked runs: the `stacked` / `solo` variant if
  given (not both), else the sweep's default."""
  if {"stacked", "solo"} <= variants:
    raise ValueError("variants stacked and solo exclude each other; choose one")
  return "stacked" in variants or ("solo" not in variants and not solo_by_default)


def matched_hidden_sizes(
  config: str,
  budget: int,
  arms: Sequence[str] | dict[str, dict],
  src_vocab: int,
  tgt_vocab: int,
  reference: str = "bahdanau",
  overrides: dict | None = None,
) -> dict[str, int]:
  """Arm -> the hidden size at which it has as many parameters as `reference` at hidden and
  attention size `budget`, for the config file `config` with `overrides` (e.g. another
  embedding size) and these vocabulary sizes (exact, from the parameter shapes:
  `models.matching_hidden_size`). `arms` are decoder names, or arm names mapped to the
  ModelConfig fields that make the arm (e.g. {"sutskever": {"decoder": "fixed_init",
  "decoder_layers": 2}}); `reference` is one of them."""
  arms = arms if isinstance(arms, dict) else {decoder: {"decoder": decoder} for decoder in arms}
  base = run_config(
    {
      "name": f"{reference}_h{budget}",
      "config": config,
      "overrides": {
        **(overrides or {}),
        **{f"model.{k}": v for k, v in arms[reference].items()},
        "model.hidden_size": budget,
        "model.attention_size": budget,
      },
    }
  )
  model = ModelConfig.of_experiment(base)
  target = count_params(abstract_params(build_model(model, src_vocab, tgt_vocab)))
  return {
    arm: budget
    if arm == reference
    else matching_hidden_size(dataclasses.replace(model, **fields), target, src_vocab, tgt_vocab)
    for arm, fields in arms.items()
  }
