package collectives

import (
	"context"
	"testing"

	"github.com/tessera-ml/tessera/tensor"
)

// BenchmarkCallOverhead is the cost of the Comm layer itself (ordering,
// staging, dispatch) for one small all-reduce, measured on the one-rank
// backend whose all-reduce does nothing. Backends that call MPI or NCCL
// pay it on top of the library's own latency.
func BenchmarkCallOverhead(b *testing.B) {
	c := New(newSelf())
	ctx := context.Background()
	x := tensor.Full(1, tensor.Float32, 2)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.AllReduce(ctx, x, Sum); err != nil {
			b.Fatal(err)
		}
	}
}
