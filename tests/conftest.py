"""Test-wide setup, before JAX is imported anywhere.

* 4 fake CPU devices, so data-parallel invariants ("4 devices equal 1 device") run on one machine.
* XLA's backend optimisation level 0: the suite is dominated by compiling many tiny models, and
  this cuts compile time by about 2.5x. Tests check invariants, never speed.
* Ctrl-C's default disposition for the subprocesses the tests interrupt, also when the tests
  run under `nohup` or `&` (which ignore SIGINT, and children inherit that).
* One OpenBLAS thread: NumPy's QR (orthogonal initialisers) otherwise contends with XLA's threads
  and the pytest-xdist workers, and sometimes takes seconds instead of milliseconds.
* The tests' processes and the runs they start as subprocesses (`attn_seq2seq.main`, sweeps,
  Ray tasks) share one throwaway compilation cache per session, never the user's
  ~/.cache/attn_seq2seq/jax.
* The fixtures the test modules share: trained runs, quick configs, the session's CMUdict
  splits (`cmudict_prepared`, `cmudict_data_dir`), `in_repo_root`, the bad-input tests'
  existing run (`run`, `unchanged`), `start_trainer` (the real trainer CLI in a subprocess, for
  the tests that kill it). Plain helpers are in helpers.py.
* The slowest files first (SLOWEST_FIRST), so that the two xdist workers end together.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ["XLA_FLAGS"] = (
  os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0"
).strip()

import signal

import jax

jax.config.update("jax_num_cpu_devices", 4)

# The subprocesses the tests send Ctrl-C (SIGINT) must start with its default disposition, as a
# terminal's foreground job does; a test run under `nohup` or a non-interactive shell's `&`
# ignores SIGINT, which its children would inherit (and the entry points rightly keep).
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
  signal.signal(signal.SIGINT, signal.default_int_handler)

import atexit  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

if "JAX_COMPILATION_CACHE_DIR" not in os.environ:  # xdist workers inherit the controller's
  os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="attn_seq2seq_jax_cache_")
  atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)


import contextlib  # noqa: E402
import fcntl  # noqa: E402
import io  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from helpers import ROOT, Trainer, digest, load_config  # noqa: E402

from attn_seq2seq import data  # noqa: E402
from attn_seq2seq.training import compilation_cache, train  # noqa: E402

# The tests' own processes use that cache too, with a run's threshold (0.1 s, not JAX's 1 s): the
# two xdist workers and the CLI runs the tests start compile many of the same tiny models (each
# worker's quick reverse run, every module that trains `dates:quick`), and a hit is the executable
# XLA compiled for the same program, so no test sees a difference.
compilation_cache.enable(os.environ["JAX_COMPILATION_CACHE_DIR"])


# The slowest files, slowest first (CPU seconds of each file on its own, and durations of the
# whole suite): under `-n 2 --dist loadfile` a worker takes the next whole file when it runs out,
# in collection order (with xdist's reordering off, below: its default, the files with the most
# tests first, started the one-test files such as the accelerator check last, and the other
# worker then sat idle until they ended). The CMUdict tests come after test_configs, whose
# cmudict case prepares the session's splits, so that the other worker rarely waits for them.
# The other files follow in their usual order.
SLOWEST_FIRST = (
  "test_workdir.py",
  "test_accelerator_check.py",
  "test_configs.py",
  "test_benchmark.py",
  "test_coverage.py",
  "test_ensembles.py",
  "test_sweeps.py",
  "test_learning_rate_grids.py",
  "test_steps.py",
  "test_multihost.py",
  "test_early_stopping.py",
  "test_stacked_steps.py",
  "test_stacked_seeds.py",
  "test_ray_node_loss.py",
  "test_ray_backend.py",
  "test_seq2seq.py",
  "test_g2p_reference.py",
  "test_bad_input_runs.py",
  "test_data_cmudict.py",
  "test_translate_outputs.py",
  "test_search.py",
  "test_train.py",
)


def pytest_configure(config: pytest.Config) -> None:
  """As `--no-loadscope-reorder`: xdist's scheduler hands out the files in collection order."""
  if hasattr(config.option, "loadscopereorder"):
    config.option.loadscopereorder = False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
  """The files of SLOWEST_FIRST first, in its order (a stable sort: tests keep their order)."""
  rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
  items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session")
def quick_reverse_run(tmp_path_factory, quick_reverse_config) -> Path:
  """The workdir of a trained `configs/reverse.py:short,quick` run (its 4 steps of a tiny model,
  checkpoints at steps 2 and 4), shared by the tests of the tools that read trained runs. Tests
  that change it copy it first."""
  config = quick_reverse_config(tmp_path_factory.mktemp("tfds"), steps=4)
  workdir = tmp_path_factory.mktemp("run")
  train.train_and_evaluate(config, workdir)
  return workdir


@pytest.fixture(scope="session")
def quick_reverse_config() -> Callable[..., object]:
  """`quick_reverse_config(data_dir, steps=3) -> config`: `configs/reverse.py:short,quick`
  trained for `steps` steps with no evaluation before the final one and no attention plots, its
  data in `data_dir`: the tiny run that checks that a model or data option trains end to end."""

  def make(data_dir: Path, steps: int = 3):
    config = load_config("reverse", "short,quick")
    config.data.data_dir = str(data_dir)
    config.num_train_steps, config.eval_every_steps, config.num_attention_plots = steps, 100, 0
    return config

  return make


@pytest.fixture(scope="session")
def cmudict_prepared(tmp_path_factory) -> tuple[str, str]:
  """(data directory, what its preparation printed): the CMUdict no_stress splits, prepared
  once per session (generating them is the costly part) and shared by the xdist workers. The
  first worker prepares them under a lock and records the builder's printout next to them; the
  others wait for the lock, reuse the files and read that record (test_data_cmudict checks it).
  (Not xdist's `worker_id` fixture: it is missing under `-p no:xdist`.)"""
  basetemp = tmp_path_factory.getbasetemp()
  shared = basetemp.parent if "PYTEST_XDIST_WORKER" in os.environ else basetemp
  directory, printout = shared / "cmudict_tfds", shared / "cmudict_tfds_printed.txt"
  with open(shared / "cmudict_tfds.lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if not printout.exists():
      printed = io.StringIO()
      with contextlib.redirect_stdout(printed):
        data.load_task(data.get_data_config(name="cmudict_g2p/no_stress", data_dir=str(directory)))
      printout.write_text(printed.getvalue())
  return str(directory), printout.read_text()


@pytest.fixture(scope="session")
def cmudict_data_dir(cmudict_prepared) -> str:
  """The session's CMUdict no_stress data directory (`cmudict_prepared`), for the tests that
  need the data, not its preparation."""
  return cmudict_prepared[0]


@pytest.fixture(scope="module")
def quick_dates_config(tmp_path_factory) -> Callable[..., object]:
  """`quick_dates_config(**overrides) -> config`: `configs/dates.py:quick` with these top-level
  overrides, its data in one directory per test module (generated by its first run)."""
  data_dir = str(tmp_path_factory.mktemp("tfds"))

  def make(**overrides):
    config = load_config("dates", "quick")
    config.data.data_dir = data_dir
    config.update(overrides)
    return config

  return make


@pytest.fixture
def quick_config(tmp_path, quick_reverse_config):
  """`quick_config(**model) -> config`: `quick_reverse_config` with these `model` fields."""

  def make(**model):
    config = quick_reverse_config(tmp_path / "tfds")
    config.model.update(model)
    return config

  return make


@pytest.fixture(scope="module")
def in_repo_root():
  """The module's tests run in the repository root, as the commands are run: sweep files and
  configs name their files relative to it."""
  with pytest.MonkeyPatch.context() as patch:
    patch.chdir(ROOT)
    yield


@pytest.fixture(scope="module")
def run(quick_reverse_run, tmp_path_factory) -> Path:
  """A copy of the trained quick run, per test module (the bad-input tests: every case of a
  module must leave it unchanged)."""
  copy = tmp_path_factory.mktemp("existing") / "run"
  shutil.copytree(quick_reverse_run, copy)
  return copy


@pytest.fixture
def unchanged(run):
  """`run`, asserting after the test that no file of it changed."""
  before = digest(run)
  yield run
  assert digest(run) == before


@pytest.fixture
def start_trainer(tmp_path) -> Callable[..., Trainer]:
  """`start_trainer(workdir, *flags, **overrides) -> Trainer`: starts the real trainer CLI on
  `workdir` with `flags` and `--config.<key>=<value>` for each override (a tuple joins with
  commas: `seeds=(0, 1, 2)` -> `--config.seeds=0,1,2`). Logs go to `tmp_path/trainer_<n>.log`;
  a trainer still running (or stopped) when the test ends is killed."""
  trainers = []

  def start(workdir: Path, *flags: str, **overrides) -> Trainer:
    flags = [
      *flags,
      *(
        f"--config.{key}=" + (",".join(map(str, value)) if isinstance(value, tuple) else str(value))
        for key, value in overrides.items()
      ),
    ]
    trainers.append(Trainer(Path(workdir), flags, tmp_path / f"trainer_{len(trainers)}.log"))
    return trainers[-1]

  yield start
  for trainer in trainers:
    if trainer.process.poll() is None:
      trainer.process.kill()
      trainer.process.wait()
