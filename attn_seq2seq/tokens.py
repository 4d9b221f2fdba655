"""The special tokens every vocabulary reserves, defined once in a leaf module: the data pipeline
writes them, the model and the searches read them, and neither needs the TFDS stack to know them."""

PAD_ID = 0  # padding: masked out of the loss, the attention and the metrics
BOS_ID = 1  # the decoder's first input
EOS_ID = 2  # ends every target; a search stops a hypothesis there
UNK_ID = 3  # a symbol outside the vocabulary
RESERVED_TOKENS = ("<pad>", "<s>", "</s>", "<unk>")  # their strings, indexed by the ids above
