// Package mesh arranges the ranks of a job into a three-dimensional
// process grid, data × pipeline × tensor (Megatron-LM's 3-D parallelism),
// and makes one sub-communicator per dimension with Comm.Split.
//
// World rank r has coordinates (d, p, t) with r = (d·P + p)·T + t: the
// tensor coordinate varies fastest, so a tensor-parallel group — whose
// all-reduces run in every layer, forward and backward — is made of
// neighbouring ranks (the GPUs of one node in Megatron's layout), a
// pipeline group strides by T and a data-parallel group by P·T.
//
//	m, err := mesh.New(ctx, world, mesh.Shape{Data: 2, Pipe: 2, Tensor: 2})
//	// m.Tensor: the ranks sharing this rank's layers' slices
//	// m.Pipe:   the stages of this rank's pipeline (rank = stage)
//	// m.Data:   the replicas that average gradients with this rank
package mesh
