// Package scaling holds the two models of course module 1 (batch size and
// scalability):
//
//   - NoiseScale estimates the simple gradient noise scale
//     B_simple = tr(Σ)/|G|² of McCandlish et al., "An Empirical Model of
//     Large-Batch Training" (2018), appendix A: the batch size around which
//     doubling the batch stops halving the number of steps. It takes squared
//     gradient norms measured at two batch sizes — in data-parallel training
//     a rank's own gradient (B_small = per-rank batch) and the all-reduced one
//     (B_big = global batch) come for free — forms the unbiased estimates of
//     |G|² and tr(Σ) from E|G_B|² = |G|² + tr(Σ)/B, and keeps an exponential
//     moving average of each before dividing (|G|² alone is often negative).
//     Accumulator gives the two norms from k micro-batches in one process;
//     ObserveRanks takes them from data-parallel ranks (each rank's own
//     squared norm, averaged by one scalar all-reduce, and the averaged
//     gradient's).
//
//   - CostModel is an α-β-γ model of a data-parallel training step (Hockney's
//     α-β model with Thakur, Rabenseifner and Gropp's collective algorithms,
//     2005): compute time per sample and a fixed per-step cost measured on one
//     rank, latency α and inverse bandwidth β of the link, γ per byte reduced,
//     the cost factors of ring, tree, recursive-doubling and
//     Rabenseifner (reduce-scatter + all-gather) all-reduce and of central and
//     sharded parameter servers, and the overlap of bucketed all-reduces with
//     the backward pass. It predicts the step time, speed-up and efficiency
//     of N ranks for a given link (Links lists 10/25/100 Gb/s Ethernet,
//     InfiniBand HDR and NVLink), for strong scaling (fixed global batch) and
//     weak scaling (fixed batch per rank). FitLink and FitCompute calibrate it
//     from measured collective and one-rank step times by least squares and
//     report the fit error. A synchronous step waits for its slowest rank:
//     SyncFactor stretches the compute by the expected maximum of p draws
//     (ExpectedMax, order statistics) of the per-rank arrival distribution
//     that Arrivals takes from a calibration of ranks computing at once
//     between barriers. The central parameter server's traffic can have its
//     own ServerLink (send-receive α and β, the server's addition γ).
//     Overlap of the CPU backends' collectives with backward needs idle
//     cores (Cores, Threads, OverlapShare), and the strategies' copies of
//     flat vectors cost CopyBytes at a measured CopySecPerByte.
//
// A sketch:
//
//	ns := scaling.NewNoiseScale(0.95)
//	ns.Observe(bSmall, gSmallSq, bBig, gBigSq) // every few steps
//	fmt.Println(ns.BSimple())
//
//	m := scaling.CostModel{Compute: comp, Link: scaling.Ethernet10G, Algorithm: scaling.Ring,
//		GradBytes: 4 * params, Buckets: 2, Overlap: true}
//	fmt.Println(m.Step(8, 64).Total, m.SpeedUpStrong(8, 512))
package scaling
