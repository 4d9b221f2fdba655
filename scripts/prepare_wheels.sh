#!/usr/bin/env bash
# Prepares, on a machine with the network, the wheel folder scripts/accelerator_check.sh installs
# from on an accelerator machine without it:
#
#     scripts/prepare_wheels.sh [DIR]        # DIR defaults to wheels/ (ignored by git)
#
# The target: Python 3.12 on Linux x86_64 that already has jax 0.11 with its CUDA plugin, flax,
# optax, orbax-checkpoint, absl-py, etils, tensorstore, sacrebleu, sentencepiece and matplotlib.
# DIR gets cp312 manylinux wheels of every other dependency of pyproject.toml and of their
# dependencies (pip resolves them for that target), without the packages the target already has
# (also resolved, from the list above, jax 0.11), plus setuptools (to build the project
# offline) and a wheel of `promise` (TFDS needs it; PyPI has only its source; pure Python).
# Left out on purpose: pyarrow (about 45 MB; TFDS imports it lazily, for formats this project
# never reads). The folder must stay under 64 MiB, to travel with the working tree: checked.
#
# Needs: the network (PyPI) and a Python >= 3.11 with pip (PYTHON, default .venv/bin/python).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${1:-$REPO/wheels}"
PY="${PYTHON:-$REPO/.venv/bin/python}"
MAX_MIB=64
PREINSTALLED=(jax 'jaxlib>=0.11,<0.12' flax optax orbax-checkpoint absl-py etils tensorstore
              sacrebleu sentencepiece matplotlib)
LEFT_OUT=(pyarrow)
TARGET=(--python-version 3.12 --implementation cp --abi cp312 --abi abi3 --abi none
        --only-binary=:all: --platform any --platform manylinux2014_x86_64)
for v in 5 17 24 27 28 31 34; do TARGET+=(--platform "manylinux_2_${v}_x86_64"); done

mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
pip_() { "$PY" -m pip --disable-pip-version-check "$@"; }

# The project's dependencies as pyproject.toml states them (one source of truth).
mapfile -t REQUIREMENTS < <("$PY" - "$REPO/pyproject.toml" <<'EOF'
import sys, tomllib
for requirement in tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]:
  print(requirement)
EOF
)

echo "building a wheel of promise (source only on PyPI)"
pip_ wheel --quiet --no-deps --wheel-dir "$WORK/local" "promise>=2.3,<3"

echo "resolving what the target already has"
pip_ install --quiet --dry-run --ignore-installed --target "$WORK/target" --report \
  "$WORK/present.json" "${TARGET[@]}" "jax>=0.11,<0.12" "${PREINSTALLED[@]}"

echo "downloading the rest into $DIR"
# pyproject pins jax<0.11; the target's jax 0.11 is kept by installing with --no-deps, so the
# jax requirement is left out of the resolution here.
DEPS=()
for r in "${REQUIREMENTS[@]}"; do [[ "$r" == jax* ]] || DEPS+=("$r"); done
pip_ download --quiet --dest "$WORK/all" --find-links "$WORK/local" "${TARGET[@]}" \
  "${DEPS[@]}" "setuptools>=68"

"$PY" - "$WORK/present.json" "$WORK/all" "$DIR" "${LEFT_OUT[@]}" <<'EOF'
import json, os, re, shutil, sys
present_json, downloaded, out, *left_out = sys.argv[1:]
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
present = {norm(i["metadata"]["name"]) for i in json.load(open(present_json))["install"]}
skip = present | {norm(n) for n in left_out}
for old in os.listdir(out):
  if old.endswith(".whl"):
    os.remove(os.path.join(out, old))
kept = []
for wheel in sorted(os.listdir(downloaded)):
  if norm(wheel.split("-")[0]) not in skip:
    shutil.copy(os.path.join(downloaded, wheel), out)
    kept.append(wheel)
with open(os.path.join(out, "MANIFEST.txt"), "w") as f:
  f.write("# scripts/prepare_wheels.sh: installed with --no-deps by scripts/accelerator_check.sh\n")
  f.write("# already on the target (not here): " + ", ".join(sorted(present)) + "\n")
  f.write("# left out on purpose: " + ", ".join(left_out) + "\n")
  f.writelines(w + "\n" for w in kept)
print(f"{len(kept)} wheels; left out {len(present)} already on the target and {left_out}")
EOF

SIZE_MIB=$(( $(du -sk "$DIR" | cut -f1) / 1024 ))
echo "$DIR: ${SIZE_MIB} MiB"
if (( SIZE_MIB >= MAX_MIB )); then
  echo "error: $DIR is ${SIZE_MIB} MiB; it must stay under ${MAX_MIB} MiB to travel" >&2
  exit 1
fi
