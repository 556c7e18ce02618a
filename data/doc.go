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
// wrapping ErrFormat, never a panic, on malformed input.
//
// The module embeds one small real dataset so that examples run offline:
// Digits returns the UCI "Optical Recognition of Handwritten Digits" set
// (E. Alpaydin and C. Kaynak, 1998, UCI Machine Learning Repository,
// https://doi.org/10.24432/C50P49, licensed CC BY 4.0): 1,797 8x8 images,
// pixels scaled to [0, 1], labels 0-9. DigitsSplit gives a fixed, stratified
// 1,437/360 train/test split. See digits/README.md.
//
// Dataset is the interface of in-memory sample sets; ArrayDataset is the
// concrete one every reader returns. Permutation is the package's
// deterministic shuffle (SplitMix64 + Fisher-Yates), the same on every
// machine and Go version.
package data
