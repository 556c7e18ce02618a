package data_test

import (
	"context"
	"fmt"

	"github.com/tessera-ml/tessera/data"
)

func ExampleDigits() {
	d := data.Digits()
	fmt.Println(d.Len(), d.SampleShape(), d.ClassCounts())

	train, test := data.DigitsSplit()
	fmt.Println(train.Len(), test.Len())

	x := make([]float32, 64)
	y := test.Sample(0, x)
	fmt.Println("first test label:", y)
	// Output:
	// 1797 [8 8] [178 182 177 183 181 182 181 179 174 180]
	// 1437 360
	// first test label: 0
}

func ExampleLoader() {
	train, _ := data.DigitsSplit()
	loader, err := data.NewLoader(train, data.LoaderOptions{
		BatchSize: 32, Shuffle: true, Seed: 1, DropLast: true, Prefetch: 2,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for epoch := 0; epoch < 2; epoch++ {
		it := loader.Epoch(context.Background(), epoch)
		n := 0
		for b, ok := it.Next(); ok; b, ok = it.Next() {
			if n == 0 {
				fmt.Println("epoch", epoch, "X", b.X.Shape(), b.X.DType(), "Y", b.Y.Shape(), b.Y.DType())
			}
			n++
		}
		it.Close()
		if err := it.Err(); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("batches:", n)
	}
	// Output:
	// epoch 0 X [32 8 8] float32 Y [32] int64
	// batches: 44
	// epoch 1 X [32 8 8] float32 Y [32] int64
	// batches: 44
}

func ExampleLoader_sharded() {
	d := data.Digits()
	for rank := 0; rank < 4; rank++ {
		l, _ := data.NewLoader(d, data.LoaderOptions{BatchSize: 100, Shuffle: true, Rank: rank, WorldSize: 4})
		fmt.Println("rank", rank, "samples", l.NumSamples(), "batches", l.NumBatches())
	}
	// Output:
	// rank 0 samples 450 batches 5
	// rank 1 samples 450 batches 5
	// rank 2 samples 450 batches 5
	// rank 3 samples 450 batches 5
}
