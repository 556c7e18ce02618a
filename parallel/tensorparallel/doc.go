// Package tensorparallel is Megatron-LM's tensor (intra-layer) model
// parallelism (Shoeybi et al., 2019): the weight matrices of a transformer
// are split across the ranks of a tensor-parallel group so that each rank
// holds and computes a slice, with two all-reduces per layer in the
// forward pass and two in the backward pass.
//
// The building blocks:
//
//   - the conjugate operators f (Copy: identity forward, all-reduce of the
//     gradient backward) and g (Reduce: all-reduce forward, identity
//     backward), and their sequence-parallel forms (GatherSequence,
//     ReduceScatterSequence, SplitSequence) and last-axis forms (GatherLast,
//     ScatterLast);
//   - ColumnParallelLinear (the output features split: Y_i = X A_i) and
//     RowParallelLinear (the input features split: Y = Σ_i X_i B_i, summed by
//     g), the parallel MLP (column then row, so GeLU stays local) and
//     attention with its heads split across the ranks (column-parallel Q,
//     K, V; nn.MultiHeadAttention over the local heads; a row-parallel
//     output projection);
//   - the vocabulary-parallel embedding (each rank holds a range of the
//     rows) and cross-entropy (computed from the local logits with three
//     all-reduces of [tokens] vectors, never gathering the logits);
//   - GPT, a tensor-parallel copy of nn.GPT cut from the full model, with
//     sequence parallelism (LayerNorm and dropout on a shard of the
//     sequence, all-gather and reduce-scatter in place of the all-reduces)
//     as an option.
//
// Partitions may be uneven (Partition): heads, hidden units and the
// vocabulary are divided as evenly as they can be, so any group size up to
// the number of heads works; only sequence parallelism and GatherLast need
// sizes divisible by the group.
//
// Errors: the operators run collectives inside forward and backward
// passes, which cannot return errors. A Group records the first failure,
// aborts its communicator (so peers fail instead of waiting) and skips its
// later collectives; check Group.Err after each step.
//
//	tp := tensorparallel.NewGroup(ctx, comm)          // the tensor-parallel communicator
//	m := tensorparallel.NewGPT(tp, nn.NewGPT(g, cfg), tensorparallel.Options{})
//	loss := m.Loss(m.Logits(idx), targets)             // same value on every rank
//	err := errors.Join(loss.Backward(), tp.Err())
package tensorparallel
