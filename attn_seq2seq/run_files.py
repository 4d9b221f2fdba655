"""The names of the files a run and a sweep write, defined once: the trainer writes them, and the
loaders, `evaluate`, the sweep launchers and the summaries read them.

    <run>/                                  a workdir (`python -m attn_seq2seq.main --workdir=`)
      config.json                           CONFIG_FILE: the config, fixed at creation
      src_vocab.json, tgt_vocab.json        SRC_VOCAB_FILE, TGT_VOCAB_FILE
      checkpoints/<step>/                   CHECKPOINTS_DIR
      metrics.jsonl                         METRICS_FILE: one line per logged step
      results.json                          RESULTS_FILE: its `step` marks a finished run
      outcomes/<key>.json                   OUTCOMES_DIR: per-example outcomes of an evaluated
                                            split (metrics/outcomes.py)
      plots/step_<step>/                    PLOTS_DIR: attention heatmaps of an evaluation
      tensorboard/                          TENSORBOARD_DIR: TensorBoard event files
      lock                                  LOCK_FILE: pid and host of the process writing the run
      log.txt                               LOG_FILE: stdout + stderr of every sweep launch
      members/seed_<k>/                     MEMBERS_DIR: the members of a stacked run
    <sweep root>/
      sweep.json                            SWEEP_FILE: the expanded runs, command and date
      launches.jsonl                        LAUNCHES_FILE: one line per launch and invocation
"""

CONFIG_FILE = "config.json"
SRC_VOCAB_FILE = "src_vocab.json"
TGT_VOCAB_FILE = "tgt_vocab.json"
CHECKPOINTS_DIR = "checkpoints"
METRICS_FILE = "metrics.jsonl"
RESULTS_FILE = "results.json"
OUTCOMES_DIR = "outcomes"
PLOTS_DIR = "plots"
TENSORBOARD_DIR = "tensorboard"
LOCK_FILE = "lock"
LOG_FILE = "log.txt"
MEMBERS_DIR = "members"
SWEEP_FILE = "sweep.json"
LAUNCHES_FILE = "launches.jsonl"
