package cudatensor

import (
	"testing"

	"github.com/tessera-ml/tessera/tensor/devicetest"
)

// TestConformanceEmulated runs the whole conformance suite on the device
// with its kernels compiled for the host (see emu_test.go).
func TestConformanceEmulated(t *testing.T) {
	if testing.Short() {
		t.Skip("emulated conformance suite: not in -short")
	}
	dev := emuDevice(t)
	before := Fallbacks()
	devicetest.Run(t, dev)
	t.Logf("host fallbacks during the suite: %d", Fallbacks()-before)
}
