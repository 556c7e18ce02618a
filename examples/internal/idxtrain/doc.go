// Package idxtrain is the command shared by examples/mnist and examples/cnn:
// flags, loading MNIST-style IDX files, training with checkpoints, and the
// final report.
package idxtrain
