package data

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/tessera-ml/tessera/internal/readall"
)

// CIFAR-10 binary record layout: 1 label byte, then 3072 pixel bytes (the
// 1024 red, 1024 green and 1024 blue values of a 32x32 image, row-major).
const (
	cifarPixels = 3 * 32 * 32
	cifarRecord = 1 + cifarPixels
)

// ReadCIFAR10 reads the records of one CIFAR-10 binary file (such as
// data_batch_1.bin, raw or gzip-compressed) until EOF. It returns a dataset
// of samples of shape [3, 32, 32] (CHW), pixels scaled to [0, 1] by /255,
// and labels 0..9. A partial record at the end or a label above 9 is an
// error wrapping ErrFormat.
func ReadCIFAR10(r io.Reader) (*ArrayDataset, error) {
	ds := &ArrayDataset{Shape: []int{3, 32, 32}}
	if err := appendCIFAR10(ds, r); err != nil {
		return nil, err
	}
	return ds, nil
}

// LoadCIFAR10 reads and concatenates CIFAR-10 binary files in the order
// given, e.g. data_batch_1.bin ... data_batch_5.bin. See ReadCIFAR10.
func LoadCIFAR10(paths ...string) (*ArrayDataset, error) {
	ds := &ArrayDataset{Shape: []int{3, 32, 32}}
	for _, p := range paths {
		_, err := withFile(p, func(r io.Reader) (struct{}, error) {
			return struct{}{}, appendCIFAR10(ds, r)
		})
		if err != nil {
			return nil, err
		}
	}
	return ds, nil
}

func appendCIFAR10(ds *ArrayDataset, r io.Reader) error {
	r, err := maybeGunzip(r)
	if err != nil {
		return err
	}
	if rem, ok := readall.Remaining(r); ok {
		// Size the slices from the file once instead of growing them.
		recs := int(rem / cifarRecord)
		ds.Y = slices.Grow(ds.Y, recs)
		ds.X = slices.Grow(ds.X, recs*cifarPixels)
	}
	rec := make([]byte, cifarRecord)
	for n := 0; ; n++ {
		k, err := io.ReadFull(r, rec)
		if err == io.EOF {
			return nil
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return formatErr("cifar10", "partial record %d: %d of %d bytes", n, k, cifarRecord)
		}
		if err != nil {
			return ioErr("cifar10", fmt.Sprintf("record %d", n), err)
		}
		if rec[0] > 9 {
			return formatErr("cifar10", "record %d: label %d is not in 0..9", n, rec[0])
		}
		ds.Y = append(ds.Y, int64(rec[0]))
		ds.X = slices.Grow(ds.X, cifarPixels)
		for _, p := range rec[1:] {
			ds.X = append(ds.X, float32(p)/255)
		}
	}
}
