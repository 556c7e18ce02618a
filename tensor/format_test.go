package tensor_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tessera-ml/tessera/tensor"
)

// The expected strings are what NumPy's str() prints for the same arrays
// (numpy 1.x/2.x defaults: precision 8, threshold 1000, edgeitems 3), except
// that bools print as Go's true/false.
func TestStringLikeNumPy(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	cases := []struct {
		t    *tensor.Tensor
		want string
	}{
		{tensor.FromSlice([]float32{1, 2, 3}), "[1. 2. 3.]"},
		{tensor.FromSlice([]int64{1, 2, 3, 4}, 2, 2), "[[1 2]\n [3 4]]"},
		{tensor.FromSlice([]int32{-1, 10, 100}), "[ -1  10 100]"},
		{tensor.FromSlice([]float64{1.5, 2.25, -3}), "[ 1.5   2.25 -3.  ]"},
		{tensor.FromSlice([]float64{0.1, 0.2}), "[0.1 0.2]"},
		{tensor.FromSlice([]float64{1.0 / 3}, 1), "[0.33333333]"},
		{tensor.FromSlice([]float32{1.0 / 3}, 1), "[0.33333334]"},
		{tensor.FromSlice([]float32{0.1}, 1).Cast(tensor.Float16), "[0.1]"},
		{tensor.FromSlice([]float32{0.1, 3.14159}).Cast(tensor.BFloat16), "[0.1  3.14]"},
		{tensor.FromSlice([]float64{1e-5, 1}), "[1.e-05 1.e+00]"},
		{tensor.FromSlice([]float64{1.5e10, 2}), "[1.5e+10 2.0e+00]"},
		{tensor.FromSlice([]float64{123456789, 1}), "[1.23456789e+08 1.00000000e+00]"},
		{tensor.FromSlice([]float64{1e-5, -2.5e-7, 3}), "[ 1.0e-05 -2.5e-07  3.0e+00]"},
		{tensor.FromSlice([]float64{nan, 1.5, inf}), "[nan 1.5 inf]"},
		{tensor.FromSlice([]float64{-inf, 1.5}), "[-inf  1.5]"},
		{tensor.FromSlice([]float64{0, 0}), "[0. 0.]"},
		{tensor.Scalar(3.5, tensor.Float64), "3.5"},
		{tensor.Scalar(7, tensor.Int64), "7"},
		{tensor.FromSlice([]bool{true, false}), "[ true false]"},
		{tensor.Zeros(tensor.Float32, 0), "[]"},
		{tensor.Zeros(tensor.Float32, 2, 0), "[]"},
		{tensor.FromSlice([]int64{1, 2, 3, 4, 5, 6, 7, 8}, 2, 2, 2), "[[[1 2]\n  [3 4]]\n\n [[5 6]\n  [7 8]]]"},
		// a non-contiguous view prints its logical order
		{tensor.FromSlice([]int64{1, 2, 3, 4, 5, 6}, 2, 3).T(), "[[1 4]\n [2 5]\n [3 6]]"},
		// more than 1000 elements: three at each end of every axis
		{tensor.Arange(0, 2000, 1, tensor.Int64), "[   0    1    2 ... 1997 1998 1999]"},
		{tensor.Arange(0, 2000, 1, tensor.Int64).Reshape(40, 50), "[[   0    1    2 ...   47   48   49]\n" +
			" [  50   51   52 ...   97   98   99]\n" +
			" [ 100  101  102 ...  147  148  149]\n" +
			" ...\n" +
			" [1850 1851 1852 ... 1897 1898 1899]\n" +
			" [1900 1901 1902 ... 1947 1948 1949]\n" +
			" [1950 1951 1952 ... 1997 1998 1999]]"},
		{tensor.Arange(0, 1001, 1, tensor.Float32).Reshape(1001, 1), "[[   0.]\n [   1.]\n [   2.]\n ...\n [ 998.]\n [ 999.]\n [1000.]]"},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, c.t.String())
	}
	// 3-D summaries separate blocks with a blank line, the ellipsis too
	s := tensor.Arange(0, 1200, 1, tensor.Int64).Reshape(12, 10, 10).String()
	assert.True(t, strings.HasPrefix(s, "[[[   0    1    2 ...    7    8    9]\n  [  10   11   12 ...   17   18   19]\n"), s)
	assert.Contains(t, s, "  [  90   91   92 ...   97   98   99]]\n\n [[ 100  101  102 ...  107  108  109]\n")
	assert.Contains(t, s, "  [ 290  291  292 ...  297  298  299]]\n\n ...\n\n [[ 900  901  902 ...  907  908  909]\n")
	assert.True(t, strings.HasSuffix(s, "  [1190 1191 1192 ... 1197 1198 1199]]]"), s)
	// only the printed elements set the width (NumPy formats the summary)
	a := tensor.Arange(0, 2000, 1, tensor.Int64)
	a.Set(123456, 1000)
	assert.Equal(t, "[   0    1    2 ... 1997 1998 1999]", a.String())
	f := tensor.Arange(1000, 3000, 1, tensor.Float64)
	f.Set(0.5, 1000) // hidden: it must not switch the print to scientific notation
	assert.Equal(t, "[1000. 1001. 1002. ... 2997. 2998. 2999.]", f.String())
	assert.Equal(t, "[0.000e+00 1.000e+00 2.000e+00 ... 1.997e+03 1.998e+03 1.999e+03]", tensor.Arange(0, 2000, 1, tensor.Float64).String())
	// %v is String; %+v adds dtype, shape and device
	x := tensor.FromSlice([]float32{1, 2})
	assert.Equal(t, "[1. 2.]", fmt.Sprintf("%v", x))
	assert.Equal(t, "tensor([1. 2.], dtype=float32, shape=[2], device=cpu)", fmt.Sprintf("%+v", x))
	var nilT *tensor.Tensor
	assert.Equal(t, "<nil>", nilT.String())
}
