#!/usr/bin/env bash
# bench/scaling on both backends: the in-process (local) worlds of 1, 2 and 4
# ranks, then mpirun -np 2 and -np 4 of the MPI build, alternating REPS
# times; all rows to OUT/rows.json (one JSON line per configuration and
# repetition) and the local calibration to OUT/cal.json.
#
#   bench/scaling/mpi.sh                 # REPS=2, OUT=a temporary folder
#   REPS=15 OUT=docs/modules/img/fundamentals bench/scaling/mpi.sh -steps 24
#
# Extra arguments go to every run of the bench. MPI_ARGS adds mpirun options;
# by default waiting ranks yield their core (--mca mpi_yield_when_idle 1):
# on a machine with fewer free cores than ranks, a rank spinning in a
# collective otherwise takes the core its slower peer needs to finish backward.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPS=${REPS:-2}
OUT=${OUT:-$(mktemp -d)}
MPIRUN=(mpirun --oversubscribe)
[ "$(id -u)" = 0 ] && MPIRUN=(mpirun --allow-run-as-root --oversubscribe)
# shellcheck disable=SC2206
MPIRUN+=(${MPI_ARGS:---mca mpi_yield_when_idle 1})
mkdir -p "$OUT"
go build -o "$OUT/bench-local" ./bench/scaling
go build -tags mpi -o "$OUT/bench-mpi" ./bench/scaling
: >"$OUT/rows.json"
for i in $(seq "$REPS"); do
  "$OUT/bench-local" -json -reps 1 -calib-out "$OUT/cal.json" "$@" >>"$OUT/rows.json"
  for np in 2 4; do
    "${MPIRUN[@]}" -np "$np" "$OUT/bench-mpi" -json -reps 1 -calib-out "$OUT/cal-mpi-$np.json" "$@" >>"$OUT/rows.json"
  done
done
rm -f "$OUT/bench-local" "$OUT/bench-mpi"
echo "rows: $OUT/rows.json; calibration: $OUT/cal.json (local), $OUT/cal-mpi-{2,4}.json"
