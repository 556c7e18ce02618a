package cudatensor

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every kernel name the dispatch tables can produce is defined by the
// embedded PTX, so a renamed or dropped .cu kernel fails here on any machine,
// not only at launch on a GPU.
func TestDispatchNamesAreInThePTX(t *testing.T) {
	names := allKernelNames()
	require.Greater(t, len(names), 50)
	for _, n := range names {
		assert.True(t, hasKernel(n), "dispatch produces %q, which no embedded PTX module defines", n)
	}
}
