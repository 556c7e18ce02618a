#!/usr/bin/env bash
# The set-up `make test` runs first: checks that the Debian packages the tests
# need are present, installs the missing ones when it can (root and apt-get),
# and otherwise prints exactly what to install and fails.
#
#   make gcc g++            cgo, the race detector, the CUDA host checks
#   openmpi-bin             mpirun for the MPI backend's suite (make test-mpi)
#   libopenmpi-dev          mpi.h for the cgo MPI backend (-tags mpi)
#   python3-numpy           independent readers of safetensors/checkpoint/.npy files
#   python3-torch           cross-checks of ops, losses and optimizers against PyTorch
#   python3-optuna          cross-checks of the hyperparameter samplers against Optuna
#   libopenblas0-pthread    the BLAS python3-torch runs on
#   postgresql              initdb/pg_ctl for the PostgreSQL study storage tests
#                           (the tests start their own server from
#                           /usr/lib/postgresql/*/bin)
#
# Each package is checked by what the tests use from it, so a machine that has
# it some other way (a different distribution, a hand build) passes too.
# TESSERA_SETUP=check only checks and never installs.
set -uo pipefail

has_dpkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
py() { /usr/bin/python3 -c "$1" >/dev/null 2>&1; }

# present PACKAGE: whether what the tests need from PACKAGE is on this machine.
present() {
  case "$1" in
  make | gcc | g++) command -v "$1" >/dev/null ;;
  openmpi-bin) command -v mpirun >/dev/null ;;
  libopenmpi-dev)
    has_dpkg libopenmpi-dev || {
      inc=$(mpicc --showme:incdir 2>/dev/null) && [ -f "${inc%% *}/mpi.h" ]
    }
    ;;
  python3-numpy) py 'import numpy' ;;
  python3-torch) py 'import torch' ;;
  python3-optuna) py 'import optuna' ;;
  libopenblas0-pthread) has_dpkg libopenblas0-pthread || ldconfig -p 2>/dev/null | grep -q 'libopenblas.*\.so' ;;
  postgresql) compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null ;;
  *)
    echo "setup.sh: no check for $1" >&2
    return 1
    ;;
  esac
}

PACKAGES=(make gcc g++ openmpi-bin libopenmpi-dev python3-numpy python3-torch python3-optuna libopenblas0-pthread postgresql)

missing() {
  local m=()
  for p in "${PACKAGES[@]}"; do present "$p" || m+=("$p"); done
  echo "${m[@]}"
}

need=$(missing)
if [ -z "$need" ]; then
  echo "setup: all test dependencies present (${PACKAGES[*]})"
  exit 0
fi
echo "setup: missing: $need"

if [ "${TESSERA_SETUP:-}" != check ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086 # one word per package
  if apt-get update -qq && apt-get install -y -qq $need; then
    need=$(missing)
    if [ -z "$need" ]; then
      echo "setup: installed; all test dependencies present"
      exit 0
    fi
    echo "setup: still missing after apt-get install: $need" >&2
  else
    echo "setup: apt-get failed" >&2
  fi
fi

cat >&2 <<EOF
setup: the tests need these Debian packages, which this machine lacks:
  $need
Install them (as root) and run make test again:
  apt-get update && apt-get install -y $need
EOF
exit 1
