"""Using a trained run: loading it back from its workdir, translating text, scoring a split."""
