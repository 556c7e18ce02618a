package cpu

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// packBTransposed gives the same packed panels as packPanel, bit for bit,
// for widths around its chunk and panel boundaries and for offsets into B.
func TestPackBTransposedMatchesPackPanel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	nr := spec32.nr
	for _, nb := range []int{8, 9, 13, 47, 48, 49, 50, 55, 56, 97, 130} {
		for _, kb := range []int{8, 11, 64, 100} {
			cs := kb + 3 // column j at b[base + j*cs:]
			base := 5
			b := make([]float32, base+nb*cs)
			for i := range b {
				b[i] = r.Float32()*2 - 1
			}
			panN := ceilDiv(nb, nr)
			want := make([]float32, panN*nr*kb)
			for jp := range panN {
				j0 := jp * nr
				packPanel(want[jp*nr*kb:(jp+1)*nr*kb], b[base:], cs, 1, j0, min(nr, nb-j0), 0, kb, nr)
			}
			got := make([]float32, len(want))
			for i := range got {
				got[i] = 99 // padding must be overwritten with zeros
			}
			tmp := make([]float32, packChunk*nr*kb)
			if !packBTransposed(got, tmp, b, base, cs, nb, kb, nr) {
				require.False(t, hasTransposeAsm, "nb=%d kb=%d: not packed although the transposes are available", nb, kb)
				continue
			}
			require.Equal(t, want, got, "nb=%d kb=%d", nb, kb)
		}
	}
}

// Row-major products whose B is 16 wide read the transposed A's full
// panels in place (no packing); they match a float64 reference, also with
// M not a multiple of the panel height and with beta != 0.
func TestSgemmInPlaceAPanels(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, mk := range [][2]int{{16, 16}, {33, 40}, {5, 9}, {64, 300}} {
		m, k, n := mk[0], mk[1], 16
		a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
		for _, x := range [][]float32{a, b, c} {
			for i := range x {
				x[i] = r.Float32()*2 - 1
			}
		}
		c0 := append([]float32(nil), c...)
		Sgemm(m, n, k, 1.5, a, k, 1, b, n, 1, 0.5, c, n, 1)
		for i := range m {
			for j := range n {
				want := 0.5 * float64(c0[i*n+j])
				for p := range k {
					want += 1.5 * float64(a[i*k+p]) * float64(b[p*n+j])
				}
				require.InDelta(t, want, float64(c[i*n+j]), 1e-4*(1+float64(k)/16), "m=%d k=%d C[%d,%d]", m, k, i, j)
			}
		}
	}
}
