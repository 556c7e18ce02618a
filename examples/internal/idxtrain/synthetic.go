package idxtrain

import (
	"compress/gzip"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// writeIDX writes an IDX file of unsigned bytes with the given dimensions.
func writeIDX(path string, dims []int, data []byte, gz bool) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if e := f.Close(); err == nil {
			err = e
		}
	}()
	var w io.Writer = f
	if gz {
		z := gzip.NewWriter(f)
		defer func() {
			if e := z.Close(); err == nil {
				err = e
			}
		}()
		w = z
	}
	hdr := []byte{0, 0, 0x08, byte(len(dims))}
	for _, d := range dims {
		hdr = binary.BigEndian.AppendUint32(hdr, uint32(d))
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// WriteSynthetic writes a small learnable MNIST-style data set into dir for
// tests: train-images-idx3-ubyte.gz and train-labels-idx1-ubyte (nTrain
// samples), t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte.gz (nTest),
// rows x cols images in which each class 0-9 lights a 4x4 block at its own
// place over uniform noise.
func WriteSynthetic(dir string, nTrain, nTest, rows, cols int, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, 1))
	gen := func(n int) ([]byte, []byte) {
		img := make([]byte, n*rows*cols)
		lab := make([]byte, n)
		for i := range n {
			c := r.IntN(10)
			lab[i] = byte(c)
			px := img[i*rows*cols : (i+1)*rows*cols]
			for j := range px {
				px[j] = byte(r.IntN(80))
			}
			y0 := (c / 5) * (rows / 2)
			x0 := (c % 5) * (cols / 5)
			for y := y0 + 1; y < min(y0+5, rows); y++ {
				for x := x0; x < min(x0+4, cols); x++ {
					px[y*cols+x] = byte(180 + r.IntN(76))
				}
			}
		}
		return img, lab
	}
	ti, tl := gen(nTrain)
	ei, el := gen(nTest)
	for _, f := range []struct {
		name string
		dims []int
		data []byte
		gz   bool
	}{
		{"train-images-idx3-ubyte.gz", []int{nTrain, rows, cols}, ti, true},
		{"train-labels-idx1-ubyte", []int{nTrain}, tl, false},
		{"t10k-images-idx3-ubyte", []int{nTest, rows, cols}, ei, false},
		{"t10k-labels-idx1-ubyte.gz", []int{nTest}, el, true},
	} {
		if err := writeIDX(filepath.Join(dir, f.name), f.dims, f.data, f.gz); err != nil {
			return err
		}
	}
	return nil
}
