//go:build !amd64 || purego

package tensor

// addF32 adds s into d (len(s) >= len(d)).
func addF32(d, s []float32) { addToGo(d, s) }
