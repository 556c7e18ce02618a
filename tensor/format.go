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
	if len(vals) == 0 && len(c.shape) > 0 {
		return "[]" // NumPy prints every empty array so
	}
	summarise := len(vals) > printThreshold
	var shownAt []int // when summarising: the elements printed; only they set the format
	if summarise {
		shownAt = shownIndices(c.shape)
		all := vals
		vals = make([]float64, len(shownAt))
		for k, i := range shownAt {
			vals[k] = all[i]
		}
	}
	isF := c.DType().IsFloat()
	format := func(v float64) string {
		switch {
		case c.DType() == Bool:
			if v != 0 {
				return "true"
			}
			return "false"
		case !isF:
		}
		return strconv.FormatInt(int64(v), 10)
	}
	var strs []string
	width := 0
	if isF {
		bits := 32
		switch c.DType() {
		case Float64:
			bits = 64
		case BFloat16, Float16:
			// the shortest decimals that round back to the 16-bit value, as
			// NumPy prints float16 (0.1, not float32's 0.099975586)
			bits = 64
			short := make([]float64, len(vals))
			for i, v := range vals {
				short[i] = shortest16(c.DType(), v)
			}
			vals = short
		}
		strs = formatFloats(vals, bits)
	} else {
		strs = make([]string, len(vals))
		for i, v := range vals {
			strs[i] = format(v)
		}
	}
	for _, st := range strs {
		width = max(width, len(st))
	}
	if summarise {
		all := make([]string, Shape(c.shape).NumElements())
		for k, i := range shownAt {
			all[i] = strs[k]
		}
		strs = all
	}
	if len(c.shape) == 0 {
		return strs[0]
	}
	var b strings.Builder
	strides := ContiguousStrides(c.shape)
	var rec func(axis, off int)
	rec = func(axis, off int) {
		b.WriteByte('[')
		n := c.shape[axis]
		for i := 0; i < n; i++ {
			if summarise && n > 2*edgeItems && i == edgeItems {
				b.WriteString("...")
				if axis == len(c.shape)-1 {
					b.WriteByte(' ')
				} else {
					b.WriteString(strings.Repeat("\n", len(c.shape)-1-axis))
					b.WriteString(strings.Repeat(" ", axis+1))
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

// shortest16 returns the value with the fewest significant decimal digits
// that rounds to v in the 16-bit float dtype dt.
func shortest16(dt DType, v float64) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	for prec := 0; prec < 17; prec++ {
		p, err := strconv.ParseFloat(strconv.FormatFloat(v, 'e', prec, 64), 64)
		if err == nil && roundTo(dt, p) == v {
			return p
		}
	}
	return v
}

// shownIndices returns the row-major positions of the elements a summarised
// print shows: edgeItems at each end of every axis longer than 2·edgeItems.
func shownIndices(shape []int) []int {
	strides := ContiguousStrides(shape)
	var out []int
	var rec func(axis, off int)
	rec = func(axis, off int) {
		if axis == len(shape) {
			out = append(out, off)
			return
		}
		n := shape[axis]
		for i := 0; i < n; i++ {
			if n > 2*edgeItems && i == edgeItems {
				i = n - edgeItems
			}
			rec(axis+1, off+i*strides[axis])
		}
	}
	rec(0, 0)
	return out
}

// formatFloats formats values the way NumPy prints a float array: at most
// 8 fraction digits, no more than each value needs, the decimal points
// aligned; scientific notation for all when the magnitudes call for it.
func formatFloats(vals []float64, bits int) []string {
	maxAbs, minAbs := 0.0, math.Inf(1)
	for _, v := range vals {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		a := math.Abs(v)
		maxAbs = max(maxAbs, a)
		if a != 0 {
			minAbs = min(minAbs, a)
		}
	}
	sci := maxAbs >= 1e8 || (minAbs < 1e-4) || (maxAbs/minAbs > 1e3 && !math.IsInf(minAbs, 1))
	if math.IsInf(minAbs, 1) {
		sci = false
	}
	sciDigits := 0
	if sci {
		for _, v := range vals {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			m, _, _ := strings.Cut(strconv.FormatFloat(v, 'e', -1, bits), "e")
			if _, frac, ok := strings.Cut(m, "."); ok {
				sciDigits = max(sciDigits, min(len(frac), 8))
			}
		}
	}
	out := make([]string, len(vals))
	intW, fracW := 0, 0
	for i, v := range vals {
		var s string
		switch {
		case math.IsNaN(v):
			s = "nan"
		case math.IsInf(v, 1):
			s = "inf"
		case math.IsInf(v, -1):
			s = "-inf"
		case sci:
			s = sciFormat(v, sciDigits, bits)
		default:
			s = strconv.FormatFloat(v, 'f', -1, bits)
			if _, frac, ok := strings.Cut(s, "."); ok && len(frac) > 8 {
				s = strings.TrimRight(strconv.FormatFloat(v, 'f', 8, 64), "0")
			}
			if !strings.Contains(s, ".") {
				s += "."
			}
		}
		out[i] = s
		if ip, fp, ok := strings.Cut(s, "."); ok { // nan and inf do not widen the columns
			intW, fracW = max(intW, len(ip)), max(fracW, len(fp))
		}
	}
	for i, s := range out {
		ip, fp, ok := strings.Cut(s, ".")
		if !ok { // nan, inf
			out[i] = fmt.Sprintf("%*s", intW+1+fracW, s)
			continue
		}
		out[i] = fmt.Sprintf("%*s.%-*s", intW, ip, fracW, fp)
	}
	return out
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

// sciFormat prints v like NumPy's scientific mode: d.ddde+XX.
func sciFormat(v float64, digits, bits int) string {
	s := strconv.FormatFloat(v, 'e', digits, bits)
	m, e, _ := strings.Cut(s, "e")
	if !strings.Contains(m, ".") {
		m += "."
	}
	sign, exp := e[:1], strings.TrimLeft(e[1:], "0")
	for len(exp) < 2 {
		exp = "0" + exp
	}
	return m + "e" + sign + exp
}
