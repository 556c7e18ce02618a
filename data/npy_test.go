package data

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// npyFile builds a .npy file by hand from a header dict (padded here so the
// data starts at a multiple of 64, as numpy does) and a body.
func npyFile(major byte, dict string, body []byte) []byte {
	lenSize := 2
	if major > 1 {
		lenSize = 4
	}
	h := dict
	for (6+2+lenSize+len(h)+1)%64 != 0 {
		h += " "
	}
	h += "\n"
	b := append([]byte("\x93NUMPY"), major, 0)
	if lenSize == 2 {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(h)))
	} else {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(h)))
	}
	b = append(b, h...)
	return append(b, body...)
}

func f32le(v ...float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

// What numpy >= 1.24 writes for np.save(f, np.arange(6, dtype='<f4').reshape(2, 3)):
// a 10-byte prelude, a 118-byte header (dict, 20 spaces of room for the first
// axis to grow, padding to 64 bytes, newline), then the data.
func TestWriteNPYMatchesNumpy(t *testing.T) {
	dict := "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
	want := []byte("\x93NUMPY\x01\x00\x76\x00" + dict + strings.Repeat(" ", 20+38) + "\n")
	require.Len(t, want, 128)
	want = append(want, f32le(0, 1, 2, 3, 4, 5)...)
	var buf bytes.Buffer
	require.NoError(t, WriteNPY(&buf, []int{2, 3}, []float32{0, 1, 2, 3, 4, 5}))
	assert.Equal(t, string(want), buf.String())

	// 1-d and 0-d shapes as Python writes them.
	buf.Reset()
	require.NoError(t, WriteNPY(&buf, []int{3}, []int64{1, 2, 3}))
	assert.Contains(t, buf.String(), "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }")
	assert.Equal(t, 0, (buf.Len()-24)%64)
	buf.Reset()
	require.NoError(t, WriteNPY(&buf, nil, []float64{2.5}))
	assert.Contains(t, buf.String(), "'shape': (), }")
	assert.Equal(t, 0, (buf.Len()-8)%64)
}

func TestNPYRoundTrip(t *testing.T) {
	cases := []struct {
		shape []int
		data  any
		dtype string
	}{
		{[]int{2, 2}, []bool{true, false, false, true}, "|b1"},
		{[]int{3}, []int8{-1, 0, 1}, "|i1"},
		{[]int{1, 3}, []uint8{0, 128, 255}, "|u1"},
		{[]int{2}, []int16{-2, 2}, "<i2"},
		{[]int{2}, []uint16{1, 65535}, "<u2"},
		{[]int{2}, []Float16{0x3c00, 0xc000}, "<f2"},
		{[]int{2}, []int32{math.MinInt32, 5}, "<i4"},
		{[]int{2}, []uint32{0, math.MaxUint32}, "<u4"},
		{[]int{2, 1}, []float32{1.5, -2}, "<f4"},
		{[]int{2}, []int64{math.MinInt64, 9}, "<i8"},
		{[]int{2}, []uint64{0, math.MaxUint64}, "<u8"},
		{[]int{}, []float64{math.Pi}, "<f8"},
		{[]int{0, 5}, []float32{}, "<f4"},
	}
	for _, c := range cases {
		t.Run(c.dtype, func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, WriteNPY(&buf, c.shape, c.data))
			for _, in := range [][]byte{buf.Bytes(), gz(t, buf.Bytes())} {
				a, err := ReadNPY(oneByteReader{bytes.NewReader(in)})
				require.NoError(t, err)
				assert.Equal(t, c.dtype, a.DType)
				assert.Equal(t, c.shape, a.Shape)
				assert.Equal(t, c.data, a.Data)
				assert.False(t, a.Fortran)
				assert.Len(t, a.Float32(), a.Len())
				assert.Len(t, a.Int64(), a.Len())
			}
		})
	}
	assert.Error(t, WriteNPY(&bytes.Buffer{}, []int{3}, []float32{1}))
	assert.Error(t, WriteNPY(&bytes.Buffer{}, []int{-1}, []float32{}))
	assert.Error(t, WriteNPY(&bytes.Buffer{}, []int{1}, []string{"x"}))
}

func TestReadNPYVersionsAndOrders(t *testing.T) {
	body := f32le(0, 1, 2, 3, 4, 5)
	for _, major := range []byte{1, 2, 3} {
		a, err := ReadNPY(bytes.NewReader(npyFile(major, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", body)))
		require.NoError(t, err, "version %d", major)
		assert.Equal(t, []float32{0, 1, 2, 3, 4, 5}, a.Data)
	}
	// Fortran order: element (i, j) of a 2x3 array sits at j*2+i.
	a, err := ReadNPY(bytes.NewReader(npyFile(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", f32le(0, 3, 1, 4, 2, 5))))
	require.NoError(t, err)
	assert.True(t, a.Fortran)
	assert.Equal(t, []float32{0, 1, 2, 3, 4, 5}, a.Data)

	// A 3-d Fortran array: value 100i+10j+k.
	var fbody []byte
	var want []int64
	for k := 0; k < 4; k++ {
		for j := 0; j < 3; j++ {
			for i := 0; i < 2; i++ {
				fbody = binary.LittleEndian.AppendUint64(fbody, uint64(100*i+10*j+k))
			}
		}
	}
	for i := 0; i < 2; i++ {
		for j := 0; j < 3; j++ {
			for k := 0; k < 4; k++ {
				want = append(want, int64(100*i+10*j+k))
			}
		}
	}
	a, err = ReadNPY(bytes.NewReader(npyFile(1, "{'descr': '<i8', 'fortran_order': True, 'shape': (2, 3, 4), }", fbody)))
	require.NoError(t, err)
	assert.Equal(t, want, a.Data)

	// Python 2 long suffixes, double quotes, other key order, no trailing comma.
	a, err = ReadNPY(bytes.NewReader(npyFile(1, `{"shape": (2L,), "fortran_order": False, "descr": "|u1"}`, []byte{7, 8})))
	require.NoError(t, err)
	assert.Equal(t, []uint8{7, 8}, a.Data)
	assert.Equal(t, []int{2}, a.Shape)
}

func TestFloat16(t *testing.T) {
	cases := map[Float16]float32{
		0x3c00: 1, 0xc000: -2, 0x7bff: 65504, 0x0001: 1.0 / (1 << 24), 0x8000: float32(math.Copysign(0, -1)),
		0x3555: 0.333251953125, 0x0400: 1.0 / (1 << 14),
	}
	for h, want := range cases {
		assert.Equal(t, want, h.Float32(), "%#04x", uint16(h))
	}
	assert.True(t, math.IsInf(float64(Float16(0x7c00).Float32()), 1))
	assert.True(t, math.IsInf(float64(Float16(0xfc00).Float32()), -1))
	assert.True(t, math.IsNaN(float64(Float16(0x7e00).Float32())))
}

func TestReadNPYErrors(t *testing.T) {
	dict := func(s string) []byte { return npyFile(1, s, make([]byte, 8)) }
	cases := map[string]struct {
		in  []byte
		msg string
	}{
		"big-endian":      {dict("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }"), "big-endian"},
		"object":          {dict("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"), "object arrays"},
		"structured":      {dict("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }"), "structured"},
		"string dtype":    {dict("{'descr': '<U2', 'fortran_order': False, 'shape': (1,), }"), "unsupported dtype"},
		"complex":         {dict("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }"), "unsupported dtype"},
		"native order":    {dict("{'descr': '=f4', 'fortran_order': False, 'shape': (2,), }"), "byte order"},
		"bad magic":       {append([]byte("\x93NUMPX\x01\x00"), dict("{}")[8:]...), "bad magic"},
		"version 4":       {append([]byte("\x93NUMPY\x04\x00"), dict("{}")[8:]...), "version 4.0"},
		"version 1.1":     {append([]byte("\x93NUMPY\x01\x01"), dict("{}")[8:]...), "version 1.1"},
		"missing key":     {dict("{'descr': '<f4', 'shape': (2,), }"), "missing"},
		"extra key":       {dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}"), "unexpected key"},
		"duplicate key":   {dict("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"), "duplicate"},
		"negative dim":    {dict("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }"), "non-negative"},
		"1-tuple":         {dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2), }"), "trailing comma"},
		"bad bool":        {dict("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }"), "True or False"},
		"not a dict":      {dict("['descr']"), "expected '{'"},
		"junk after dict": {dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x"), "after the dict"},
		"unterminated":    {dict("{'descr: '<f4"), "expected ':'"},
		"size mismatch":   {dict("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }"), "truncated data"},
		"trailing data":   {dict("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }"), "data after"},
		"huge shape":      {dict("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967295, 4294967295, 4294967295), }"), "shape"},
		"huge header":     {append([]byte("\x93NUMPY\x02\x00\xff\xff\xff\x7f"), "{}"...), "exceeds the limit"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ReadNPY(bytes.NewReader(c.in))
			require.ErrorIs(t, err, ErrFormat)
			assert.Contains(t, err.Error(), c.msg)
		})
	}

	var buf bytes.Buffer
	require.NoError(t, WriteNPY(&buf, []int{2, 2}, []float64{1, 2, 3, 4}))
	valid := buf.Bytes()
	for n := 0; n < len(valid); n++ {
		_, err := ReadNPY(bytes.NewReader(valid[:n]))
		require.ErrorIs(t, err, ErrFormat, "truncated to %d", n)
	}
}

func TestReadNPYDoesNotTrustDeclaredSizes(t *testing.T) {
	in := npyFile(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000), }", make([]byte, 16))
	allocs := testing.AllocsPerRun(1, func() {
		_, err := ReadNPY(bytes.NewReader(in))
		require.ErrorIs(t, err, ErrFormat)
	})
	assert.Less(t, allocs, 1000.0)
}

func TestReadNPYFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.npy")
	var buf bytes.Buffer
	require.NoError(t, WriteNPY(&buf, []int{2}, []int32{4, 5}))
	require.NoError(t, os.WriteFile(p, buf.Bytes(), 0o644))
	a, err := ReadNPYFile(p)
	require.NoError(t, err)
	assert.Equal(t, []int32{4, 5}, a.Data)
	_, err = ReadNPYFile(p + ".missing")
	assert.Error(t, err)
}
