//go:build !amd64 || purego

package cpu

// sgemmDirect has no kernels without amd64 assembly: it does nothing and
// returns 0 (see direct_amd64.go).
func sgemmDirect(m, n, k int, alpha float32, a []float32, rsA, csA int, b []float32, ldb int, beta float32, c []float32, ldc int) int {
	return 0
}

func directTileRows() int { return 0 }

func directColumns(n int) int { return 0 }
