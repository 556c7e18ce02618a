//go:build amd64 && !purego

package tensor

import "testing"

// The 8-wide exp on a machine that would use the 16-wide one.
func TestSIMDExpAVX2Only(t *testing.T) {
	if !hasAVX512 {
		t.Skip("AVX-512 path not in use; the AVX2 path is what the other tests run")
	}
	hasAVX512 = false
	defer func() { hasAVX512 = true }()
	TestSIMDExpTanh(t)
	TestSoftmaxFloat32Reference(t)
}
