#!/usr/bin/env bash
# Benchmarks the MPI backend under mpirun and compares its all-reduce with a
# plain C program calling MPI_Allreduce, in the same run: the two programs
# alternate REPS times and the comparison takes each one's best time per size.
#
#   bench/collectives/mpi.sh                  # 4 ranks, 8 B .. 64 MiB
#   NP=2 REPS=5 bench/collectives/mpi.sh -e 16M
#
# Extra arguments go to both programs (-b, -e, -f, -n, -w, -maxtime).
# TESSERA_MPI_CHECK=0 in the environment turns off the backend's argument check.
# MPI_ARGS adds mpirun options, e.g. MPI_ARGS="-H node1,node2" NP=2 for two
# machines (the binaries are built into OUT, which must then be a folder
# every host sees at the same path).
set -euo pipefail
cd "$(dirname "$0")/../.."
NP=${NP:-4}
REPS=${REPS:-3}
OUT=${OUT:-$(mktemp -d)}
MPIRUN=(mpirun --oversubscribe -np "$NP")
[ "$(id -u)" = 0 ] && MPIRUN=(mpirun --allow-run-as-root --oversubscribe -np "$NP")
# shellcheck disable=SC2206
MPIRUN+=(${MPI_ARGS:-})
go build -tags mpi -o "$OUT/bench" ./bench/collectives
mpicc -O2 -o "$OUT/allreduce" bench/collectives/cmpi/allreduce.c
: >"$OUT/go.json"
: >"$OUT/c.json"
for i in $(seq "$REPS"); do
  "${MPIRUN[@]}" "$OUT/bench" -backend mpi -ops allreduce -json "$@" >>"$OUT/go.json"
  "${MPIRUN[@]}" "$OUT/allreduce" "$@" >>"$OUT/c.json"
done
echo "# mpirun -np $NP, $REPS alternating repetitions, TESSERA_MPI_CHECK=${TESSERA_MPI_CHECK:-1}; rows in $OUT"
"${MPIRUN[@]}" "$OUT/bench" -backend mpi -ops allreduce,allgather,reducescatter,broadcast,reduce,alltoall "$@" | tee "$OUT/table.txt"
echo
go run ./bench/collectives -compare "$OUT/go.json,$OUT/c.json"
