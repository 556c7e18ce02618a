// Package data reads datasets in real formats and feeds them to training
// loops.
//
// Readers (raw or gzip-compressed input, detected by the gzip magic bytes):
//
//   - ReadIDX, LoadMNIST: the IDX format of MNIST and Fashion-MNIST
//     (all IDX element types 0x08-0x0E);
//   - ReadCIFAR10, LoadCIFAR10: CIFAR-10 binary batches;
//   - ReadCSV: numeric CSV with an optional header and a label column;
//   - ReadNPY, WriteNPY: NumPy .npy files (format 1.0, 2.0, 3.0).
//
// Every reader checks the sizes that a header declares against the bytes
// that really arrive before it allocates for them, and returns an error
// wrapping ErrFormat, never a panic, on malformed input. IDX and .npy data
// are read once into a buffer of the declared size (known from the file's
// size when reading a file; at most 4/3 of the data for gzip input) and
// decoded in place, so reading costs about the data's size. ReadCSV bounds
// a row by CSVOptions.MaxRowBytes (DefaultCSVMaxRowBytes, 16 MiB) and
// holds the longest row once, not a structure per field.
//
// The module embeds one small real dataset so that examples run offline:
// Digits returns the UCI "Optical Recognition of Handwritten Digits" set
// (E. Alpaydin and C. Kaynak, 1998, UCI Machine Learning Repository,
// https://doi.org/10.24432/C50P49, licensed CC BY 4.0): 1,797 8x8 images,
// pixels scaled to [0, 1], labels 0-9. DigitsSplit gives a fixed, stratified
// 1,437/360 train/test split. See digits/README.md.
//
// Dataset is the interface of in-memory sample sets; ArrayDataset is the
// concrete one every reader returns (its Tensors method gives the whole set
// as tensors; NPY.Tensor converts a .npy array).
//
// Regression datasets (RegressionDataset, Table.Regression) carry float32
// target arrays instead of class labels.
//
// A Loader turns a Dataset into batches of tensors (X float32 [B, sample
// shape...], Y int64 [B], or T float32 [B, target shape...] for a
// Regression): it shuffles deterministically from (Seed, epoch)
// with Permutation (SplitMix64 + Fisher-Yates, the same on every machine
// and Go version, independent of math/rand), batches with optional
// drop-last, shards by (Rank, WorldSize) like PyTorch's DistributedSampler
// (padding by wrap-around, or dropping the uneven tail), and prefetches
// batches on a goroutine through a bounded channel that stops on Close or
// context cancellation. NewLoader validates a dataset that has a Validate
// method (ArrayDataset and RegressionDataset built by hand), and a panic in
// a dataset's methods ends the epoch with an error from Err instead of
// killing the process:
//
//	train, test := data.DigitsSplit()
//	loader, err := data.NewLoader(train, data.LoaderOptions{BatchSize: 32, Shuffle: true, Prefetch: 2})
//	...
//	for epoch := 0; epoch < epochs; epoch++ {
//		it := loader.Epoch(ctx, epoch)
//		for b, ok := it.Next(); ok; b, ok = it.Next() {
//			// b.X, b.Y, b.Indices
//		}
//		it.Close()
//		if err := it.Err(); err != nil { ... }
//	}
package data
