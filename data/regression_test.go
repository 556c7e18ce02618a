package data

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/tensor"
)

func TestRegressionLoader(t *testing.T) {
	tab, err := ReadCSV(strings.NewReader("x1,y,x2\n1,10.5,2\n3,30.5,4\n5,50.5,6\n"), CSVOptions{Header: true, NoLabel: true})
	require.NoError(t, err)
	d, err := tab.Regression(1)
	require.NoError(t, err)
	assert.Equal(t, 3, d.Len())
	assert.Equal(t, []float32{1, 2, 3, 4, 5, 6}, d.X)
	assert.Equal(t, []float32{10.5, 30.5, 50.5}, d.T)
	assert.Equal(t, []int{1}, d.TargetShape())

	l, err := NewLoader(d, LoaderOptions{BatchSize: 2})
	require.NoError(t, err)
	it := l.Epoch(context.Background(), 0)
	defer it.Close()
	b, ok := it.Next()
	require.True(t, ok)
	assert.Nil(t, b.Y)
	assert.Equal(t, tensor.Shape{2, 1}, b.T.Shape())
	assert.Equal(t, []float32{10.5, 30.5}, tensor.ToSlice[float32](b.T))
	assert.Equal(t, []float32{1, 2, 3, 4}, tensor.ToSlice[float32](b.X))

	_, err = tab.Regression()
	assert.Error(t, err)
	_, err = tab.Regression(3)
	assert.Error(t, err)
	_, err = tab.Regression(0, 0)
	assert.Error(t, err)

	r, err := NewRegressionDataset([]float32{1, 2, 3, 4}, []int{2}, []float32{7, 8}, nil)
	require.NoError(t, err)
	assert.Equal(t, 2, r.Len())
	y := make([]float32, 1)
	r.Target(1, y)
	assert.Equal(t, float32(8), y[0])
	_, err = NewRegressionDataset([]float32{1, 2, 3}, []int{2}, []float32{7, 8}, nil)
	assert.Error(t, err)
	_, err = NewRegressionDataset(nil, []int{2}, nil, []int{0})
	assert.Error(t, err)
}
