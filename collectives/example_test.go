package collectives_test

import (
	"context"
	"fmt"
	"sync"

	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/collectives/local"
	"github.com/tessera-ml/tessera/tensor"
)

// Four ranks in one process average a gradient with AllReduce.
func Example() {
	var mu sync.Mutex
	results := make([][]float32, 4)
	err := local.Run(context.Background(), 4, func(ctx context.Context, c collectives.Comm) error {
		grad := tensor.FromSlice([]float32{float32(c.Rank()), 1, 2}, 3)
		if err := c.AllReduce(ctx, grad, collectives.Avg); err != nil {
			return err
		}
		mu.Lock()
		results[c.Rank()] = tensor.HostData(grad.Storage()).([]float32)
		mu.Unlock()
		return nil
	})
	fmt.Println(err, results[0], results[3])
	// Output: <nil> [1.5 1 2] [1.5 1 2]
}

// Split makes sub-communicators, here the rows of a 2×2 grid.
func ExampleComm_Split() {
	var mu sync.Mutex
	sums := make([]int64, 4)
	_ = local.Run(context.Background(), 4, func(ctx context.Context, c collectives.Comm) error {
		row, err := c.Split(ctx, c.Rank()/2, c.Rank())
		if err != nil {
			return err
		}
		defer row.Close()
		x := tensor.FromSlice([]int64{int64(c.Rank())}, 1)
		if err := row.AllReduce(ctx, x, collectives.Sum); err != nil {
			return err
		}
		mu.Lock()
		sums[c.Rank()] = tensor.HostData(x.Storage()).([]int64)[0]
		mu.Unlock()
		return nil
	})
	fmt.Println(sums)
	// Output: [1 1 5 5]
}
