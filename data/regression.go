package data

import (
	"fmt"
	"slices"
)

// Regression is a Dataset whose targets are float32 arrays rather than
// class labels. A Loader over a Regression fills Batch.T with the targets
// (and leaves Batch.Y nil).
type Regression interface {
	Dataset
	// TargetShape returns the shape of one sample's target ([] for a scalar).
	TargetShape() []int
	// Target copies the target of sample i into y, whose length must be the
	// product of TargetShape.
	Target(i int, y []float32)
}

// RegressionDataset is a Regression held in flat slices: X holds the
// features of Len() samples of shape Shape, T their targets of shape
// TShape, both sample-major.
type RegressionDataset struct {
	X      []float32
	Shape  []int
	T      []float32
	TShape []int
}

// NewRegressionDataset checks that x and t hold the same number of samples
// and returns the dataset. The slices are used, not copied.
func NewRegressionDataset(x []float32, sampleShape []int, t []float32, targetShape []int) (*RegressionDataset, error) {
	d := &RegressionDataset{X: x, Shape: slices.Clone(sampleShape), T: t, TShape: slices.Clone(targetShape)}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return d, nil
}

// Validate reports whether X and T hold the same number of samples of
// Shape and TShape (what NewRegressionDataset checks); NewLoader calls it.
func (d *RegressionDataset) Validate() error {
	xs, err := shapeSize(d.Shape)
	if err != nil {
		return fmt.Errorf("data: sample shape %v: %w", d.Shape, err)
	}
	ts, err := shapeSize(d.TShape)
	if err != nil {
		return fmt.Errorf("data: target shape %v: %w", d.TShape, err)
	}
	if ts == 0 {
		return fmt.Errorf("data: empty target shape %v", d.TShape)
	}
	if len(d.T)%ts != 0 || len(d.X) != len(d.T)/ts*xs {
		return fmt.Errorf("data: %d features of shape %v and %d targets of shape %v do not hold the same number of samples",
			len(d.X), d.Shape, len(d.T), d.TShape)
	}
	return nil
}

// Len returns the number of samples.
func (d *RegressionDataset) Len() int { return len(d.T) / prod(d.TShape) }

// SampleShape returns the shape of one sample.
func (d *RegressionDataset) SampleShape() []int { return slices.Clone(d.Shape) }

// TargetShape returns the shape of one target.
func (d *RegressionDataset) TargetShape() []int { return slices.Clone(d.TShape) }

// Sample copies sample i's features into x and returns 0 (there is no
// class label). It panics if i is out of range or x has the wrong length.
func (d *RegressionDataset) Sample(i int, x []float32) int64 {
	n := prod(d.Shape)
	if len(x) != n {
		panic(fmt.Sprintf("data: RegressionDataset.Sample: buffer of %d for a sample of %d features", len(x), n))
	}
	copy(x, d.X[i*n:(i+1)*n])
	return 0
}

// Target copies sample i's target into y.
func (d *RegressionDataset) Target(i int, y []float32) {
	n := prod(d.TShape)
	if len(y) != n {
		panic(fmt.Sprintf("data: RegressionDataset.Target: buffer of %d for a target of %d values", len(y), n))
	}
	copy(y, d.T[i*n:(i+1)*n])
}

// Regression splits a table read with NoLabel into features and float32
// targets: the given columns (0-based, in that order) become the target
// vector of each row, the others its features.
func (t *Table) Regression(targetColumns ...int) (*RegressionDataset, error) {
	if len(targetColumns) == 0 {
		return nil, fmt.Errorf("data: Table.Regression: no target columns")
	}
	isTarget := make([]bool, t.Cols)
	for _, c := range targetColumns {
		if c < 0 || c >= t.Cols {
			return nil, fmt.Errorf("data: Table.Regression: column %d out of range for %d columns", c, t.Cols)
		}
		if isTarget[c] {
			return nil, fmt.Errorf("data: Table.Regression: column %d given twice", c)
		}
		isTarget[c] = true
	}
	nf := t.Cols - len(targetColumns)
	d := &RegressionDataset{
		X: make([]float32, 0, t.Rows*nf), Shape: []int{nf},
		T: make([]float32, 0, t.Rows*len(targetColumns)), TShape: []int{len(targetColumns)},
	}
	for r := 0; r < t.Rows; r++ {
		row := t.X[r*t.Cols : (r+1)*t.Cols]
		for c, v := range row {
			if !isTarget[c] {
				d.X = append(d.X, v)
			}
		}
		for _, c := range targetColumns {
			d.T = append(d.T, row[c])
		}
	}
	return d, nil
}
