#!/usr/bin/env bash
# Compare Tessera's CPU kernels with OpenBLAS (through Debian's numpy) and gonum
# on this machine, anchor and Tessera in the same run.
#
#   bench/compare/compare.sh [mode] [options]
#
# mode: gemm (default) or ops (elementwise/reductions vs PyTorch). For training
# steps use `go run ./bench/train -torch`.
# options are passed to compare.py, e.g. --sizes 1024,2048 --threads 1,2 --reps 5
# --rounds 3 --markdown. Run from anywhere; needs root (or the packages already
# installed) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/../.."

pkgs=(python3-numpy python3-torch libopenblas0-pthread)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "compare.sh: missing ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "compare.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}"
fi

# OpenBLAS must pick its own kernel and cache sizes for this CPU.
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS OMP_NUM_THREADS GOTO_NUM_THREADS

# The system python (Debian's numpy), not a pyenv one on PATH.
exec /usr/bin/python3 bench/compare/compare.py "$@"
