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

// medianBy is the median of f over xs.
func medianBy[T any](xs []T, f func(T) float64) float64 {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	return median(v)
}

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

// timeMedian runs f iters+1 times on c, each call started after a barrier,
// and returns the median of the last iters calls' times in seconds (the
// first warms up).
func timeMedian(ctx context.Context, c collectives.Comm, iters int, f func() error) (float64, error) {
	var ts []float64
	for i := range iters + 1 {
		if err := c.Barrier(ctx); err != nil {
			return 0, err
		}
		t0 := time.Now()
		if err := f(); err != nil {
			return 0, err
		}
		if i > 0 {
			ts = append(ts, time.Since(t0).Seconds())
		}
	}
	return median(ts), nil
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
			t, err := timeMedian(ctx, c, iters, func() error {
				switch op {
				case "allreduce":
					return c.AllReduce(ctx, big, collectives.Avg)
				case "allgather":
					return c.AllGather(ctx, big, small)
				case "reducescatter":
					return c.ReduceScatter(ctx, small, big, collectives.Avg)
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("%s %d B: %w", op, size, err)
			}
			out = append(out, scaling.Sample{Op: op, Algorithm: scaling.Ring, Ranks: n, Bytes: float64(4 * count), Seconds: t})
		}
	}
	// Rank 0's times on every rank, so every rank fits the same link.
	secs := make([]float64, len(out))
	for i, x := range out {
		secs[i] = x.Seconds
	}
	secs, err := fromRank0(ctx, c, secs)
	if err != nil {
		return nil, err
	}
	for i, v := range secs {
		out[i].Seconds = v
	}
	return out, nil
}

// fromRank0 is rank 0's xs on every rank of c (a broadcast of a copy; xs
// is left as it is; every rank passes as many values).
func fromRank0(ctx context.Context, c collectives.Comm, xs []float64) ([]float64, error) {
	t := tensor.FromSlice(slices.Clone(xs), len(xs))
	if err := c.Broadcast(ctx, t, 0); err != nil {
		return nil, err
	}
	return t.Float64s(), nil
}

// measured is one configuration's measured step on this world.
type measured struct {
	ms, minMs float64
	waitMs    float64            // time Step waited for communication, per step
	own       scaling.StepSample // the step without communication, alternating, rank 0's own time
	mean      scaling.StepSample // the same, the mean over the ranks of each rank's median
	buckets   []float64          // bytes, in the order the all-reduces start
	gradBytes float64
}

// measureConfig runs warmup+steps training steps of one configuration on c,
// alternating every step with a step of a plain replica of the model (same
// batch, no communication) on every rank, each started after a barrier, so
// that the calibration of the computation sees the same load as the
// measurement; the plain step is kept at rank 0's own time and as the mean
// over the ranks of each rank's median (the typical rank the prediction
// stretches by the straggler term). It returns rank 0's median (and
// fastest) step times.
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
	var times, ofw, obw, oop []float64
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
			ofw = append(ofw, t1.Sub(t0).Seconds())
			obw = append(obw, t2.Sub(t1).Seconds())
			oop = append(oop, t3.Sub(t2).Seconds())
		}
	}
	res.waitMs = float64((s.Stats().WaitTime - before.WaitTime).Microseconds()) / 1e3 / float64(steps)
	if err := s.Flush(); err != nil {
		return res, err
	}
	res.ms = median(times)
	res.minMs = slices.Min(times)
	res.own = scaling.StepSample{Batch: batch, Forward: median(ofw), Backward: median(obw), Optimizer: median(oop)}
	sum := tensor.FromSlice([]float64{res.own.Forward, res.own.Backward, res.own.Optimizer}, 3)
	if err := c.AllReduce(ctx, sum, collectives.Sum); err != nil {
		return res, err
	}
	v, n := sum.Float64s(), float64(c.Size())
	res.mean = scaling.StepSample{Batch: batch, Forward: v[0] / n, Backward: v[1] / n, Optimizer: v[2] / n}
	return res, nil
}

// syncCalib is the synchronisation calibration of one world: every rank
// runs the plain forward and backward of the model on its batch (no
// communication) at once, between barriers, and records the wall-clock time
// it left the barrier and the time its compute ended; rank 0 also records
// how long it then waited at the next barrier for the last rank.
type syncCalib struct {
	start, end [][]float64 // [step][rank], seconds on the machine's clock
	waitMs     float64     // rank 0's median wait at the barrier after its compute
	computeMs  float64     // rank 0's median compute
}

func syncSamples(ctx context.Context, c collectives.Comm, sizes []int, batch, warmup, steps int) (syncCalib, error) {
	var res syncCalib
	m := newMLP(sizes)
	params := nn.Params(m)
	x, y := batchData(sizes, batch, uint64(300+c.Rank()))
	own := make([]float64, 0, 2*steps)
	var waits, comps []float64
	for i := range warmup + steps {
		for _, p := range params {
			p.ZeroGrad()
		}
		if err := c.Barrier(ctx); err != nil {
			return res, err
		}
		t0 := time.Now()
		loss := nn.CrossEntropy(m.Forward(x), y)
		if err := loss.Backward(); err != nil {
			return res, err
		}
		t1 := time.Now()
		if err := c.Barrier(ctx); err != nil {
			return res, err
		}
		t2 := time.Now()
		if i >= warmup {
			// The machine's clock (one for every process on it).
			own = append(own, float64(t0.UnixNano())/1e9, float64(t1.UnixNano())/1e9)
			waits = append(waits, t2.Sub(t1).Seconds()*1e3)
			comps = append(comps, t1.Sub(t0).Seconds()*1e3)
		}
	}
	n := c.Size()
	// Subtract rank 0's first start so that float64 keeps the microseconds.
	base, err := fromRank0(ctx, c, own[:1])
	if err != nil {
		return res, err
	}
	b0 := base[0]
	for i := range own {
		own[i] -= b0
	}
	all := tensor.Zeros(tensor.Float64, n*len(own))
	if err := c.AllGather(ctx, all, tensor.FromSlice(own, len(own))); err != nil {
		return res, err
	}
	v := all.Float64s()
	for s := range steps {
		st, en := make([]float64, n), make([]float64, n)
		for r := range n {
			st[r] = v[r*2*steps+2*s]
			en[r] = v[r*2*steps+2*s+1]
		}
		res.start, res.end = append(res.start, st), append(res.end, en)
	}
	res.waitMs, res.computeMs = median(waits), median(comps)
	return res, nil
}

// p2pCalib is the calibration of the central parameter server's traffic on
// one world: send-receive from rank 1 to rank 0 at each size (the
// point-to-point link), the server's grouped receive from every worker
// (push) and grouped send to every worker (pull) at the largest size, as
// parallel/strategy's central-ps issues them, and the server's addition of
// a received gradient into its sum (tensor.AddInto) per byte.
type p2pCalib struct {
	samples        []scaling.Sample // "sendrecv"
	sendRecvMs     float64          // at the largest size
	pushMs, pullMs float64          // at the largest size
	addNsPerB      float64
	largestBytes   float64
}

// serverSum is the central server's reduction as parallel/strategy's
// central-ps runs it, rank 0's median times per byte of one gradient: the
// copy of its own gradient into the sum, each addition of a worker's
// gradient just received, and the scaling by 1/N.
type serverSum struct {
	CopyNsPerB  float64 `json:"copy_ns_per_byte"`
	AddNsPerB   float64 `json:"add_ns_per_byte"`
	ScaleNsPerB float64 `json:"scale_ns_per_byte"`
}

// serverSumSamples times the server's reduction on c on float32 vectors of
// elems elements: every iteration the workers send their vector to rank 0
// (the push, untimed), then rank 0 copies its own vector into the sum, adds
// the N−1 received ones and scales the sum, each timed (on one rank: the
// copy and the scaling). The buffers are those of the step: N−1 receive buffers, the
// server's own and the sum, so that the additions read what the receives
// just wrote, not a pair of vectors the cache already holds.
func serverSumSamples(ctx context.Context, c collectives.Comm, elems, iters int) (serverSum, error) {
	n := c.Size()
	g := tensor.NewGenerator(uint64(500 + c.Rank()))
	own := g.Normal(0, 1, tensor.Float32, elems)
	sum := tensor.ZerosLike(own)
	recv := make([]*tensor.Tensor, n-1)
	for i := range recv {
		recv[i] = tensor.ZerosLike(own)
	}
	var cp, add, sc []float64
	bytes := float64(4 * elems)
	adds := float64(max(1, n-1))
	calls := make([]collectives.Call, n-1)
	for w := 1; w < n; w++ {
		calls[w-1] = collectives.RecvCall(recv[w-1], w)
	}
	for i := range iters + 1 {
		if err := c.Barrier(ctx); err != nil {
			return serverSum{}, err
		}
		if c.Rank() != 0 {
			if err := c.Send(ctx, own, 0); err != nil {
				return serverSum{}, err
			}
			continue
		}
		if n > 1 {
			if err := c.Group(ctx, calls...); err != nil {
				return serverSum{}, err
			}
		}
		t0 := time.Now()
		sum.CopyFrom(own)
		t1 := time.Now()
		for _, b := range recv {
			tensor.AddInto(sum, sum, b)
		}
		t2 := time.Now()
		tensor.UnaryInto(tensor.OpAffine, sum, sum, 1/float64(n), 0)
		t3 := time.Now()
		if i > 0 {
			cp = append(cp, float64(t1.Sub(t0).Nanoseconds())/bytes)
			add = append(add, float64(t2.Sub(t1).Nanoseconds())/bytes/adds)
			sc = append(sc, float64(t3.Sub(t2).Nanoseconds())/bytes)
		}
	}
	if err := c.Barrier(ctx); err != nil {
		return serverSum{}, err
	}
	return serverSum{CopyNsPerB: median(cp), AddNsPerB: median(add), ScaleNsPerB: median(sc)}, nil
}

func p2pSamples(ctx context.Context, c collectives.Comm, minB, maxB, iters int) (p2pCalib, error) {
	var res p2pCalib
	n, r := c.Size(), c.Rank()
	var secs []float64
	for size := minB; size <= maxB; size *= 4 {
		count := size / 4
		buf := tensor.Full(1, tensor.Float32, count)
		bufs := make([]*tensor.Tensor, n)
		for i := range bufs {
			bufs[i] = tensor.Full(1, tensor.Float32, count)
		}
		t, err := timeMedian(ctx, c, iters, func() error {
			switch r {
			case 0:
				return c.Recv(ctx, bufs[1], 1)
			case 1:
				return c.Send(ctx, buf, 0)
			}
			return nil
		})
		if err != nil {
			return res, fmt.Errorf("sendrecv %d B: %w", size, err)
		}
		res.samples = append(res.samples, scaling.Sample{Op: "sendrecv", Algorithm: scaling.CentralPS, Ranks: n, Bytes: float64(4 * count)})
		secs = append(secs, t)
		if size*4 > maxB {
			res.largestBytes = float64(4 * count)
			push, err := timeMedian(ctx, c, iters, func() error {
				if r != 0 {
					return c.Send(ctx, buf, 0)
				}
				var calls []collectives.Call
				for w := 1; w < n; w++ {
					calls = append(calls, collectives.RecvCall(bufs[w], w))
				}
				return c.Group(ctx, calls...)
			})
			if err != nil {
				return res, fmt.Errorf("push %d B: %w", size, err)
			}
			pull, err := timeMedian(ctx, c, iters, func() error {
				if r != 0 {
					return c.Recv(ctx, bufs[0], 0)
				}
				var calls []collectives.Call
				for w := 1; w < n; w++ {
					calls = append(calls, collectives.SendCall(buf, w))
				}
				return c.Group(ctx, calls...)
			})
			if err != nil {
				return res, fmt.Errorf("pull %d B: %w", size, err)
			}
			add, err := timeMedian(ctx, c, iters, func() error {
				if r == 0 {
					tensor.AddInto(buf, buf, bufs[1])
				}
				return nil
			})
			if err != nil {
				return res, err
			}
			secs = append(secs, push, pull, add)
		}
	}
	// Rank 0's times on every rank.
	v, err := fromRank0(ctx, c, secs)
	if err != nil {
		return res, err
	}
	for i := range res.samples {
		res.samples[i].Seconds = v[i]
	}
	k := len(res.samples) - 1
	res.sendRecvMs = v[k] * 1e3
	res.pushMs, res.pullMs = v[k+1]*1e3, v[k+2]*1e3
	res.addNsPerB = v[k+3] * 1e9 / res.largestBytes
	return res, nil
}

// copySamples times a memory copy of the model's flat gradient (one
// tensor.CopyFrom of a float32 vector of its size, the copies the
// strategies make), between barriers, with every rank copying at once
// (together) and with rank 0 copying while the others wait (alone): rank
// 0's median time per byte over steps, in ns.
func copySamples(ctx context.Context, c collectives.Comm, sizes []int, warmup, steps int) (together, alone float64, err error) {
	elems := gradElems(sizes)
	g := tensor.NewGenerator(uint64(400 + c.Rank()))
	src := g.Normal(0, 1, tensor.Float32, elems)
	dst := tensor.ZerosLike(src)
	perB := func() float64 {
		t0 := time.Now()
		dst.CopyFrom(src)
		return float64(time.Since(t0).Nanoseconds()) / float64(4*elems)
	}
	var tg, al []float64
	for i := range warmup + steps {
		if err := c.Barrier(ctx); err != nil {
			return 0, 0, err
		}
		t := perB()
		if err := c.Barrier(ctx); err != nil {
			return 0, 0, err
		}
		a := 0.0
		if c.Rank() == 0 {
			a = perB()
		}
		if i >= warmup {
			tg, al = append(tg, t), append(al, a)
		}
	}
	if err := c.Barrier(ctx); err != nil {
		return 0, 0, err
	}
	return median(tg), median(al), nil
}

// gradElems is the number of parameters (and gradient elements) of the MLP.
func gradElems(sizes []int) int {
	elems := 0
	for _, p := range nn.Params(newMLP(sizes)) {
		elems += p.Value().NumElements()
	}
	return elems
}
