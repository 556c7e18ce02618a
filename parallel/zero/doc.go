// Package zero trains a module with the Zero Redundancy Optimizer
// (Rajbhandari et al., "ZeRO: Memory Optimizations Toward Training
// Trillion Parameter Models", SC 2020): data parallelism whose model
// states are partitioned across the ranks instead of replicated.
//
// Wrap(module, comm, Options{Stage: ...}) is the FSDP-style entry point.
// The trainable parameters are flattened per layer (the children of an
// nn.Sequential; any other module is one layer), each layer's flat layout
// padded to a multiple of the world size N and split into N contiguous
// shards; rank r owns shard r of every layer and updates only it:
//
//   - StageDP (0): plain data parallelism, gradients all-reduced as each
//     layer's gradients are final; 2Ψ of traffic.
//   - StageOptim (1): the optimizer state (and the float32 master weights
//     of 16-bit parameters) exists only for the shard; gradients are
//     reduce-scattered, the updated shards all-gathered; 2Ψ of traffic.
//   - StageGrads (2): + each layer's gradients are reduce-scattered into a
//     persistent shard as soon as the layer's backward is done, and the
//     full-size gradient buffer is dropped.
//   - StageParams (3): + the parameters exist only as shards; each layer
//     is all-gathered just before it runs in the forward pass (the next
//     layer's gather overlaps it) and again in the backward pass, into two
//     gather buffers that are reused; 3Ψ of traffic.
//
// Any element-wise optimizer of package optim works (the optimizer is
// built by Options.NewOptimizer over the shard's pieces); global-norm
// clipping spans the shards (Options.MaxGradNorm) and the optimizer state
// can live on the host (Options.Offload). Every buffer is charged to the
// rank's tensor.MemoryLedger by category, so Model.Ledger().Stats()
// measures the model-state bytes per rank that the paper's formulas
// predict (with Adam in mixed precision: DP 16Ψ, Z1 4Ψ+12Ψ/N, Z2 2Ψ+14Ψ/N,
// Z3 16Ψ/N); the gather and full-gradient buffers are MemoryOther.
//
// SaveSharded writes each rank's shard and a manifest; Consolidate merges
// the shards into one safetensors file that nn.Load reads into the
// unsharded module, and LoadSharded resumes on any world size.
package zero
