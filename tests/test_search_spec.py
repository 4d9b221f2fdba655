"""SearchSpec: every option checked on construction, one line naming it; the specs and model
configs of an experiment config; the libraries behind translate and evaluate define no flags."""

import pytest
from helpers import run_python

from attn_seq2seq.errors import ConfigError
from attn_seq2seq.experiment_config import base_config
from attn_seq2seq.models import ModelConfig
from attn_seq2seq.search import SearchSpec


@pytest.mark.parametrize(
  "fields, message",
  [
    ({"beam_size": 0}, "beam_size=0 is out of range; allowed: an integer >= 1"),
    ({"beam_size": 2.5}, "beam_size=2.5 is out of range"),
    ({"beam_size": 3, "n_best": 4}, "n_best=4 is out of range; allowed: an integer from 1 to "),
    ({"n_best": 0}, "n_best=0 is out of range"),
    ({"alpha": float("nan")}, "alpha=nan is out of range; allowed: a number from 0 to 10"),
    ({"alpha": 1e308}, "alpha=1e+308 is out of range; allowed: a number from 0 to 10"),
    ({"alpha": -0.5}, "alpha=-0.5 is out of range"),
    ({"coverage_penalty": -0.1}, "coverage_penalty=-0.1 is out of range; allowed: a finite"),
    ({"min_len_a": float("nan")}, "min_len_a=nan is out of range"),
    ({"max_len_a": float("inf")}, "max_len_a=inf is out of range"),
    ({"max_len_b": -1.0}, "max_len_b=-1.0 is out of range"),
    ({"max_steps": 0}, "max_steps=0 is out of range; allowed: None or an integer >= 1"),
  ],
)
def test_bad_search_option_is_a_one_line_config_error(fields, message):
  with pytest.raises(ConfigError) as error:
    SearchSpec(**fields)
  assert str(error.value).startswith(message) and "\n" not in str(error.value)
  assert isinstance(error.value, ValueError)  # what a library caller expects


def test_beam_size_alone_chooses_the_algorithm():
  assert SearchSpec().algorithm == "greedy"
  assert SearchSpec(beam_size=1, alpha=0.6).algorithm == "greedy"
  assert SearchSpec(beam_size=2).algorithm == "beam"


def test_specs_of_an_experiment_take_its_length_limit_and_options_win():
  config = base_config("algorithmic/reverse_short")
  config.decode_max_len_a, config.decode_max_len_b = 3.0, 4.0
  assert SearchSpec.of_experiment(config) == SearchSpec(max_len_a=3.0, max_len_b=4.0)
  assert SearchSpec.of_experiment(config, beam_size=5, max_len_b=1.0) == SearchSpec(
    beam_size=5, max_len_a=3.0, max_len_b=1.0
  )


def test_model_config_of_an_experiment_reads_its_model_section_and_dtype():
  config = base_config("algorithmic/reverse_short")
  config.model.hidden_size, config.dtype = 24, "bfloat16"
  model = ModelConfig.of_experiment(config)
  assert model == ModelConfig.from_config(config.model, dtype=config.dtype)
  assert model.hidden_size == 24 and model.dtype == "bfloat16"


def test_importing_the_inference_libraries_defines_no_flags():
  """Only the entry points (python -m attn_seq2seq.translate / .evaluate) define flags."""
  code = (
    "from absl import flags\n"
    "import attn_seq2seq.inference.translate, attn_seq2seq.inference.evaluate\n"
    "import attn_seq2seq.inference.run_flags, attn_seq2seq.training.evaluator\n"
    "own = [n for n in flags.FLAGS if n in ('workdir', 'beam_size', 'input', 'split')]\n"
    "assert not own, own\n"
    "import attn_seq2seq.translate, attn_seq2seq.evaluate\n"
    "assert all(n in flags.FLAGS for n in ('workdir', 'beam_size', 'input', 'split'))\n"
  )
  result = run_python("-c", code)
  assert result.returncode == 0, result.stderr[-2000:]
