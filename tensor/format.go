package tensor

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// printThreshold and edgeItems follow NumPy's defaults: tensors with more
// elements than printThreshold show edgeItems entries at each end of every axis.
const (
	printThreshold = 1000
	edgeItems      = 3
)

// String prints the values like NumPy's str(array), e.g. "[[1 2]\n [3 4]]",
// summarising large tensors with "...".
func (t *Tensor) String() string {
	if t == nil {
		return "<nil>"
	}
	c := t.To(CPU)
	vals := c.Float64s()
	summarise := len(vals) > printThreshold
	isF := c.DType().IsFloat()
	// One number format for the whole tensor, as NumPy does.
	format := func(v float64) string {
		switch {
		case c.DType() == Bool:
			if v != 0 {
				return "true"
			}
			return "false"
		case !isF:
			return strconv.FormatInt(int64(v), 10)
		}
		return formatFloat(v)
	}
	strs := make([]string, len(vals))
	width := 0
	for i, v := range vals {
		strs[i] = format(v)
		width = max(width, len(strs[i]))
	}
	if isF {
		allInt := true
		for _, v := range vals {
			if v != math.Trunc(v) || math.IsInf(v, 0) {
				allInt = false
				break
			}
		}
		if allInt {
			for i, v := range vals {
				strs[i] = strconv.FormatFloat(v, 'f', 0, 64) + "."
				width = max(width, len(strs[i]))
			}
		}
	}
	if len(c.shape) == 0 {
		return strs[0]
	}
	var b strings.Builder
	strides := contiguousStrides(c.shape)
	var rec func(axis, off int)
	rec = func(axis, off int) {
		b.WriteByte('[')
		n := c.shape[axis]
		for i := 0; i < n; i++ {
			if summarise && n > 2*edgeItems && i == edgeItems {
				if axis == len(c.shape)-1 {
					b.WriteString("...")
				} else {
					b.WriteString("...")
					b.WriteString(",\n" + strings.Repeat(" ", axis+1))
				}
				if axis == len(c.shape)-1 {
					b.WriteByte(' ')
				}
				i = n - edgeItems
			}
			if axis == len(c.shape)-1 {
				fmt.Fprintf(&b, "%*s", width, strs[off+i*strides[axis]])
				if i < n-1 {
					b.WriteByte(' ')
				}
				continue
			}
			rec(axis+1, off+i*strides[axis])
			if i < n-1 {
				b.WriteString(strings.Repeat("\n", len(c.shape)-1-axis))
				b.WriteString(strings.Repeat(" ", axis+1))
			}
		}
		b.WriteByte(']')
	}
	rec(0, 0)
	return b.String()
}

func formatFloat(v float64) string {
	switch {
	case math.IsNaN(v):
		return "nan"
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	}
	a := math.Abs(v)
	if a != 0 && (a < 1e-4 || a >= 1e8) {
		return strconv.FormatFloat(v, 'e', 4, 64)
	}
	s := strconv.FormatFloat(v, 'f', 4, 64)
	s = strings.TrimRight(s, "0")
	return s
}

// Format implements fmt.Formatter: %v prints String(); %+v adds the dtype,
// shape and device.
func (t *Tensor) Format(f fmt.State, verb rune) {
	s := t.String()
	if verb == 'v' && f.Flag('+') && t != nil {
		s = fmt.Sprintf("tensor(%s, dtype=%s, shape=%v, device=%s)", s, t.DType(), Shape(t.shape), t.Device().Name())
	}
	fmt.Fprint(f, s)
}

// AllClose reports whether a and b have broadcast-compatible shapes and
// |a-b| <= atol + rtol·|b| everywhere (NaN equals nothing), like numpy.allclose.
func AllClose(a, b *Tensor, rtol, atol float64) bool {
	shape, err := BroadcastShapes(a.shape, b.shape)
	if err != nil {
		return false
	}
	av := a.To(CPU).broadcastTo("tensor.AllClose", shape).Float64s()
	bv := b.To(CPU).broadcastTo("tensor.AllClose", shape).Float64s()
	for i := range av {
		x, y := av[i], bv[i]
		if x == y {
			continue
		}
		if math.IsNaN(x) || math.IsNaN(y) || math.Abs(x-y) > atol+rtol*math.Abs(y) {
			return false
		}
	}
	return true
}

// Equal reports whether a and b have the same shape and exactly equal values.
func Equal(a, b *Tensor) bool {
	if !Shape(a.shape).Equal(b.shape) {
		return false
	}
	return AllClose(a, b, 0, 0)
}
