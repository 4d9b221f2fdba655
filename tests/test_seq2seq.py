"""Whole-model invariants for every decoder x scorer pair, for GRU and LSTM.

Each pair runs with both cells; the encoder shape (uni/bidirectional x 1/2 layers) cycles over the
pairs so every combination is exercised with attention and with the fixed-vector decoders.
"""

import dataclasses
import itertools
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import (
  VOCAB,
  assert_every_parameter_has_a_gradient,
  assert_outputs_ignore_padding,
  assert_search_steps_reproduce_teacher_forcing,
  init_variables,
  random_ids,
)
from jax import monitoring

from attn_seq2seq import config_checks
from attn_seq2seq.models import (
  DECODERS,
  SCORERS,
  ModelConfig,
  abstract_params,
  build_model,
  count_params,
  get_model_config,
  matching_hidden_size,
  model_config,
)
from attn_seq2seq.models.model_config import OUTSIDE_SECTION

PAIRS = [(d, s) for d in ("bahdanau", "luong") for s in SCORERS] + [
  ("fixed_init", "additive"),
  ("fixed_context", "additive"),
]
ENCODERS = list(itertools.product((True, False), (1, 2)))  # (bidirectional, num_layers)
CASES = [
  (cell, d, s, *ENCODERS[(i + j) % 4])
  for i, (d, s) in enumerate(PAIRS)
  for j, cell in enumerate(("gru", "lstm"))
]

# Padding cases: every case above, then every scorer once more with `split_directions` (encoder
# states as wide as the decoder's query), the decoder, cell and layers alternating.
PADDING_CASES = [(*case, False) for case in CASES] + [
  (("gru", "lstm")[i % 2], ("bahdanau", "luong")[i // 2 % 2], s, True, 1 + i % 2, True)
  for i, s in enumerate(SCORERS)
]


def _config(cell, decoder, scorer, bidirectional, num_layers, **kw):
  return ModelConfig(
    cell=cell,
    decoder=decoder,
    scorer=scorer,
    bidirectional=bidirectional,
    num_layers=num_layers,
    embed_size=6,
    hidden_size=8,
    attention_size=7,
    max_src_len=12,
    input_feeding=(len(scorer) % 2 == 0),
    **kw,
  )


@pytest.mark.parametrize("cell,decoder,scorer,bidirectional,num_layers,split", PADDING_CASES)
def test_outputs_do_not_depend_on_padding_or_batch_neighbours(
  cell, decoder, scorer, bidirectional, num_layers, split
):
  config = _config(cell, decoder, scorer, bidirectional, num_layers, split_directions=split)
  model = build_model(config, VOCAB, VOCAB)
  batch_attn = assert_outputs_ignore_padding(model, init_variables(model), np.random.default_rng(0))
  if decoder in ("bahdanau", "luong"):
    np.testing.assert_allclose(batch_attn.sum(-1), 1.0, atol=1e-6)


@pytest.mark.parametrize(
  "cell,decoder,scorer,bidirectional,num_layers",
  [c for i, c in enumerate(CASES) if (i // 2) % 2 == i % 2],
)  # one per pair
def test_every_parameter_gets_a_gradient_from_real_tokens(
  cell, decoder, scorer, bidirectional, num_layers
):
  model = build_model(
    _config(cell, decoder, scorer, bidirectional, num_layers, dropout=0.1), VOCAB, VOCAB
  )
  params = init_variables(model)["params"]
  rng = np.random.default_rng(1)
  src, tgt_in, tgt_out = random_ids(rng, (3, 6)), random_ids(rng, (3, 5)), random_ids(rng, (3, 5))
  src_lengths, tgt_lengths = jnp.array([6, 4, 2]), jnp.array([5, 3, 2])
  tgt_mask = jnp.arange(5)[None, :] < tgt_lengths[:, None]

  def loss(params):
    logits, _ = model.apply(
      {"params": params}, src, src_lengths, tgt_in, train=True, rngs={"dropout": jax.random.key(2)}
    )
    nll = -jnp.take_along_axis(jax.nn.log_softmax(logits), tgt_out[..., None], -1)[..., 0]
    return jnp.sum(nll * tgt_mask) / tgt_mask.sum()

  assert_every_parameter_has_a_gradient(jax.jit(jax.grad(loss))(params))


def _scramble_positions(encoded, rng):
  """`encoded` with every per-position tensor (states, keys, projections) replaced by noise."""
  return {
    name: x
    if x is None or name in ("summary", "src_mask")
    else jnp.asarray(rng.normal(size=x.shape), x.dtype)
    for name, x in encoded.items()
  }


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("decoder", ["fixed_init", "fixed_context"])
def test_fixed_vector_decoders_see_only_the_summary(cell, decoder):
  rng = np.random.default_rng(2)
  src, src_lengths, tgt = random_ids(rng, (2, 6)), jnp.array([6, 3]), random_ids(rng, (2, 5))
  for kind, reacts in ((decoder, False), ("bahdanau", True)):  # the attention decoder as a control
    model = build_model(_config(cell, kind, "additive", True, 1), VOCAB, VOCAB)
    variables = init_variables(model)
    encoded = model.apply(variables, src, src_lengths, method=model.encode)
    scrambled = _scramble_positions(encoded, rng)
    logits = [model.apply(variables, e, tgt, method=model.decode)[0] for e in (scrambled, encoded)]
    change = np.abs(logits[0] - logits[1]).max()
    assert (change > 1e-3) if reacts else (change == 0.0), (kind, change)


@pytest.mark.parametrize(
  "decoder,scorer", [("bahdanau", "additive"), ("luong", "general"), ("fixed_context", "dot")]
)
def test_search_step_reproduces_teacher_forcing(decoder, scorer):
  """Step-by-step decoding through `decode_step` gives the teacher-forced logits and attention."""
  model = build_model(_config("lstm", decoder, scorer, True, 1), VOCAB, VOCAB)
  rng = np.random.default_rng(3)
  src, src_lengths, tgt = random_ids(rng, (2, 6)), jnp.array([6, 4]), random_ids(rng, (2, 5))
  assert_search_steps_reproduce_teacher_forcing(model, init_variables(model), src, src_lengths, tgt)


def test_a_jitted_batch_64_step_compiles_once():
  model = build_model(ModelConfig(hidden_size=16, embed_size=8, attention_size=16), VOCAB, VOCAB)
  params = init_variables(model)["params"]
  rng = np.random.default_rng(4)

  @jax.jit
  def sgd_step(params, src, src_lengths, tgt):
    loss = lambda p: model.apply({"params": p}, src, src_lengths, tgt)[0].mean()
    return jax.tree.map(lambda p, g: p - 0.1 * g, params, jax.grad(loss)(params))

  compiles = []
  monitoring.register_event_duration_secs_listener(
    lambda event, _, **kw: compiles.append(event)
    if event == "/jax/core/compile/backend_compile_duration"
    else None
  )
  for _ in range(3):
    batch = (
      random_ids(rng, (64, 12)),
      rng.integers(1, 13, 64).astype(np.int32),
      random_ids(rng, (64, 10)),
    )
    params = sgd_step(params, *batch)
  assert len(compiles) == 1
  assert sgd_step._cache_size() == 1


@pytest.mark.parametrize(
  "field,value,choices",
  [
    ("cell", "rnn", "gru, lstm"),
    ("decoder", "transformer", ", ".join(DECODERS)),
    ("scorer", "bilinear", ", ".join(SCORERS)),
    ("dtype", "float16", "float32, bfloat16"),
  ],
)
def test_unknown_names_raise_with_the_valid_choices(field, value, choices):
  message = f"unknown {field} '{value}'; valid choices: {choices}$"
  with pytest.raises(ValueError, match=message):
    ModelConfig.from_config({field: value})
  with pytest.raises(ValueError, match=message):
    ModelConfig(**{field: value})


def test_matching_hidden_size_equalises_parameter_counts():
  attention = ModelConfig(hidden_size=32, embed_size=16, attention_size=32)
  target = count_params(abstract_params(build_model(attention, VOCAB, VOCAB)))
  baseline = ModelConfig(decoder="fixed_init", embed_size=16)
  hidden = matching_hidden_size(baseline, target, VOCAB, VOCAB)
  count = lambda h: count_params(
    abstract_params(build_model(dataclasses.replace(baseline, hidden_size=h), VOCAB, VOCAB))
  )
  assert hidden > 32
  assert abs(count(hidden) - target) <= min(
    abs(count(hidden - 1) - target), abs(count(hidden + 1) - target)
  )


# -- the model config object --------------------------------------------------------------------


def _tree(params):
  """`{path: shape}` of a parameter pytree."""
  return {jax.tree_util.keystr(p): x.shape for p, x in jax.tree_util.tree_leaves_with_path(params)}


@pytest.mark.parametrize("decoder,scorer", list(itertools.product(DECODERS, SCORERS)))
def test_every_decoder_scorer_pair_builds_from_the_config_object(decoder, scorer):
  config = ModelConfig(
    decoder=decoder, scorer=scorer, embed_size=6, hidden_size=8, attention_size=7, max_src_len=12
  )
  model = build_model(config, VOCAB, VOCAB)
  assert model.config is config
  rng = np.random.default_rng(5)
  src, tgt = random_ids(rng, (2, 5)), random_ids(rng, (2, 4))
  variables = init_variables(model)
  logits, attn = model.apply(variables, src, jnp.array([5, 3]), tgt)
  assert logits.shape == (2, 4, VOCAB) and logits.dtype == jnp.float32
  assert attn.shape == (2, 4, 5)
  assert np.all(np.isfinite(logits))
  attends = decoder in ("bahdanau", "luong")
  np.testing.assert_allclose(attn.sum(-1), 1.0 if attends else 0.0, atol=1e-6)
  # Keys (16: two directions of 8) differ in size from queries (8): every scorer has weights.
  assert ("attention" in variables["params"]["decoder"]) == attends


@pytest.mark.parametrize("decoder", ["fixed_init", "fixed_context"])
def test_fixed_vector_decoders_ignore_the_scorer_options(decoder):
  """Whatever the scorer options (coverage, local attention and ablations included), a
  fixed-vector model has the same parameters and outputs."""
  rng = np.random.default_rng(6)
  src, tgt = random_ids(rng, (2, 5)), random_ids(rng, (2, 4))
  base = ModelConfig(decoder=decoder, embed_size=6, hidden_size=8)
  reference = build_model(base, VOCAB, VOCAB)
  variables = init_variables(reference)
  logits, _ = reference.apply(variables, src, jnp.array([5, 3]), tgt)
  attention_options = {  # what the attention decoders read on top of the scorer
    "coverage": "gru",
    "local_attention": "predictive",
    "local_window": 2,
    "attention_ablation": "shuffled",
  }
  for scorer, attention_size, max_src_len in ((s, 3, 4) for s in SCORERS):
    config = dataclasses.replace(
      base, scorer=scorer, attention_size=attention_size, max_src_len=max_src_len
    )
    if scorer == "additive":
      config = dataclasses.replace(config, **attention_options)
    model = build_model(config, VOCAB, VOCAB)
    assert _tree(init_variables(model)["params"]) == _tree(variables["params"]), scorer
    np.testing.assert_array_equal(model.apply(variables, src, jnp.array([5, 3]), tgt)[0], logits)


def test_every_model_option_is_declared_once_with_a_comment():
  source = Path(model_config.__file__).read_text()
  declared = re.findall(r"^  (\w+): [\w ]+ = [^#\n]+  # \S.*$", source, re.MULTILINE)
  assert declared == [f.name for f in dataclasses.fields(ModelConfig)]


def test_model_section_is_derived_from_the_config_object():
  section = get_model_config()
  fields = {f.name: f.default for f in dataclasses.fields(ModelConfig)}
  assert section.to_dict() == {k: v for k, v in fields.items() if k not in OUTSIDE_SECTION}
  assert ModelConfig.from_config(section) == ModelConfig()
  assert ModelConfig.from_config(get_model_config(hidden_size=12), dtype="bfloat16") == (
    ModelConfig(hidden_size=12, dtype="bfloat16")
  )
  assert build_model(ModelConfig(dtype="bfloat16"), VOCAB, VOCAB).config.jnp_dtype == jnp.bfloat16


def test_unknown_model_fields_are_one_line_errors_and_missing_ones_take_defaults():
  section = get_model_config()
  section.hiden_size = 12
  with pytest.raises(ValueError, match=r"^unknown model field 'hiden_size'; valid fields: cell, "):
    ModelConfig.from_config(section)
  with pytest.raises(ValueError, match=r"^unknown model field 'dtype'; valid fields: "):
    get_model_config(dtype="bfloat16")  # kept at the experiment config's top level
  # A run recorded before a field existed: the field takes its default.
  assert ModelConfig.from_config({"hidden_size": 12}) == ModelConfig(hidden_size=12)
  with pytest.raises(TypeError, match="takes a ModelConfig"):
    build_model(get_model_config(), VOCAB, VOCAB)


def test_config_checks_range_check_every_model_field():
  for field in dataclasses.fields(ModelConfig):
    path = f"model.{field.name}"
    if field.type is bool:
      assert path in config_checks.BOOL_FIELDS, path
    elif field.type in (int, float):
      assert path in config_checks.FIELD_RANGES, path
