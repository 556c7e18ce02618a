//go:build !purego

package kern

import "golang.org/x/sys/cpu"

// haveAVX selects the vector float32/float64 sum (add_amd64.s).
var haveAVX = cpu.X86.HasAVX

//go:noescape
func addF32AVX(out, a, b *float32, n int)

//go:noescape
func addF64AVX(out, a, b *float64, n int)
