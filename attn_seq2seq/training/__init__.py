"""Training: the jitted steps, the loop around them, and everything a run writes while it trains
(checkpoints, metrics, the workdir record), on a data-parallel device mesh."""
