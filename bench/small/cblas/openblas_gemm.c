/* The OpenBLAS anchor of bench/small: times cblas_sgemm (row-major, no
 * transposes, C = A*B) called from C, so no interpreter's per-call cost is in
 * the figure. It serves requests on stdin, one per line, "n threads reps
 * iters", and answers each with one line: the least over reps of the time
 * per call (ns) of iters back-to-back calls on n×n matrices (the statistic
 * bench/small uses on its own side). Built and run by
 * bench/small (cc -O2 ... -l:libopenblas.so.0; libopenblas0-pthread provides
 * the library; the two prototypes below stand in for cblas.h, so
 * libopenblas-dev is not needed). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void cblas_sgemm(int order, int transa, int transb, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc);
void openblas_set_num_threads(int n);

enum { RowMajor = 101, NoTrans = 111 };

static double now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp(const void *x, const void *y) {
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

int main(void) {
	int n, threads, reps, iters;
	while (scanf("%d %d %d %d", &n, &threads, &reps, &iters) == 4) {
		openblas_set_num_threads(threads);
		float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n), *c = malloc(sizeof(float) * n * n);
		double *t = malloc(sizeof(double) * reps);
		unsigned s = 12345;
		for (int i = 0; i < n * n; i++) {
			s = s * 1103515245u + 12345u;
			a[i] = (float)((s >> 8) & 0xffff) / 65536.0f - 0.5f;
			s = s * 1103515245u + 12345u;
			b[i] = (float)((s >> 8) & 0xffff) / 65536.0f - 0.5f;
			c[i] = 0;
		}
		for (int i = 0; i < iters; i++) /* warm-up */
			cblas_sgemm(RowMajor, NoTrans, NoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
		for (int r = 0; r < reps; r++) {
			double t0 = now_ns();
			for (int i = 0; i < iters; i++)
				cblas_sgemm(RowMajor, NoTrans, NoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
			t[r] = (now_ns() - t0) / iters;
		}
		qsort(t, reps, sizeof(double), cmp);
		printf("%.1f\n", t[0]);
		fflush(stdout);
		free(a);
		free(b);
		free(c);
		free(t);
	}
	return 0;
}
