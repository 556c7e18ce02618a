package data

import (
	"bytes"
	_ "embed"
	"fmt"
	"slices"
	"sync"
)

// digitsCSV is the UCI optical handwritten digits set (see digits/README.md).
//
//go:embed digits/digits.csv.gz
var digitsCSV []byte

// Digits dataset constants.
const (
	DigitsLen     = 1797 // samples
	DigitsClasses = 10
	DigitsTrain   = 1437 // samples in the DigitsSplit training set
	DigitsTest    = 360  // samples in the DigitsSplit test set
)

var digitsOnce = sync.OnceValues(func() (*ArrayDataset, error) {
	t, err := ReadCSV(bytes.NewReader(digitsCSV), CSVOptions{LabelColumn: -1})
	if err != nil {
		return nil, err
	}
	if t.Rows != DigitsLen || t.Cols != 64 {
		return nil, fmt.Errorf("data: embedded digits: %d rows of %d features, want %d of 64", t.Rows, t.Cols, DigitsLen)
	}
	for i := range t.X {
		t.X[i] /= 16
	}
	return &ArrayDataset{X: t.X, Shape: []int{8, 8}, Y: t.Y}, nil
})

// Digits returns the embedded UCI optical handwritten digits set: 1,797
// grey-scale 8x8 images of the digits 0-9 (sample shape [8, 8], pixel
// counts 0..16 scaled to [0, 1] by /16) and their int64 labels, in the
// file's order. Each call returns a fresh copy the caller may modify.
//
// The data ships inside the module, so it needs no network; it panics only
// if the embedded file is corrupt, which the package tests rule out.
func Digits() *ArrayDataset {
	d, err := digitsOnce()
	if err != nil {
		panic(err)
	}
	return &ArrayDataset{X: slices.Clone(d.X), Shape: slices.Clone(d.Shape), Y: slices.Clone(d.Y)}
}

// DigitsSplit returns a fixed train/test split of Digits: 1,437 training and
// 360 test samples, stratified by class, identical on every machine.
//
// The split: for each class c = 0..9 in turn, the indices of its samples
// (in file order) are shuffled with Permutation(seed = c), and the first
// t_c go to the test set, where t_c = floor(n_c*360/1797) plus one for the
// classes with the largest remainders (n_c*360 mod 1797, ties to the lower
// class) until the test set holds 360. Both sets keep file order.
func DigitsSplit() (train, test *ArrayDataset) {
	d := Digits()
	trainIdx, testIdx := stratifiedSplit(d.Y, DigitsClasses, DigitsTest)
	return d.Subset(trainIdx), d.Subset(testIdx)
}

// stratifiedSplit splits the indices of y (labels 0..classes-1) into a
// training set and a test set of nTest samples, proportionally per class.
func stratifiedSplit(y []int64, classes, nTest int) (train, test []int) {
	byClass := make([][]int, classes)
	for i, c := range y {
		byClass[c] = append(byClass[c], i)
	}
	n := len(y)
	quota := make([]int, classes)
	rem := make([]int, classes)
	total := 0
	for c, idx := range byClass {
		quota[c] = len(idx) * nTest / n
		rem[c] = len(idx) * nTest % n
		total += quota[c]
	}
	order := make([]int, classes)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return rem[b] - rem[a] })
	for i := 0; total < nTest; i++ {
		quota[order[i]]++
		total++
	}
	isTest := make([]bool, n)
	for c, idx := range byClass {
		p := slices.Clone(idx)
		shuffle(uint64(c), p)
		for _, i := range p[:quota[c]] {
			isTest[i] = true
		}
	}
	for i, t := range isTest {
		if t {
			test = append(test, i)
		} else {
			train = append(train, i)
		}
	}
	return train, test
}
