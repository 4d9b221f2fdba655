"""The `model` section of an experiment config, with every field documented."""

import ml_collections


def get_model_config(**overrides) -> ml_collections.ConfigDict:
  """Defaults: a bidirectional GRU encoder and a Bahdanau decoder with additive attention."""
  config = ml_collections.ConfigDict()
  config.cell = "gru"  # recurrent cell of encoder and decoder: gru | lstm
  config.embed_size = 128  # source and target embedding size
  config.hidden_size = 256  # state size of the decoder and of each encoder direction
  config.num_layers = 1  # stacked encoder layers (each reads both directions of the one below)
  config.bidirectional = True  # encoder reads the source in both directions
  config.decoder = "bahdanau"  # bahdanau | luong | fixed_init (Sutskever) | fixed_context (Cho)
  config.scorer = "additive"  # dot | scaled_dot | general | additive | cosine | location
  config.attention_size = 256  # hidden size of the additive scorer's MLP
  config.input_feeding = True  # luong only: feed the attentional state into the next step
  config.max_src_len = 128  # location scorer only: source positions it can address
  config.dropout = 0.0  # on embeddings, between encoder layers, before the output layer
  config.update(overrides)
  return config
