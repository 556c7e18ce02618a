/* Plain C MPI_Allreduce benchmark: the reference that Tessera's MPI backend
 * is compared with (bench/collectives/mpi.sh). It times exactly what
 * bench/collectives does for the "allreduce" op: per size, w warm-up calls,
 * one timed call whose time rank 0 broadcasts to pick the iteration count
 * (min(n, maxtime/one)), a barrier, n calls, a barrier, and the per-call time
 * maximised over ranks. It prints one JSON row per size on rank 0, in the
 * same form as `go run ./bench/collectives -json`.
 *
 *   mpicc -O2 -o allreduce allreduce.c
 *   mpirun -np 4 ./allreduce [-b 8] [-e 64M] [-f 2] [-n 20] [-w 3] [-maxtime 1]
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long parse_size(const char *s) {
	char *end;
	long v = strtol(s, &end, 10);
	switch (*end) {
	case 'K': v <<= 10; break;
	case 'M': v <<= 20; break;
	case 'G': v <<= 30; break;
	}
	return v;
}

int main(int argc, char **argv) {
	long minb = 8, maxb = 64L << 20;
	int factor = 2, iters = 20, warmup = 3;
	double maxtime = 1.0;
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		if (!strcmp(k, "-b")) minb = parse_size(v);
		else if (!strcmp(k, "-e")) maxb = parse_size(v);
		else if (!strcmp(k, "-f")) factor = atoi(v);
		else if (!strcmp(k, "-n")) iters = atoi(v);
		else if (!strcmp(k, "-w")) warmup = atoi(v);
		else if (!strcmp(k, "-maxtime")) maxtime = atof(v);
		else { fprintf(stderr, "unknown flag %s\n", k); return 2; }
	}
	if (factor < 2) factor = 2;
	MPI_Init(&argc, &argv);
	int rank, size;
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	float *buf = malloc(maxb > 0 ? maxb : 1);
	for (long b = minb; b <= maxb; b *= factor) {
		int count = (int)(b / 4);
		if (count == 0) continue;
		for (int i = 0; i < count; i++) buf[i] = 1;
		for (int i = 0; i < warmup; i++)
			MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
		double t0 = MPI_Wtime();
		MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
		double one = MPI_Wtime() - t0;
		MPI_Bcast(&one, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
		int n = iters;
		if (one > 0) {
			double cap = maxtime / one;
			if (cap < n) n = (int)cap;
			if (n < 1) n = 1;
		}
		MPI_Barrier(MPI_COMM_WORLD);
		t0 = MPI_Wtime();
		for (int i = 0; i < n; i++)
			MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
		MPI_Barrier(MPI_COMM_WORLD);
		double el = (MPI_Wtime() - t0) / n, mx;
		MPI_Allreduce(&el, &mx, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
		if (rank == 0) {
			double algbw = (double)b / mx / 1e9;
			printf("{\"backend\":\"c-mpi\",\"op\":\"allreduce\",\"ranks\":%d,\"size\":%ld,\"count\":%d,"
			       "\"type\":\"float32\",\"redop\":\"sum\",\"iters\":%d,\"time_us\":%.3f,"
			       "\"algbw_gbs\":%.6f,\"busbw_gbs\":%.6f}\n",
			       size, b, count, n, mx * 1e6, algbw, algbw * 2.0 * (size - 1) / size);
			fflush(stdout);
		}
	}
	free(buf);
	MPI_Finalize();
	return 0;
}
