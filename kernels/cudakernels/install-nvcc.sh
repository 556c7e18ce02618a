#!/usr/bin/env bash
# Installs the PTX generator used by gen.sh: nvcc 11.8 from Debian bookworm's
# non-free nvidia-cuda-toolkit (PTX ISA 7.8). Needs root and Debian 12.
# Only needed to regenerate kernels/cudakernels/ptx (make kernels); building and
# testing Tessera never needs it.
set -euo pipefail
if command -v nvcc >/dev/null 2>&1; then
  nvcc --version | tail -2
  exit 0
fi
. /etc/os-release
if [ "${VERSION_CODENAME:-}" != "bookworm" ]; then
  echo "install-nvcc.sh: expects Debian bookworm (found ${PRETTY_NAME:-unknown}); install an nvcc whose PTX ISA is <= 7.8 (CUDA 11.8) by other means" >&2
  exit 1
fi
cat > /etc/apt/sources.list.d/tessera-nonfree.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
apt-get update
# dpkg unpacks into $TMPDIR; keep it off a /tmp that may be cleaned meanwhile.
mkdir -p /var/tmp/apt-nvcc
TMPDIR=/var/tmp/apt-nvcc DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nvidia-cuda-toolkit
nvcc --version | tail -2
