"""attn_seq2seq: attention-based RNN encoder-decoders and fixed-vector baselines in JAX/Flax."""

__version__ = "0.1.0"
