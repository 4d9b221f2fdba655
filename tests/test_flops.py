"""models/flops.py counts exactly the matmuls the model runs: checked against an independent count,
the `dot_general`s of the jaxpr of `model.apply` (teacher forcing), on unpadded batches (every
sentence the same length, so the padded shapes are the real lengths), for every decoder x scorer x
cell, uni- and bidirectional, one and two layers, and for every other model option away from its
default (`OPTION_ARMS`)."""

import dataclasses
import time

import jax
import jax.extend.core as jax_core
import jax.numpy as jnp
import numpy as np
import pytest

from attn_seq2seq.errors import ConfigError
from attn_seq2seq.models import (
  ATTENTION_ABLATIONS,
  ATTENTION_DECODERS,
  CELLS,
  DECODERS,
  SCORERS,
  ModelConfig,
  build_model,
  flops,
)
from attn_seq2seq.models.coverage import COVERAGES
from attn_seq2seq.models.local_attention import LOCAL_ATTENTIONS

# Distinct sizes, so that a term counted with the wrong dimension cannot match by accident.
EMBED, HIDDEN, ATTENTION, MAX_SRC_LEN, SRC_VOCAB, TGT_VOCAB = 5, 7, 3, 9, 11, 13
BATCH, SRC_LEN, TGT_LEN = 2, 4, 6


def jaxpr_matmul_flops(jaxpr) -> int:
  """2 x M x N x K of every `dot_general` (2 x output elements x contracted size), a scan body's
  count multiplied by its length, recursing into every sub-jaxpr (jit, remat, custom rules)."""
  total = 0
  for eqn in jaxpr.eqns:
    assert eqn.primitive.name not in ("while", "cond"), "a trip count the walk cannot know"
    if eqn.primitive.name == "dot_general":
      (lhs_contract, _), _ = eqn.params["dimension_numbers"]
      contracted = np.prod([eqn.invars[0].aval.shape[d] for d in lhs_contract], dtype=np.int64)
      total += 2 * int(np.prod(eqn.outvars[0].aval.shape, dtype=np.int64)) * int(contracted)
    repeats = eqn.params["length"] if eqn.primitive.name == "scan" else 1
    for value in eqn.params.values():
      for sub in value if isinstance(value, list | tuple) else [value]:
        if isinstance(sub, jax_core.ClosedJaxpr):
          total += repeats * jaxpr_matmul_flops(sub.jaxpr)
        elif isinstance(sub, jax_core.Jaxpr):
          total += repeats * jaxpr_matmul_flops(sub)
  return total


def model_config(decoder, scorer, cell, bidirectional=True, num_layers=1, **kwargs):
  kwargs.setdefault("hidden_size", HIDDEN)
  return ModelConfig(
    cell=cell,
    embed_size=EMBED,
    num_layers=num_layers,
    bidirectional=bidirectional,
    decoder=decoder,
    scorer=scorer,
    attention_size=ATTENTION,
    max_src_len=MAX_SRC_LEN,
    **kwargs,
  )


def traced_forward_flops(config: ModelConfig) -> int:
  model = build_model(config, SRC_VOCAB, TGT_VOCAB)
  src_ids = jnp.ones((BATCH, SRC_LEN), jnp.int32)
  src_lengths = jnp.full((BATCH,), SRC_LEN, jnp.int32)  # unpadded: every row full
  tgt_in = jnp.ones((BATCH, TGT_LEN), jnp.int32)
  params = jax.eval_shape(model.init, jax.random.key(0), src_ids, src_lengths, tgt_in)
  closed = jax.make_jaxpr(lambda p: model.apply(p, src_ids, src_lengths, tgt_in))(params)
  return jaxpr_matmul_flops(closed.jaxpr)


def counted_forward_flops(config: ModelConfig) -> float:
  src_lengths, tgt_lengths = np.full(BATCH, SRC_LEN), np.full(BATCH, TGT_LEN)
  return flops.forward_flops(config, src_lengths, tgt_lengths, SRC_VOCAB, TGT_VOCAB)


# Every decoder with every scorer (luong with and without input feeding); the fixed-vector
# decoders read no scorer, so one each. The encoder's shape cycles through uni- and bidirectional
# (keys of h, or of 2h: a key map for the dot family) and one and two layers.
_DECODER_SCORERS = [
  *[("bahdanau", s, True) for s in SCORERS],
  *[("luong", s, feeding) for s in SCORERS for feeding in (True, False)],
  ("fixed_init", "additive", True),
  ("fixed_context", "additive", True),
]
_ENCODERS = [(True, 1), (False, 1), (True, 2), (False, 2)]  # (bidirectional, num_layers)
ARMS = [(*arm, *_ENCODERS[i % 4]) for i, arm in enumerate(_DECODER_SCORERS)]


def _arm_id(arm) -> str:
  decoder, scorer, feeding, bidirectional, layers = arm
  feed = "" if decoder != "luong" else ("-feed" if feeding else "-nofeed")
  return f"{decoder}-{scorer}{feed}-{'bi' if bidirectional else 'uni'}{layers}"


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("arm", ARMS, ids=_arm_id)
def test_count_equals_the_matmuls_of_the_traced_forward_pass(arm, cell):
  decoder, scorer, input_feeding, bidirectional, num_layers = arm
  config = model_config(
    decoder,
    scorer,
    cell,
    bidirectional=bidirectional,
    num_layers=num_layers,
    input_feeding=input_feeding,
  )
  assert counted_forward_flops(config) == traced_forward_flops(config)


# The other options, each away from its default in several arms. split_directions needs an even
# hidden size: 16, so 8 units a direction (a size no other dimension of the test has).
SPLIT = {"split_directions": True, "hidden_size": 16}
UNI2 = {"bidirectional": False, "num_layers": 2}
OPTION_ARMS = [  # (id, decoder, scorer, options)
  ("bahdanau-dot-split", "bahdanau", "dot", SPLIT),
  ("bahdanau-cosine-split-layers2", "bahdanau", "cosine", {**SPLIT, "num_layers": 2}),
  ("bahdanau-location-split", "bahdanau", "location", SPLIT),
  ("luong-scaled_dot-split-nofeed", "luong", "scaled_dot", {**SPLIT, "input_feeding": False}),
  ("luong-general-split-layers2", "luong", "general", {**SPLIT, "num_layers": 2}),
  ("luong-additive-split", "luong", "additive", SPLIT),
  ("fixed_init-split", "fixed_init", "additive", SPLIT),
  ("fixed_context-split-layers2", "fixed_context", "additive", {**SPLIT, "num_layers": 2}),
  ("fixed_init-uni2-declayers2", "fixed_init", "additive", {**UNI2, "decoder_layers": 2}),
  ("fixed_context-declayers3", "fixed_context", "additive", {"decoder_layers": 3}),
  ("bahdanau-additive-declayers2", "bahdanau", "additive", {"decoder_layers": 2}),
  ("bahdanau-dot-split-declayers3", "bahdanau", "dot", {**SPLIT, "decoder_layers": 3}),
  ("luong-dot-declayers2", "luong", "dot", {"decoder_layers": 2}),
  (
    "luong-general-uni2-declayers3-nofeed",
    "luong",
    "general",
    {**UNI2, "decoder_layers": 3, "input_feeding": False},
  ),
  ("bahdanau-additive-bfloat16", "bahdanau", "additive", {"dtype": "bfloat16"}),
  ("luong-general-dropout", "luong", "general", {"dropout": 0.3}),
  ("bahdanau-coverage_sum", "bahdanau", "additive", {"coverage": "sum"}),
  ("luong-coverage_gru", "luong", "additive", {"coverage": "gru"}),
  ("luong-coverage_sum-uni2-nofeed", "luong", "additive", {**UNI2, "coverage": "sum"}),
  (
    "bahdanau-coverage_gru-split-declayers2-loss",
    "bahdanau",
    "additive",
    {**SPLIT, "decoder_layers": 2, "coverage": "gru", "coverage_loss_weight": 0.5},
  ),
  ("luong-dot-coverage_loss", "luong", "dot", {"coverage_loss_weight": 1.0}),
  ("fixed_init-coverage_gru", "fixed_init", "additive", {"coverage": "gru"}),
  ("bahdanau-general-local_m", "bahdanau", "general", {"local_attention": "monotonic"}),
  (
    "luong-dot-local_m-window2",
    "luong",
    "dot",
    {"local_attention": "monotonic", "local_window": 2},
  ),
  ("bahdanau-additive-local_p", "bahdanau", "additive", {"local_attention": "predictive"}),
  (
    "luong-location-local_p-window1",
    "luong",
    "location",
    {"local_attention": "predictive", "local_window": 1},
  ),
  (
    "luong-cosine-local_p-split-declayers2",
    "luong",
    "cosine",
    {**SPLIT, "decoder_layers": 2, "local_attention": "predictive", "local_window": 1},
  ),
  ("fixed_context-local_p", "fixed_context", "dot", {"local_attention": "predictive"}),
  ("bahdanau-additive-uniform", "bahdanau", "additive", {"attention_ablation": "uniform"}),
  (
    "luong-dot-uniform-local_p",
    "luong",
    "dot",
    {"attention_ablation": "uniform", "local_attention": "predictive"},
  ),
  ("bahdanau-general-shuffled", "bahdanau", "general", {"attention_ablation": "shuffled"}),
  (
    "luong-shuffled-coverage_gru",
    "luong",
    "additive",
    {"attention_ablation": "shuffled", "coverage": "gru"},
  ),
  (
    "bahdanau-location-zero_context",
    "bahdanau",
    "location",
    {"attention_ablation": "zero_context"},
  ),
  (
    "luong-scaled_dot-zero_context-nofeed",
    "luong",
    "scaled_dot",
    {"attention_ablation": "zero_context", "input_feeding": False},
  ),
  ("fixed_init-uniform", "fixed_init", "dot", {"attention_ablation": "uniform"}),
  *[
    (
      f"{decoder}-everything",
      decoder,
      "additive",
      {
        **SPLIT,
        "num_layers": 2,
        "decoder_layers": 2,
        "coverage": "gru",
        "local_attention": "predictive",
        "local_window": 2,
        "attention_ablation": "zero_context",
      },
    )
    for decoder in ATTENTION_DECODERS
  ],
]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("arm", OPTION_ARMS, ids=[arm[0] for arm in OPTION_ARMS])
def test_count_equals_the_matmuls_of_the_traced_forward_pass_for_every_option(arm, cell):
  _, decoder, scorer, options = arm
  config = model_config(decoder, scorer, cell, **options)
  assert counted_forward_flops(config) == traced_forward_flops(config)


def test_every_counted_field_is_traced_away_from_its_default():
  configs = [model_config(d, s, "lstm", b, n, input_feeding=f) for d, s, f, b, n in ARMS]
  configs += [model_config(d, s, "lstm", **options) for _, d, s, options in OPTION_ARMS]
  defaults = ModelConfig()
  for field in flops.COUNTED_FIELDS:
    assert any(getattr(c, field) != getattr(defaults, field) for c in configs), field
  attention = [c for c in configs if c.decoder in ATTENTION_DECODERS]
  split = [c for c in attention if c.split_directions]
  assert {c.scorer for c in split} == set(SCORERS)  # dot family without a key map, each scorer
  assert {c.decoder for c in configs if c.decoder_layers > 1} == set(DECODERS)
  for field, choices in [
    ("coverage", COVERAGES),
    ("local_attention", LOCAL_ATTENTIONS),
    ("attention_ablation", ATTENTION_ABLATIONS),
  ]:  # every value, under both attention decoders
    for decoder in ATTENTION_DECODERS:
      assert {getattr(c, field) for c in attention if c.decoder == decoder} == set(choices)


def test_the_arms_cover_every_decoder_scorer_cell_and_encoder_shape_of_the_models():
  assert set(flops.COUNTED_DECODERS) == set(DECODERS) == {arm[0] for arm in ARMS}
  assert set(flops.COUNTED_SCORERS) == set(SCORERS)
  assert set(flops.GATES) == set(CELLS)
  assert set(flops.COUNTED_COVERAGES) == set(COVERAGES)
  assert set(flops.COUNTED_LOCAL_ATTENTIONS) == set(LOCAL_ATTENTIONS)
  assert set(flops.COUNTED_ATTENTION_ABLATIONS) == set(ATTENTION_ABLATIONS)
  for scorer in SCORERS:  # each attention scorer under both encoder directions
    assert {arm[3] for arm in ARMS if arm[1] == scorer and arm[0] == "luong"} == {True, False}
  assert {arm[3:] for arm in ARMS} == set(_ENCODERS)


def test_training_is_three_forward_passes_and_beams_multiply_the_decoder_only():
  config = model_config("bahdanau", "additive", "gru")
  src, tgt = np.array([3, 5, 8]), np.array([4, 6, 9])
  forward = flops.forward_flops(config, src, tgt, SRC_VOCAB, TGT_VOCAB)
  assert flops.train_flops(config, src, tgt, SRC_VOCAB, TGT_VOCAB) == 3 * forward
  macs = flops.forward_macs(config, SRC_VOCAB, TGT_VOCAB)
  encoder_side = macs.per_sentence * 3 + macs.per_src_token * src.sum()
  beam5 = flops.forward_flops(config, src, tgt, SRC_VOCAB, TGT_VOCAB, beams=5)
  assert beam5 - 2 * encoder_side == 5 * (forward - 2 * encoder_side)


def test_a_batch_counts_as_the_sum_of_its_sentences():
  config = model_config("luong", "general", "lstm")
  src, tgt = np.array([3, 5, 8]), np.array([4, 6, 9])
  one_by_one = sum(
    flops.train_flops(config, src[i : i + 1], tgt[i : i + 1], SRC_VOCAB, TGT_VOCAB)
    for i in range(3)
  )
  assert flops.train_flops(config, src, tgt, SRC_VOCAB, TGT_VOCAB) == one_by_one
  assert flops.train_flops(config, src[:0], tgt[:0], SRC_VOCAB, TGT_VOCAB) == 0


def test_train_flops_takes_microseconds_per_batch():
  config = model_config("bahdanau", "additive", "gru")
  src, tgt = np.random.default_rng(0).integers(1, 30, (2, 64))
  flops.train_flops(config, src, tgt, SRC_VOCAB, TGT_VOCAB)  # the config's count, cached
  start = time.perf_counter()
  for _ in range(1000):
    flops.train_flops(config, src, tgt, SRC_VOCAB, TGT_VOCAB)
  assert (time.perf_counter() - start) / 1000 < 1e-4  # typically ~10 us; generous for CI


@dataclasses.dataclass(frozen=True)
class WithFutureOption(ModelConfig):
  """A model option the FLOP model does not know (as the next new mechanism would add)."""

  future_option: bool = False


def test_an_option_the_count_does_not_know_is_refused_at_its_non_default_value():
  base = model_config("bahdanau", "additive", "gru")
  fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(ModelConfig)}
  flops.check_flop_model(WithFutureOption(**fields))  # at its default: today's model, counted
  with pytest.raises(ConfigError, match=r"^no FLOP model for model\.future_option=True; "):
    flops.check_flop_model(WithFutureOption(**fields, future_option=True))


def test_a_decoder_the_count_does_not_know_is_refused():
  config = model_config("bahdanau", "additive", "gru")
  object.__setattr__(config, "decoder", "deep_bahdanau")  # as a new decoder would arrive
  with pytest.raises(ConfigError, match=r"^no FLOP model for model\.decoder='deep_bahdanau'; "):
    flops.forward_macs(config, SRC_VOCAB, TGT_VOCAB)


@pytest.mark.parametrize(
  "field, value",
  [("coverage", "fertility"), ("local_attention", "sparse"), ("attention_ablation", "reversed")],
)
def test_an_attention_option_value_the_count_does_not_know_is_refused(field, value):
  config = model_config("luong", "additive", "gru")
  object.__setattr__(config, field, value)  # as a new choice would arrive
  with pytest.raises(ConfigError, match=rf"^no FLOP model for model\.{field}='{value}'; "):
    flops.check_flop_model(config)
