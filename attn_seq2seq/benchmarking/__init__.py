"""Speed measurements behind scripts/benchmark.py: one timed training loop (timed_training.py)
shared by throughput (training, decoding, startup), stacked seeds against solo runs, and time to
accuracy."""
