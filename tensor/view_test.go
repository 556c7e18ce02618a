package tensor_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor"
)

// arange returns a float32 tensor 1, 2, ..., n (never zero) of the given shape.
func arange(shape ...int) *tensor.Tensor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i + 1)
	}
	return tensor.FromSlice(v, shape...)
}

func TestViewsAliasStorage(t *testing.T) {
	views := []struct {
		name string
		view func(b *tensor.Tensor) *tensor.Tensor
		// idx in the view, and the base index it maps to
		at, base []int
	}{
		{"Slice", func(b *tensor.Tensor) *tensor.Tensor { return b.Slice(1, 1, 4, 2) }, []int{2, 1, 3}, []int{2, 3, 3}},
		{"Slice negative", func(b *tensor.Tensor) *tensor.Tensor { return b.Slice(2, -3, -1, 1) }, []int{0, 0, 1}, []int{0, 0, 3}},
		{"Narrow", func(b *tensor.Tensor) *tensor.Tensor { return b.Narrow(0, 1, 2) }, []int{1, 2, 0}, []int{2, 2, 0}},
		{"Permute", func(b *tensor.Tensor) *tensor.Tensor { return b.Permute(2, 0, 1) }, []int{4, 1, 3}, []int{1, 3, 4}},
		{"Transpose", func(b *tensor.Tensor) *tensor.Tensor { return b.Transpose(0, 2) }, []int{1, 2, 0}, []int{0, 2, 1}},
		{"T", func(b *tensor.Tensor) *tensor.Tensor { return b.T() }, []int{1, 4, 2}, []int{1, 2, 4}},
		{"Select", func(b *tensor.Tensor) *tensor.Tensor { return b.Select(1, -1) }, []int{2, 3}, []int{2, 3, 3}},
		{"Reshape", func(b *tensor.Tensor) *tensor.Tensor { return b.Reshape(3, 20) }, []int{1, 7}, []int{1, 1, 2}},
		{"Reshape -1", func(b *tensor.Tensor) *tensor.Tensor { return b.Reshape(-1, 5) }, []int{5, 4}, []int{1, 1, 4}},
		{"ViewAs", func(b *tensor.Tensor) *tensor.Tensor { return b.ViewAs(60) }, []int{59}, []int{2, 3, 4}},
		{"Flatten", func(b *tensor.Tensor) *tensor.Tensor { return b.Flatten(0, 1) }, []int{7, 2}, []int{1, 3, 2}},
		{"Unsqueeze", func(b *tensor.Tensor) *tensor.Tensor { return b.Unsqueeze(1) }, []int{2, 0, 3, 4}, []int{2, 3, 4}},
		{"Squeeze", func(b *tensor.Tensor) *tensor.Tensor { return b.Unsqueeze(0).Squeeze() }, []int{1, 1, 1}, []int{1, 1, 1}},
		{"Slice of a transpose", func(b *tensor.Tensor) *tensor.Tensor { return b.T().Slice(0, 1, 5, 3) }, []int{0, 3, 2}, []int{1, 2, 3}},
	}
	for _, v := range views {
		t.Run(v.name, func(t *testing.T) {
			base := arange(3, 4, 5)
			view := v.view(base)
			require.True(t, view.SharesStorage(base))
			// reading through the view
			assert.Equal(t, base.At(v.base...), view.At(v.at...))
			// writing through the view is seen by the base, and the other way round
			view.Set(-7, v.at...)
			assert.Equal(t, -7.0, base.At(v.base...))
			base.Set(-9, v.base...)
			assert.Equal(t, -9.0, view.At(v.at...))
			// an op writing into the view (in place) lands in the base
			tensor.UnaryInto(tensor.OpAffine, view, view, 2, 1)
			assert.Equal(t, -17.0, base.At(v.base...))
		})
	}
	// Expand: every broadcast position reads the same base element.
	base := arange(3, 1)
	e := base.Expand(2, 3, 4)
	require.True(t, e.SharesStorage(base))
	assert.Equal(t, []int{0, 1, 0}, e.Strides())
	base.Set(-5, 1, 0)
	for i := range 2 {
		for j := range 4 {
			assert.Equal(t, -5.0, e.At(i, 1, j))
		}
	}
	e.Set(42, 1, 2, 3)
	assert.Equal(t, 42.0, base.At(2, 0))
}

func TestReshapeViewOrCopy(t *testing.T) {
	base := arange(4, 6)
	// contiguous: always a view
	for _, shape := range [][]int{{24}, {2, 12}, {4, 3, 2}, {1, 24, 1}, {2, 2, 2, 3}} {
		r := base.Reshape(shape...)
		assert.True(t, r.SharesStorage(base), "Reshape%v of a contiguous tensor must be a view", shape)
		assert.Equal(t, base.Float32s(), r.Float32s())
	}
	// a transpose can split and merge axes without a copy when strides allow
	tr := base.T() // [6 4], strides [1 6]
	r := tr.Reshape(2, 3, 4)
	assert.True(t, r.SharesStorage(base), "splitting the first axis of a transpose is a view")
	assert.Equal(t, []int{3, 1, 6}, r.Strides())
	// merging axes of a transpose needs a copy
	r = tr.Reshape(24)
	assert.False(t, r.SharesStorage(base), "flattening a transpose must copy")
	assert.Equal(t, tr.Contiguous().Float32s(), r.Float32s())
	assert.True(t, r.IsContiguous())
	// a sliced row-major tensor can still be viewed along whole rows
	s := base.Slice(0, 1, 3, 1) // rows 1, 2
	r = s.Reshape(2, 2, 3)
	assert.True(t, r.SharesStorage(base))
	assert.Equal(t, s.Float32s(), r.Float32s())
	// stepped columns cannot be merged
	s = base.Slice(1, 0, 6, 2) // [4 3], strides [6 2]: every other element, a view
	r = s.Reshape(12)
	assert.True(t, r.SharesStorage(base))
	assert.Equal(t, []int{2}, r.Strides())
	s = base.Slice(1, 0, 4, 2) // [4 2], strides [6 2]: gaps between rows
	r = s.Reshape(8)
	assert.False(t, r.SharesStorage(base))
	assert.Equal(t, s.Float32s(), r.Float32s())
	// an expanded tensor copies when flattened, and keeps its values
	ex := tensor.FromSlice([]float32{1, 2, 3}).Expand(2, 3)
	r = ex.Reshape(6)
	assert.Equal(t, []float32{1, 2, 3, 1, 2, 3}, r.Float32s())
	// ViewAs refuses what Reshape would copy, naming the op
	err := tensor.Try(func() { tr.ViewAs(24) })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Tensor.ViewAs")
	assert.Contains(t, err.Error(), "[6 4]")
	// 0-d tensors and size-1 shapes are views too
	sc := tensor.Scalar(3, tensor.Float32)
	for _, shape := range [][]int{{1}, {1, 1}, {}} {
		r := sc.Reshape(shape...)
		assert.True(t, r.SharesStorage(sc), "Reshape%v of a 0-d tensor must be a view", shape)
		assert.Equal(t, 3.0, r.Reshape().Item())
	}
	assert.Equal(t, []int{1}, []int(sc.Flatten(0, -1).Shape()))
	one := tensor.FromSlice([]float32{5}, 1, 1)
	assert.True(t, one.Reshape().SharesStorage(one))
	// zero-size
	z := tensor.Zeros(tensor.Float32, 0, 3)
	assert.Equal(t, []int{3, 0}, []int(z.Reshape(3, 0).Shape()))
	assert.Equal(t, []int{0, 5}, []int(z.Reshape(-1, 5).Shape()))
	// bad shapes panic with a message naming the op
	err = tensor.Try(func() { base.Reshape(5, 5) })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Tensor.Reshape")
	assert.Contains(t, err.Error(), "[4 6]")
	assert.Error(t, tensor.Try(func() { base.Reshape(-1, -1) }))
	assert.Error(t, tensor.Try(func() { z.Reshape(-1, 0) }))
}

func TestContiguous(t *testing.T) {
	base := arange(3, 4)
	assert.Same(t, base, base.Contiguous(), "Contiguous of a contiguous tensor returns it")
	row := base.Select(0, 1)
	assert.Same(t, row, row.Contiguous(), "a row of a row-major matrix is contiguous")
	// size-1 axes with any stride are still contiguous
	u := base.Unsqueeze(1)
	assert.True(t, u.IsContiguous())
	assert.Same(t, u, u.Contiguous())
	for name, v := range map[string]*tensor.Tensor{
		"transpose": base.T(),
		"column":    base.Select(1, 2),
		"stepped":   base.Slice(1, 0, 4, 2),
		"expanded":  base.Select(0, 0).Unsqueeze(0).Expand(5, 4),
	} {
		assert.False(t, v.IsContiguous(), name)
		c := v.Contiguous()
		assert.NotSame(t, v, c, name)
		assert.False(t, c.SharesStorage(base), "%s: Contiguous must copy", name)
		assert.True(t, c.IsContiguous(), name)
		assert.Equal(t, v.Float32s(), c.Float32s(), name)
		assert.Equal(t, v.Shape(), c.Shape())
		// the copy is independent
		c.Set(-1, make([]int, c.NDim())...)
		assert.NotEqual(t, -1.0, v.At(make([]int, v.NDim())...))
	}
	// Clone always copies
	c := base.Clone()
	assert.False(t, c.SharesStorage(base))
	assert.True(t, tensor.Equal(c, base))
}

func TestViewMisuse(t *testing.T) {
	x := arange(2, 3)
	cases := []struct {
		op string
		f  func()
	}{
		{"Tensor.Permute", func() { x.Permute(0) }},
		{"Tensor.Permute", func() { x.Permute(0, 0) }},
		{"Tensor.Transpose", func() { x.Transpose(0, 2) }},
		{"Tensor.T", func() { arange(3).T() }},
		{"Tensor.Slice", func() { x.Slice(0, 0, 1, 0) }},
		{"Tensor.Narrow", func() { x.Narrow(1, 2, 2) }},
		{"Tensor.Select", func() { x.Select(1, 3) }},
		{"Tensor.Expand", func() { x.Expand(4, 3) }},
		{"Tensor.Squeeze", func() { x.Squeeze(0) }},
		{"Tensor.Unsqueeze", func() { x.Unsqueeze(4) }},
		{"Tensor.Flatten", func() { x.Flatten(1, 0) }},
		{"Tensor.Dim", func() { x.Dim(2) }},
	}
	for _, c := range cases {
		err := tensor.Try(c.f)
		require.Error(t, err, c.op)
		assert.Contains(t, err.Error(), c.op+":")
	}
	// slices clamp like Python's
	assert.Equal(t, []int{2, 0}, []int(x.Slice(1, 5, 9, 1).Shape()))
	assert.Equal(t, []int{2, 3}, []int(x.Slice(1, -10, 10, 1).Shape()))
	assert.Equal(t, []int{2, 2}, []int(x.Slice(1, 0, 3, 2).Shape()))
	assert.Equal(t, []float32{1, 3, 4, 6}, x.Slice(1, 0, 3, 2).Float32s())
}
