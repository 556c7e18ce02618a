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
