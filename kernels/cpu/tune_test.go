package cpu

import (
	"fmt"
	"os"
	"testing"
	"time"
)

func TestTune(t *testing.T) {
	if os.Getenv("TUNE") == "" {
		t.Skip()
	}
	for _, n := range []int{1024, 2048} {
		a, b, c := make([]float64, n*n), make([]float64, n*n), make([]float64, n*n)
		for i := range a {
			a[i], b[i] = 1, 1
		}
		for _, kc := range []int{192, 256, 384, 512} {
			for _, mc := range []int{96, 192, 384} {
				spec64.kc, spec64.mc = kc, mc
				for _, th := range []int{1, 2} {
					SetMaxThreads(th)
					best := 0.0
					for r := 0; r < 3; r++ {
						t0 := time.Now()
						Dgemm(n, n, n, 1, a, n, 1, b, n, 1, 0, c, n, 1)
						g := 2 * float64(n*n*n) / time.Since(t0).Seconds() / 1e9
						best = max(best, g)
					}
					fmt.Printf("n=%d kc=%d mc=%d th=%d %.1f\n", n, kc, mc, th, best)
				}
			}
		}
	}
}
