//go:build !amd64 || purego

package kern

const haveAVX = false

func addF32AVX(out, a, b *float32, n int) { panic("kern: no vector add on this platform") }
func addF64AVX(out, a, b *float64, n int) { panic("kern: no vector add on this platform") }
