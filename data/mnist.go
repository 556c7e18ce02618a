package data

import (
	"fmt"
	"io"
)

// ReadMNIST reads an MNIST-style pair of IDX streams (raw or gzip): images
// of type uint8 with dimensions [N, rows, cols] and labels of type uint8
// with dimensions [N]. It returns a dataset of N samples of shape
// [rows, cols] (28x28 for MNIST and Fashion-MNIST), pixels scaled to [0, 1]
// by /255, and the labels as int64. The counts must match. Use
// WithShape(1, rows, cols) for a channel axis ([N, 1, 28, 28] batches).
func ReadMNIST(images, labels io.Reader) (*ArrayDataset, error) {
	img, err := ReadIDX(images)
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	lab, err := ReadIDX(labels)
	if err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	return mnistFromIDX(img, lab)
}

// LoadMNIST reads MNIST or Fashion-MNIST from the paths of its image and
// label files (e.g. train-images-idx3-ubyte.gz and
// train-labels-idx1-ubyte.gz), raw or gzip-compressed. See ReadMNIST.
func LoadMNIST(imagesPath, labelsPath string) (*ArrayDataset, error) {
	img, err := ReadIDXFile(imagesPath)
	if err != nil {
		return nil, err
	}
	lab, err := ReadIDXFile(labelsPath)
	if err != nil {
		return nil, err
	}
	ds, err := mnistFromIDX(img, lab)
	if err != nil {
		return nil, fmt.Errorf("%s, %s: %w", imagesPath, labelsPath, err)
	}
	return ds, nil
}

func mnistFromIDX(img, lab *IDX) (*ArrayDataset, error) {
	if img.Type != IDXUint8 || len(img.Dims) != 3 {
		return nil, formatErr("mnist", "images are %v with dimensions %v, want uint8 [N, rows, cols] (magic 0x00000803)", img.Type, img.Dims)
	}
	if lab.Type != IDXUint8 || len(lab.Dims) != 1 {
		return nil, formatErr("mnist", "labels are %v with dimensions %v, want uint8 [N] (magic 0x00000801)", lab.Type, lab.Dims)
	}
	if img.Dims[0] != lab.Dims[0] {
		return nil, formatErr("mnist", "%d images but %d labels", img.Dims[0], lab.Dims[0])
	}
	pix := img.Data.([]uint8)
	x := make([]float32, len(pix))
	for i, p := range pix {
		x[i] = float32(p) / 255
	}
	y := convert[int64](lab.Data.([]uint8))
	return &ArrayDataset{X: x, Shape: []int{img.Dims[1], img.Dims[2]}, Y: y}, nil
}
