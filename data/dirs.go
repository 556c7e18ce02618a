package data

import (
	"fmt"
	"os"
	"path/filepath"
)

// findFile returns the first of the candidate names that exists in dir.
func findFile(dir string, names ...string) (string, error) {
	for _, n := range names {
		p := filepath.Join(dir, n)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("data: none of %v found in %s", names, dir)
}

// LoadMNISTDir loads MNIST or Fashion-MNIST from a directory holding the
// files under their usual names: train-images-idx3-ubyte and
// train-labels-idx1-ubyte (train) or t10k-images-idx3-ubyte and
// t10k-labels-idx1-ubyte (test), each possibly with a .gz suffix or with
// ".idx3-ubyte" in place of "-idx3-ubyte". See LoadMNIST.
func LoadMNISTDir(dir string, train bool) (*ArrayDataset, error) {
	prefix := "t10k"
	if train {
		prefix = "train"
	}
	names := func(kind, idx string) []string {
		var out []string
		for _, sep := range []string{"-", "."} {
			base := prefix + "-" + kind + sep + idx + "-ubyte"
			out = append(out, base, base+".gz")
		}
		return out
	}
	img, err := findFile(dir, names("images", "idx3")...)
	if err != nil {
		return nil, err
	}
	lab, err := findFile(dir, names("labels", "idx1")...)
	if err != nil {
		return nil, err
	}
	return LoadMNIST(img, lab)
}

// LoadCIFAR10Dir loads CIFAR-10 from the directory of its binary version
// (cifar-10-batches-bin, or a directory containing it): data_batch_1.bin to
// data_batch_5.bin for train (50,000 samples), test_batch.bin otherwise
// (10,000). See ReadCIFAR10.
func LoadCIFAR10Dir(dir string, train bool) (*ArrayDataset, error) {
	if _, err := os.Stat(filepath.Join(dir, "cifar-10-batches-bin")); err == nil {
		dir = filepath.Join(dir, "cifar-10-batches-bin")
	}
	var paths []string
	if train {
		for i := 1; i <= 5; i++ {
			paths = append(paths, filepath.Join(dir, fmt.Sprintf("data_batch_%d.bin", i)))
		}
	} else {
		paths = []string{filepath.Join(dir, "test_batch.bin")}
	}
	return LoadCIFAR10(paths...)
}
