package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/parallel/ddp"
	"github.com/tessera-ml/tessera/parallel/strategy"
	"github.com/tessera-ml/tessera/scaling"
	"github.com/tessera-ml/tessera/tensor"
)

func newMLP(sizes []int) nn.Module {
	g := tensor.NewGenerator(1)
	m := nn.NewSequential()
	for i := 0; i+1 < len(sizes); i++ {
		m.Append(nn.NewLinear(g, sizes[i], sizes[i+1], true))
		if i+2 < len(sizes) {
			m.Append(nn.NewReLU())
		}
	}
	return m
}

func newAdam(ps []*autograd.Var) *optim.Optimizer { return optim.NewAdam(ps, optim.Options{LR: 1e-3}) }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func batchData(sizes []int, b int, seed uint64) (*autograd.Var, *tensor.Tensor) {
	g := tensor.NewGenerator(seed)
	x := autograd.Constant(g.Normal(0, 1, tensor.Float32, b, sizes[0]))
	y := g.RandInt(0, int64(sizes[len(sizes)-1]), b)
	return x, y
}

// computeSamples times the forward pass, the backward pass and the Adam
// update of one rank (no communication) at each batch size: the fastest of
// steps timed steps after warmup untimed ones (the machine's own speed, as
// far as a shared machine shows it; this sweep feeds the fitted Compute of
// the scaling projections, the predictions of the table use the paired steps), with threads CPU threads (0:
// leave the bound as it is).
func computeSamples(sizes, batches []int, threads, warmup, steps int) []scaling.StepSample {
	if threads > 0 {
		defer tensor.SetThreads(tensor.SetThreads(threads))
	}
	m := newMLP(sizes)
	opt := newAdam(nn.Params(m))
	var out []scaling.StepSample
	for _, b := range batches {
		x, y := batchData(sizes, b, 7)
		var fw, bw, op []float64
		for i := range warmup + steps {
			opt.ZeroGrad()
			t0 := time.Now()
			loss := nn.CrossEntropy(m.Forward(x), y)
			_ = loss.Item()
			t1 := time.Now()
			if err := loss.Backward(); err != nil {
				panic(err)
			}
			t2 := time.Now()
			if err := opt.Step(); err != nil {
				panic(err)
			}
			t3 := time.Now()
			if i >= warmup {
				fw = append(fw, t1.Sub(t0).Seconds())
				bw = append(bw, t2.Sub(t1).Seconds())
				op = append(op, t3.Sub(t2).Seconds())
			}
		}
		out = append(out, scaling.StepSample{Batch: b, Forward: slices.Min(fw), Backward: slices.Min(bw), Optimizer: slices.Min(op)})
	}
	return out
}

// linkSamples times all-reduce, all-gather and reduce-scatter of float32
// buffers from minB to maxB bytes (×4) on c: the median of iters calls,
// each started after a barrier. Every rank returns the same samples (rank
// 0's times).
func linkSamples(ctx context.Context, c collectives.Comm, minB, maxB, iters int) ([]scaling.Sample, error) {
	n := c.Size()
	var out []scaling.Sample
	for _, op := range []string{"allreduce", "allgather", "reducescatter"} {
		for size := minB; size <= maxB; size *= 4 {
			count := size / 4
			count -= count % n
			big := tensor.Full(1, tensor.Float32, count)
			small := tensor.Full(1, tensor.Float32, count/n)
			var ts []float64
			for i := range iters + 1 {
				if err := c.Barrier(ctx); err != nil {
					return nil, err
				}
				t0 := time.Now()
				var err error
				switch op {
				case "allreduce":
					err = c.AllReduce(ctx, big, collectives.Avg)
				case "allgather":
					err = c.AllGather(ctx, big, small)
				case "reducescatter":
					err = c.ReduceScatter(ctx, small, big, collectives.Avg)
				}
				if err != nil {
					return nil, fmt.Errorf("%s %d B: %w", op, size, err)
				}
				if i > 0 {
					ts = append(ts, time.Since(t0).Seconds())
				}
			}
			out = append(out, scaling.Sample{Op: op, Algorithm: scaling.Ring, Ranks: n, Bytes: float64(4 * count), Seconds: median(ts)})
		}
	}
	// Rank 0's times on every rank, so every rank fits the same link.
	secs := tensor.FromSlice(func() []float64 {
		s := make([]float64, len(out))
		for i, x := range out {
			s[i] = x.Seconds
		}
		return s
	}(), len(out))
	if err := c.Broadcast(ctx, secs, 0); err != nil {
		return nil, err
	}
	for i, v := range secs.Float64s() {
		out[i].Seconds = v
	}
	return out, nil
}

// measured is one configuration's measured step on this world.
type measured struct {
	ms, minMs float64
	waitMs    float64            // time Step waited for communication, per step
	compute   scaling.StepSample // the same rank's step without communication, alternating
	buckets   []float64          // bytes, in the order the all-reduces start
	gradBytes float64
}

// measureConfig runs warmup+steps training steps of one configuration on c,
// alternating every step with a step of a plain replica of the model (same
// batch, no communication) on every rank, each started after a barrier, so
// that the calibration of the computation sees the same load as the
// measurement; a plain step counts at the time of the slowest rank, which a
// synchronous step waits for. It returns rank 0's median (and fastest) times.
func measureConfig(ctx context.Context, c collectives.Comm, sizes []int, cf config, batch, warmup, steps int) (measured, error) {
	var res measured
	s, err := strategy.New(cf.strategy, newMLP(sizes), c, strategy.Options{
		NewOptimizer: newAdam,
		DDP:          ddp.Options{BucketCapMiB: cf.bucketMiB, FirstBucketMiB: min(1, cf.bucketMiB), NoOverlap: !cf.overlap},
	})
	if err != nil {
		return res, err
	}
	for _, p := range nn.Params(s.Model()) {
		res.gradBytes += float64(4 * p.Value().NumElements())
	}
	if d := strategy.DDP(s); d != nil {
		for _, b := range d.Buckets() {
			res.buckets = append(res.buckets, float64(b.Bytes))
		}
	}
	plain := newMLP(sizes)
	popt := newAdam(nn.Params(plain))
	x, y := batchData(sizes, batch, uint64(100+c.Rank()))
	m := s.Model()
	var times, fw, bw, op []float64
	var before strategy.Stats
	for i := range warmup + steps {
		if i == warmup {
			before = s.Stats()
		}
		if err := c.Barrier(ctx); err != nil {
			return res, err
		}
		popt.ZeroGrad()
		t0 := time.Now()
		loss := nn.CrossEntropy(plain.Forward(x), y)
		_ = loss.Item()
		t1 := time.Now()
		if err := loss.Backward(); err != nil {
			return res, err
		}
		t2 := time.Now()
		if err := popt.Step(); err != nil {
			return res, err
		}
		t3 := time.Now()
		// A synchronous step waits for the slowest rank: keep the largest
		// plain step over the ranks (rank 0's split into forward, backward
		// and update, scaled to it).
		mx := tensor.FromSlice([]float64{t3.Sub(t0).Seconds()}, 1)
		if err := c.AllReduce(ctx, mx, collectives.Max); err != nil {
			return res, err
		}
		slow := mx.Float64s()[0] / t3.Sub(t0).Seconds()
		if err := c.Barrier(ctx); err != nil {
			return res, err
		}
		t4 := time.Now()
		loss = nn.CrossEntropy(m.Forward(x), y)
		if err := loss.Backward(); err != nil {
			return res, err
		}
		if err := s.Step(); err != nil {
			return res, err
		}
		if i >= warmup {
			times = append(times, time.Since(t4).Seconds()*1e3)
			fw = append(fw, slow*t1.Sub(t0).Seconds())
			bw = append(bw, slow*t2.Sub(t1).Seconds())
			op = append(op, slow*t3.Sub(t2).Seconds())
		}
	}
	res.waitMs = float64((s.Stats().WaitTime - before.WaitTime).Microseconds()) / 1e3 / float64(steps)
	if err := s.Flush(); err != nil {
		return res, err
	}
	res.ms = median(times)
	res.minMs = slices.Min(times)
	res.compute = scaling.StepSample{Batch: batch, Forward: median(fw), Backward: median(bw), Optimizer: median(op)}
	return res, nil
}
