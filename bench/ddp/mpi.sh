#!/usr/bin/env bash
# Tessera DDP under mpirun against PyTorch DDP (gloo), in the same run: the
# two alternate REPS times (one process per rank each) and the comparison
# keeps each one's best median step time.
#
#   bench/ddp/mpi.sh                       # NP=2, MLP 784-1024-1024-10, Adam, batch 64 per rank
#   NP=2 REPS=5 BATCH=128 bench/ddp/mpi.sh
#
# Extra arguments go to the Tessera bench (e.g. -buckets 1,25 -strategies all).
# MPI_ARGS adds mpirun options (e.g. "-H node1,node2" for two machines, with
# OUT on a folder every host sees).
set -euo pipefail
cd "$(dirname "$0")/../.."
NP=${NP:-2}
REPS=${REPS:-3}
BATCH=${BATCH:-64}
SIZES=${SIZES:-784-1024-1024-10}
STEPS=${STEPS:-20}
OUT=${OUT:-$(mktemp -d)}
MPIRUN=(mpirun --oversubscribe -np "$NP")
[ "$(id -u)" = 0 ] && MPIRUN=(mpirun --allow-run-as-root --oversubscribe -np "$NP")
# shellcheck disable=SC2206
MPIRUN+=(${MPI_ARGS:-})
go build -tags mpi -o "$OUT/bench" ./bench/ddp
: >"$OUT/go.json"
: >"$OUT/torch.json"
for i in $(seq "$REPS"); do
  "${MPIRUN[@]}" "$OUT/bench" -json -batch "$BATCH" -sizes "$SIZES" -steps "$STEPS" "$@" >>"$OUT/go.json"
  /usr/bin/python3 bench/ddp/ddp_torch.py --world "$NP" --batch "$BATCH" --sizes "$SIZES" --steps "$STEPS" >>"$OUT/torch.json"
done
echo "# mpirun -np $NP, batch $BATCH per rank, $REPS alternating repetitions; rows in $OUT"
cat "$OUT/go.json"
go run ./bench/ddp -compare "$OUT/go.json,$OUT/torch.json"
