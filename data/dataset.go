package data

import (
	"fmt"
	"math"
	"slices"
)

// Dataset is an in-memory set of samples with integer targets (class
// labels). Every sample has the same shape.
type Dataset interface {
	// Len returns the number of samples.
	Len() int
	// SampleShape returns the shape of one sample's features.
	SampleShape() []int
	// Sample copies the features of sample i into x, whose length must be
	// the product of SampleShape, and returns the sample's target.
	Sample(i int, x []float32) int64
}

// ArrayDataset is a Dataset held in two flat slices, like PyTorch's
// TensorDataset: X holds Len()*prod(Shape) features, sample-major and
// row-major within a sample; Y holds one target per sample.
type ArrayDataset struct {
	X     []float32
	Shape []int
	Y     []int64
}

// NewArrayDataset checks that x holds len(y) samples of sampleShape and
// returns the dataset. The slices are used, not copied.
func NewArrayDataset(x []float32, sampleShape []int, y []int64) (*ArrayDataset, error) {
	d := &ArrayDataset{X: x, Shape: slices.Clone(sampleShape), Y: y}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return d, nil
}

// Validate reports whether X holds exactly len(Y) samples of Shape (what
// NewArrayDataset checks); NewLoader calls it, so that a dataset built by
// hand with inconsistent slices is an error there, not a panic later.
func (d *ArrayDataset) Validate() error {
	size, err := shapeSize(d.Shape)
	if err != nil {
		return fmt.Errorf("data: sample shape %v: %w", d.Shape, err)
	}
	if len(d.X) != size*len(d.Y) {
		return fmt.Errorf("data: %d features do not hold %d samples of shape %v", len(d.X), len(d.Y), d.Shape)
	}
	return nil
}

// shapeSize returns the product of shape, or an error for a negative
// dimension or a product that overflows int.
func shapeSize(shape []int) (int, error) {
	n := 1
	for _, s := range shape {
		if s < 0 {
			return 0, fmt.Errorf("negative dimension %d", s)
		}
		if s != 0 && n > math.MaxInt/s {
			return 0, fmt.Errorf("%d elements overflow int", n)
		}
		n *= s
	}
	return n, nil
}

// Len returns the number of samples.
func (d *ArrayDataset) Len() int { return len(d.Y) }

// SampleShape returns the shape of one sample.
func (d *ArrayDataset) SampleShape() []int { return slices.Clone(d.Shape) }

// SampleSize returns the number of features of one sample.
func (d *ArrayDataset) SampleSize() int { return prod(d.Shape) }

// Sample copies sample i into x and returns its target. It panics if i is
// out of range or len(x) is not SampleSize().
func (d *ArrayDataset) Sample(i int, x []float32) int64 {
	n := d.SampleSize()
	if len(x) != n {
		panic(fmt.Sprintf("data: ArrayDataset.Sample: buffer of %d for a sample of %d features", len(x), n))
	}
	copy(x, d.X[i*n:(i+1)*n])
	return d.Y[i]
}

// Subset returns a new dataset holding copies of the samples at idx, in
// that order. It panics if an index is out of range.
func (d *ArrayDataset) Subset(idx []int) *ArrayDataset {
	n := d.SampleSize()
	out := &ArrayDataset{X: make([]float32, 0, len(idx)*n), Shape: slices.Clone(d.Shape), Y: make([]int64, 0, len(idx))}
	for _, i := range idx {
		out.X = append(out.X, d.X[i*n:(i+1)*n]...)
		out.Y = append(out.Y, d.Y[i])
	}
	return out
}

// WithShape returns a dataset sharing d's slices whose samples have the
// given shape, which must hold the same number of features; for example
// WithShape(1, 28, 28) adds a channel axis to MNIST images.
func (d *ArrayDataset) WithShape(shape ...int) (*ArrayDataset, error) {
	for _, s := range shape {
		if s < 0 {
			return nil, fmt.Errorf("data: WithShape: negative dimension in %v", shape)
		}
	}
	if prod(shape) != d.SampleSize() {
		return nil, fmt.Errorf("data: WithShape: shape %v does not hold the %d features of shape %v", shape, d.SampleSize(), d.Shape)
	}
	return &ArrayDataset{X: d.X, Shape: slices.Clone(shape), Y: d.Y}, nil
}

// ClassCounts returns how many samples have each target 0..max(Y).
// Negative targets are not counted.
func (d *ArrayDataset) ClassCounts() []int {
	var counts []int
	for _, y := range d.Y {
		if y < 0 {
			continue
		}
		for int64(len(counts)) <= y {
			counts = append(counts, 0)
		}
		counts[y]++
	}
	return counts
}

func prod(s []int) int {
	n := 1
	for _, v := range s {
		n *= v
	}
	return n
}
