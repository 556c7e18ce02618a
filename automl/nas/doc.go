// Package nas is neural architecture search over a small cell search space
// (course module 5): DARTS (Liu et al. 2019) with first-order and
// second-order (unrolled, finite-difference Hessian-vector product)
// bilevel optimisation, and regularized (aging) evolution (Real et al.
// 2019) with a trial budget, over the same space.
//
// A cell has Nodes intermediate nodes; node i sums operations applied to
// earlier nodes or the cell input, and the cell outputs the mean of its
// nodes. The operations (Ops) are zero, skip, 3x3 and 5x5 convolutions
// (ReLU-conv-BatchNorm) and 3x3 max and average pooling. The supernet
// (NewSuperNet) puts a softmax(α)-weighted mixture of all operations on
// every edge; Derive discretises α as DARTS does (per node, the two
// strongest edges with their strongest non-zero operation). A Genotype is
// a discrete cell; NewNetwork builds the classifier around copies of it
// (stem, cells with 2x2 max pooling between them, pooling to 2x2, linear),
// for the 8x8 digits.
//
//	tr, va := nas.FromDataset(train, tensor.Float32).Split(1, 718)
//	res, err := nas.DARTS(ctx, tr, va, 10, nas.DARTSConfig{Nodes: 4, Channels: 8, Cells: 2, Epochs: 10, Batch: 64,
//		WLR: 0.05, WMomentum: 0.9, AlphaLR: 3e-3, SecondOrder: true})
//	net := nas.NewNetwork(tensor.NewGenerator(1), res.Genotype, 16, 2, 10)
package nas
