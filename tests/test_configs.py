"""Every experiment config builds, documents its fields, and trains one `quick` step."""

import ast
import contextlib

import jax
import numpy as np
import pytest
from helpers import ROOT, load_config
from tfds_mock import serve

from attn_seq2seq import data
from attn_seq2seq.training import mesh as mesh_lib
from attn_seq2seq.training import steps, train, train_functions

CONFIG_FILES = sorted((ROOT / "configs").glob("*.py"))
CONFIG_NAMES = [p.stem for p in CONFIG_FILES]
EXPECTED = {"default", "reverse", "copy", "sort", "addition", "dates", "cmudict", "wmt14_ende"}


def variants(name: str) -> list[str]:
  """Every variant a config accepts, read off its own 'unknown variant' error."""
  with pytest.raises(ValueError, match="valid: ") as error:
    load_config(name, "no_such_variant")
  return str(error.value).split("valid: ")[1].split(", ")


def test_every_expected_config_exists():
  assert set(CONFIG_NAMES) >= EXPECTED
  assert "benchmark" in variants("reverse")


@pytest.mark.parametrize("path", CONFIG_FILES, ids=CONFIG_NAMES)
def test_config_documents_its_command_and_every_field(path):
  source = path.read_text()
  docstring = ast.get_docstring(ast.parse(source))
  assert f"python -m attn_seq2seq.main --config=configs/{path.name}" in docstring
  for number, line in enumerate(source.splitlines(), 1):
    stripped = line.strip()
    if stripped.startswith("config.") and " = " in stripped:
      assert "  # " in stripped, f"{path.name}:{number} has no comment: {stripped}"


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_every_variant_passes_the_config_checks(name):
  for variant in variants(name):
    config = load_config(name, variant)
    train.check_config(config, num_devices=1)
    if variant == "quick":
      train.check_config(config)  # the 4 test devices split the quick batch


# -- one training step of every quick config ---------------------------------------------------

WMT_PAIRS = {  # toy German -> English pairs served through tfds.testing.mock_data
  split: [
    {"de": f"der hund sieht {w} {i}", "en": f"the dog sees {w} {i}"}
    for i in range(n)
    for w in ("baum", "haus", "katze")
  ]
  for split, n in (("train", 40), ("validation", 4), ("test", 4))
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp("tfds"))


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_quick_config_trains_one_step(name, data_dir, request):
  config = load_config(name, "quick")
  config.data.data_dir = (  # CMUdict's splits: the session's (test_data_cmudict prepares them)
    request.getfixturevalue("cmudict_data_dir") if name == "cmudict" else data_dir
  )
  with serve(WMT_PAIRS) if config.data.name.startswith("wmt") else contextlib.nullcontext():
    task = data.load_task(config.data)
  mesh = mesh_lib.make_mesh()
  fns = train_functions.make_train_functions(config, task.src_vocab.size, task.tgt_vocab.size, mesh)
  state = fns.init(jax.random.key(config.seed))
  batch = mesh_lib.to_global(
    next(task.train_batches(config.batch_size, seed=config.seed)), mesh_lib.data_sharding(mesh)
  )
  state, metrics = fns.train_step(state, batch, jax.random.key(1))
  loss = steps.normalize(jax.device_get(metrics))["loss"]
  assert int(state.step) == 1 and np.isfinite(loss) and loss > 0
