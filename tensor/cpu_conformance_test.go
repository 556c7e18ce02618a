package tensor_test

import (
	"testing"

	"github.com/tessera-ml/tessera/tensor"
	"github.com/tessera-ml/tessera/tensor/devicetest"
)

// TestCPUConformance runs the device conformance suite on the CPU device.
func TestCPUConformance(t *testing.T) { devicetest.Run(t, tensor.CPU) }
