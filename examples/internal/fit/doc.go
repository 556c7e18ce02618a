// Package fit is the training loop shared by the examples: epochs over a
// data.Loader, an optimizer step per batch, a progress line per epoch, and
// evaluation.
package fit
