// Package checkpoint saves and loads training state — a model's tensors and
// an optimizer's state — in the safetensors format, so that PyTorch's
// safetensors (safetensors.torch.load_file) can read the files.
//
// A checkpoint file holds
//
//   - the model's state dict, each tensor named "model.<name>";
//   - the optimizer's state dict (optim.Optimizer.StateDict), named
//     "optim.<name>", e.g. "optim.param.0.exp_avg";
//   - metadata: "format" = "tessera", "step", "epoch", "optim.kind" and any
//     extra strings.
//
// Dtypes map one to one (Float32 is "F32", BFloat16 "BF16", Int64 "I64",
// Bool "BOOL", ...) through package safetensors/stcodec, the codec nn.Save
// and nn.Load use too, so either side reads the other's files. Save writes atomically (temporary file, fsync, rename).
// Load and Read validate the whole file and return an error, never a panic,
// for a malformed or truncated one; Restore checks names, shapes and dtypes
// against the model before it copies anything into it.
//
// The model side is a map of live tensors (a module's state dict): Restore
// copies into them in place, on whatever device they live.
package checkpoint
