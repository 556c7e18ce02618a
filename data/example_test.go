package data_test

import (
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
