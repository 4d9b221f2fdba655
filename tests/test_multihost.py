"""Multi-host settings: incomplete or bad ones are one-line errors before anything is created."""

import pytest
from helpers import QUICK, ROOT, assert_one_error_line, run_command

from attn_seq2seq import main


@pytest.mark.parametrize(
  ("settings", "env", "fragments"),
  [
    (
      {"coordinator_address": "127.0.0.1:1234"},
      {},
      ("incomplete", "--num_processes (or JAX_NUM_PROCESSES)", "--process_id (or JAX_PROCESS_ID)"),
    ),
    ({}, {"JAX_COORDINATOR_ADDRESS": "127.0.0.1:1234"}, ("incomplete", "--num_processes")),
    (
      {"num_processes": 2, "process_id": 0},
      {},
      ("missing --coordinator_address (or JAX_COORDINATOR_ADDRESS)", "--multihost"),
    ),
    (
      {"coordinator_address": "127.0.0.1:1234", "num_processes": 2, "process_id": 2},
      {},
      ("--process_id=2", "0 .. 1"),
    ),
    (
      {"coordinator_address": "localhost", "num_processes": 2, "process_id": 0},
      {},
      ("--coordinator_address='localhost'", "HOST:PORT"),
    ),
    (
      {"coordinator_address": "127.0.0.1:1234", "process_id": 0},
      {"JAX_NUM_PROCESSES": "two"},
      ("JAX_NUM_PROCESSES='two'", "integer"),
    ),
    ({"multihost": True}, {}, ("--multihost", "no cluster detected", "--coordinator_address")),
  ],
)
def test_incomplete_multihost_settings_are_one_line_errors(
  settings, env, fragments, tmp_path, monkeypatch, capsys
):
  for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
    monkeypatch.delenv(name, raising=False)
  for name, value in env.items():
    monkeypatch.setenv(name, value)
  monkeypatch.chdir(ROOT)
  workdir = tmp_path / "run"
  with pytest.raises(SystemExit) as exit_info:
    run_command(main, config=QUICK[0].split("=", 1)[1], workdir=workdir, **settings)
  assert_one_error_line(str(exit_info.value), *fragments)
  assert not workdir.exists()
