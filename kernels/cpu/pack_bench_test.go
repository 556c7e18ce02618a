package cpu

import (
	"fmt"
	"testing"
)

// BenchmarkPack measures packing a 1024×384 block into micro-panels (ns/element).
func BenchmarkPack(b *testing.B) {
	const rows, kb = 1024, 384
	for _, w := range []int{12, 16, 32} {
		x := make([]float32, rows*kb)
		dst := make([]float32, (rows+w)*kb)
		for _, mode := range []string{"unitrow", "unitcol"} {
			rs, cs := 1, rows // unitrow: rows contiguous (copy path)
			if mode == "unitcol" {
				rs, cs = kb, 1
			}
			b.Run(fmt.Sprintf("w=%d/%s", w, mode), func(b *testing.B) {
				for b.Loop() {
					for r := 0; r < rows; r += w {
						packPanel(dst[r*kb:r*kb+w*kb], x, rs, cs, r, min(w, rows-r), 0, kb, w)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(rows*kb), "ns/elem")
			})
		}
	}
}
