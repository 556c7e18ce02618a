#!/usr/bin/env bash
# Runs the make targets given as arguments in order, stops at the first that
# fails, and prints how long each took (as it ends, and as a table at the end).
#   scripts/steps.sh setup lint test-unit
set -uo pipefail
make=${MAKE:-make}
names=()
times=()
summary() {
  local total=0
  echo "---- step times ----"
  for i in "${!names[@]}"; do
    printf '%-14s %6ss\n' "${names[$i]}" "${times[$i]}"
    total=$((total + times[i]))
  done
  printf '%-14s %6ss\n' total "$total"
}
for step in "$@"; do
  echo "==> make $step"
  t0=$SECONDS
  "$make" --no-print-directory "$step"
  rc=$?
  names+=("$step")
  times+=($((SECONDS - t0)))
  if [ $rc -ne 0 ]; then
    echo "<== make $step FAILED (exit $rc) after ${times[-1]}s"
    summary
    exit $rc
  fi
  echo "<== make $step: ${times[-1]}s"
done
summary
