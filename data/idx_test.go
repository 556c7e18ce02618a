package data

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadIDXHandBuilt(t *testing.T) {
	// 2 images of 2x3 pixels, as in train-images-idx3-ubyte (magic 0x00000803).
	img := idxBytes(0x08, []uint32{2, 2, 3}, []byte{0, 1, 2, 3, 4, 255, 10, 11, 12, 13, 14, 15})
	assert.Equal(t, []byte{0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3}, img[:16])
	x, err := ReadIDX(bytes.NewReader(img))
	require.NoError(t, err)
	assert.Equal(t, IDXUint8, x.Type)
	assert.Equal(t, []int{2, 2, 3}, x.Dims)
	assert.Equal(t, 12, x.Len())
	assert.Equal(t, []uint8{0, 1, 2, 3, 4, 255, 10, 11, 12, 13, 14, 15}, x.Data)
	assert.Equal(t, float32(255), x.Float32()[5])
	assert.Equal(t, int64(255), x.Int64()[5])

	// Big-endian int32 and float64 elements.
	var body []byte
	body = binary.BigEndian.AppendUint32(body, uint32(0xfffffffe)) // -2
	body = binary.BigEndian.AppendUint32(body, 7)
	x, err = ReadIDX(bytes.NewReader(idxBytes(0x0C, []uint32{2}, body)))
	require.NoError(t, err)
	assert.Equal(t, []int32{-2, 7}, x.Data)
	body = binary.BigEndian.AppendUint64(nil, math.Float64bits(-1.25))
	x, err = ReadIDX(bytes.NewReader(idxBytes(0x0E, []uint32{1, 1}, body)))
	require.NoError(t, err)
	assert.Equal(t, []float64{-1.25}, x.Data)
	assert.Equal(t, []float32{-1.25}, x.Float32())
}

func TestIDXRoundTripAllTypes(t *testing.T) {
	cases := []*IDX{
		{Type: IDXUint8, Dims: []int{2, 3}, Data: []uint8{1, 2, 3, 4, 5, 6}},
		{Type: IDXInt8, Dims: []int{3}, Data: []int8{-128, 0, 127}},
		{Type: IDXInt16, Dims: []int{2}, Data: []int16{-300, 300}},
		{Type: IDXInt32, Dims: []int{1, 2}, Data: []int32{math.MinInt32, math.MaxInt32}},
		{Type: IDXFloat32, Dims: []int{2}, Data: []float32{-0.5, 3.25}},
		{Type: IDXFloat64, Dims: []int{2, 1, 1}, Data: []float64{math.Pi, -1e300}},
		{Type: IDXUint8, Dims: []int{0, 28, 28}, Data: []uint8{}},
		{Type: IDXUint8, Dims: []int{}, Data: []uint8{42}},
	}
	for _, c := range cases {
		t.Run(c.Type.String(), func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, WriteIDX(&buf, c))
			raw := buf.Bytes()
			for _, in := range [][]byte{raw, gz(t, raw)} {
				got, err := ReadIDX(oneByteReader{bytes.NewReader(in)})
				require.NoError(t, err)
				assert.Equal(t, c.Type, got.Type)
				assert.Equal(t, c.Dims, got.Dims)
				assert.Equal(t, c.Data, got.Data)
			}
		})
	}
	assert.Error(t, WriteIDX(&bytes.Buffer{}, &IDX{Type: IDXInt8, Dims: []int{1}, Data: []uint8{1}}))
	assert.Error(t, WriteIDX(&bytes.Buffer{}, &IDX{Type: IDXUint8, Dims: []int{2}, Data: []uint8{1}}))
	assert.Error(t, WriteIDX(&bytes.Buffer{}, &IDX{Type: IDXUint8, Dims: []int{1}, Data: []string{"x"}}))
}

func TestReadIDXErrors(t *testing.T) {
	valid := idxBytes(0x0D, []uint32{2, 2}, make([]byte, 16))
	for n := 0; n < len(valid); n++ {
		_, err := ReadIDX(bytes.NewReader(valid[:n]))
		require.ErrorIs(t, err, ErrFormat, "truncated to %d bytes", n)
		_, err = ReadIDX(bytes.NewReader(gz(t, valid[:n])))
		require.ErrorIs(t, err, ErrFormat, "gzip of %d bytes", n)
	}
	zipped := gz(t, valid)
	for n := 0; n < len(zipped); n++ {
		_, err := ReadIDX(bytes.NewReader(zipped[:n]))
		require.Error(t, err, "truncated gzip of %d bytes", n)
	}
	cases := map[string][]byte{
		"trailing data":   append(bytes.Clone(valid), 0),
		"bad magic":       append([]byte{1, 0}, valid[2:]...),
		"unknown type 0a": idxBytes(0x0A, []uint32{1}, []byte{0}),
		"unknown type ff": idxBytes(0xFF, []uint32{1}, []byte{0}),
		"huge dims":       idxBytes(0x0E, []uint32{0xffffffff, 0xffffffff, 0xffffffff}, []byte{1, 2, 3}),
		"overflow":        idxBytes(0x08, []uint32{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, nil),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ReadIDX(bytes.NewReader(in))
			assert.ErrorIs(t, err, ErrFormat)
		})
	}
}

func TestReadIDXDoesNotTrustDeclaredSizes(t *testing.T) {
	// 60000x2800x2800 bytes declared (470 GB), 3 bytes present.
	in := idxBytes(0x08, []uint32{60000, 2800, 2800}, []byte{1, 2, 3})
	allocs := testing.AllocsPerRun(1, func() {
		_, err := ReadIDX(bytes.NewReader(in))
		require.ErrorIs(t, err, ErrFormat)
	})
	assert.Less(t, allocs, 1000.0)
}

func writeMNIST(t *testing.T, dir string, n int, zip bool) (string, string) {
	pix := make([]byte, n*28*28)
	for i := range pix {
		pix[i] = byte(i * 7)
	}
	labels := make([]byte, n)
	for i := range labels {
		labels[i] = byte(i % 10)
	}
	img := idxBytes(0x08, []uint32{uint32(n), 28, 28}, pix)
	lab := idxBytes(0x08, []uint32{uint32(n)}, labels)
	if zip {
		img, lab = gz(t, img), gz(t, lab)
	}
	ip, lp := filepath.Join(dir, "images"), filepath.Join(dir, "labels")
	require.NoError(t, os.WriteFile(ip, img, 0o644))
	require.NoError(t, os.WriteFile(lp, lab, 0o644))
	return ip, lp
}

func TestLoadMNIST(t *testing.T) {
	for _, zip := range []bool{false, true} {
		dir := t.TempDir()
		ip, lp := writeMNIST(t, dir, 12, zip)
		ds, err := LoadMNIST(ip, lp)
		require.NoError(t, err)
		assert.Equal(t, 12, ds.Len())
		assert.Equal(t, []int{28, 28}, ds.SampleShape())
		assert.Equal(t, int64(3), ds.Y[3])
		x := make([]float32, 784)
		y := ds.Sample(1, x)
		assert.Equal(t, int64(1), y)
		assert.Equal(t, float32((784*7)%256)/255, x[0])
		for _, v := range ds.X {
			require.True(t, v >= 0 && v <= 1)
		}
	}

	dir := t.TempDir()
	ip, _ := writeMNIST(t, dir, 5, false)
	lp := filepath.Join(dir, "labels4")
	require.NoError(t, os.WriteFile(lp, idxBytes(0x08, []uint32{4}, []byte{1, 2, 3, 4}), 0o644))
	_, err := LoadMNIST(ip, lp)
	assert.ErrorIs(t, err, ErrFormat)
	assert.Contains(t, err.Error(), "5 images but 4 labels")
	_, err = LoadMNIST(lp, lp)
	assert.ErrorIs(t, err, ErrFormat)
	_, err = LoadMNIST(ip, ip)
	assert.ErrorIs(t, err, ErrFormat)
	_, err = LoadMNIST(filepath.Join(dir, "missing"), lp)
	assert.Error(t, err)
	_, err = ReadMNIST(bytes.NewReader(nil), bytes.NewReader(nil))
	assert.ErrorIs(t, err, ErrFormat)
}
