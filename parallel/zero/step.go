package zero

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/tessera-ml/tessera/amp"
	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/parallel"
	"github.com/tessera-ml/tessera/tensor"
)

// ringBytes is what one rank sends for a reduce-scatter or all-gather of
// a buffer of b bytes under the ring algorithm.
func (z *Model) ringBytes(b int64) int64 { return b * int64(z.size-1) / int64(z.size) }

// Forward runs the working module on x: its own Forward at stages 0 and
// 1, layer by layer from stage 2 on. At stage 3 each
// layer's parameters are all-gathered just before it runs (the next
// layer's gather is started meanwhile) into one of two gather buffers, so
// that at most two layers are whole at a time. From stage 2 on, a marker
// after each layer's output runs first in the backward pass of the layer:
// it gives the layer fresh gradient buffers and, at stage 3, gathers its
// parameters again (and prefetches the previous layer's).
func (z *Model) Forward(x *autograd.Var) *autograd.Var {
	z.phase++
	z.inBackward = false
	// Gradient accumulation: reductions of an earlier backward pass of
	// this step finish first, and the layers reduce again when the next
	// backward pass is done (a reduction is linear: the sum of what each
	// pass contributed is reduced once in total).
	for _, u := range z.units {
		if u.h != nil {
			z.collect(u)
			u.launched, u.pending = false, len(u.vars)
		}
	}
	if z.opts.Stage < StageGrads {
		return z.module.Forward(x) // the module's own Forward (and its fusions)
	}
	if z.layers == nil {
		return z.runUnit(z.units[0], func() *autograd.Var { return z.module.Forward(x) })
	}
	for i, l := range z.layers {
		ui := z.unitOf[i]
		if ui < 0 {
			x = l.Forward(x)
			continue
		}
		x = z.runUnit(z.units[ui], func() *autograd.Var { return l.Forward(x) })
	}
	return x
}

func (z *Model) runUnit(u *unit, f func() *autograd.Var) *autograd.Var {
	if z.opts.Stage == StageParams {
		z.waitGather(u)
		if u.idx+1 < len(z.units) {
			z.startGather(z.units[u.idx+1])
		}
	}
	y := f()
	if !y.RequiresGrad() {
		return y
	}
	return autograd.Record("zero.layer", y.Value(), []*autograd.Var{y}, func(_ *autograd.Ctx, g *autograd.Var) []*autograd.Var {
		z.beforeBackward(u)
		return []*autograd.Var{g}
	})
}

// startGather all-gathers unit u's parameters into its gather buffer.
func (z *Model) startGather(u *unit) {
	s := u.idx % 2
	if z.gathU[s] == u.idx && z.gathPhase[s] == z.phase {
		return // already gathered (or under way) in this pass
	}
	if h := z.gath[s]; h != nil {
		z.fail(h.Wait())
	}
	ctx, cancel := z.ctx()
	dst := z.slots[s].Narrow(0, 0, u.np)
	z.gath[s] = z.comm.Start(ctx, collectives.AllGatherCall(dst, u.shardP))
	go func(h *collectives.Handle) { <-h.Done(); cancel() }(z.gath[s])
	z.gathU[s], z.gathPhase[s] = u.idx, z.phase
	z.mu.Lock()
	z.stats.AllGatherBytes += z.ringBytes(int64(u.np * z.dt.Size()))
	z.mu.Unlock()
}

// waitGather returns when unit u's parameters are in its gather buffer.
func (z *Model) waitGather(u *unit) {
	z.startGather(u)
	s := u.idx % 2
	if h := z.gath[s]; h != nil {
		z.fail(h.Wait())
		z.gath[s] = nil
	}
}

// beforeBackward runs as the backward pass reaches unit u's layer.
func (z *Model) beforeBackward(u *unit) {
	if !z.inBackward {
		z.inBackward = true
		z.phase++
	}
	if z.opts.Stage == StageParams {
		z.waitGather(u)
		if u.idx > 0 {
			z.startGather(z.units[u.idx-1])
		}
	}
	if u.flatG != nil {
		z.collect(u) // a second backward before Step: reduce the first one's gradients
	}
	// at most two reductions in flight; the others' buffers come back
	for len(z.inflight) > 1 {
		z.collect(z.inflight[0])
	}
	u.flatG = z.take(&z.flatPool, z.maxNP).Narrow(0, 0, u.np)
	u.flatG.Device().Fill(u.flatG.Narrow(0, u.n, u.np-u.n).View(), 0) // the padding
	z.bindPersistent(u)
	u.pending, u.launched = len(u.vars), false
}

// ready is the gradient hook of unit u's Vars.
func (z *Model) ready(u *unit) {
	u.pending--
	if u.pending == 0 && !u.launched {
		z.launch(u)
	}
}

// launch starts the reduction of unit u's gradients.
func (z *Model) launch(u *unit) {
	u.launched = true
	for _, v := range u.vars {
		v.Grad() // a lazily zeroed gradient becomes zeros in the buffer
	}
	ctx, cancel := z.ctx()
	b := int64(u.np * z.dt.Size())
	var call collectives.Call
	if z.opts.Stage == StageDP {
		call = collectives.AllReduceCall(u.flatG, collectives.Avg)
		z.mu.Lock()
		z.stats.AllReduceBytes += 2 * z.ringBytes(b)
		z.mu.Unlock()
	} else {
		if z.opts.Stage >= StageGrads {
			u.redG = z.take(&z.redPool, z.maxShard).Narrow(0, 0, u.hi-u.lo)
			z.inflight = append(z.inflight, u)
		}
		call = collectives.ReduceScatterCall(u.redG, u.flatG, collectives.Avg)
		z.mu.Lock()
		z.stats.ReduceScatterBytes += z.ringBytes(b)
		z.mu.Unlock()
	}
	u.h = z.comm.Start(ctx, call)
	go func(h *collectives.Handle) { <-h.Done(); cancel() }(u.h)
}

// collect waits for unit u's reduction; from stage 2 on it adds the
// reduced shard into the persistent shard gradient and drops the full
// gradient buffer.
func (z *Model) collect(u *unit) {
	if u.h == nil {
		return
	}
	z.fail(u.h.Wait())
	u.h = nil
	if z.opts.Stage >= StageGrads {
		z.inflight = slices.DeleteFunc(z.inflight, func(x *unit) bool { return x == u })
		tensor.AddInto(u.shardG, u.shardG, u.redG)
		for _, v := range u.vars {
			v.SetGrad(nil)
		}
		z.give(&z.redPool, u.redG)
		z.give(&z.flatPool, u.flatG)
		u.redG, u.flatG = nil, nil
	}
}

// take returns a pooled buffer of n elements (a new one when the pool is
// empty); give returns a buffer (or a view of one) to its pool.
func (z *Model) take(pool *[]*tensor.Tensor, n int) *tensor.Tensor {
	if k := len(*pool); k > 0 {
		t := (*pool)[k-1]
		*pool = (*pool)[:k-1]
		return t
	}
	t := tensor.EmptyOn(z.dev, z.dt, n)
	z.ledger.Charge(t, tensor.MemoryOther)
	return t
}

func (z *Model) give(pool *[]*tensor.Tensor, t *tensor.Tensor) {
	if t != nil {
		*pool = append(*pool, tensor.FromView(tensor.View{Storage: t.Storage(), Shape: []int{t.Storage().Len()}, Strides: []int{1}}))
	}
}

// shardGrad is this rank's reduced gradient of unit u, [lo, hi).
func (z *Model) shardGrad(u *unit) *tensor.Tensor {
	switch z.opts.Stage {
	case StageDP:
		return u.flatG
	case StageOptim:
		return u.redG
	}
	return u.shardG
}

// Step finishes the gradient reductions, clips the gradients by their
// global norm (Options.MaxGradNorm), steps the optimizer on this rank's
// shard, brings the updated shard to every rank that needs it (stages 1
// and 2 all-gather the parameters; stage 3 gathers them in the next
// Forward) and zeroes the gradients. Call it on every rank after the
// backward pass (several backward passes accumulate).
func (z *Model) Step() error {
	err := tensor.Try(func() { z.step() })
	z.mu.Lock()
	err, z.err = joinErr(z.err, err), nil
	z.mu.Unlock()
	return err
}

func joinErr(a, b error) error {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	return fmt.Errorf("%w; %w", a, b)
}

func (z *Model) step() {
	for i := len(z.units) - 1; i >= 0; i-- {
		u := z.units[i]
		if !u.launched && (z.opts.Stage <= StageOptim || u.flatG != nil) {
			z.launch(u)
		}
	}
	for _, u := range z.units {
		z.collect(u)
	}
	if z.takeErr() != nil {
		return
	}
	// grad32 is unit u's reduced shard gradient in the optimizer's dtype
	// (float32 for 16-bit parameters) on its device: the shard itself, or
	// a conversion into a reused scratch buffer.
	grad32 := func(u *unit) *tensor.Tensor {
		g := z.shardGrad(u)
		if u.master == nil {
			return g
		}
		if z.scratch32 == nil {
			z.scratch32 = tensor.EmptyOn(u.master.Device(), z.masterDType(), z.maxShard)
			z.ledger.Charge(z.scratch32, tensor.MemoryOther)
		}
		return z.scratch32.Narrow(0, 0, u.hi-u.lo).CopyFrom(g.To(u.master.Device()))
	}
	coef := 1.0
	if sc := z.opts.Scaler; sc != nil {
		found := 0.0
		for _, u := range z.units {
			if !amp.AllFinite(z.shardGrad(u)) {
				found = 1
				break
			}
		}
		if z.size > 1 {
			t := tensor.FromSlice([]float64{found}, 1)
			ctx, cancel := z.ctx()
			z.fail(z.comm.AllReduce(ctx, t, collectives.Max))
			cancel()
			found = t.Item()
		}
		sc.RecordInf(found != 0)
		coef = 1 / sc.Scale()
		if found != 0 { // skip the step on every rank
			sc.Update()
			z.zeroGrad()
			z.mu.Lock()
			z.stats.Steps++
			z.stats.SkippedSteps++
			z.mu.Unlock()
			return
		}
		defer sc.Update()
	}
	if z.opts.MaxGradNorm > 0 {
		ss := 0.0
		for _, u := range z.units {
			ss += parallel.SquaredNorm(grad32(u)) * coef * coef
		}
		if z.opts.Stage > StageDP && z.size > 1 {
			t := tensor.FromSlice([]float64{ss}, 1)
			ctx, cancel := z.ctx()
			z.fail(z.comm.AllReduce(ctx, t, collectives.Sum))
			cancel()
			ss = t.Item()
			z.mu.Lock()
			z.stats.GradNormAllReduceOps++
			z.mu.Unlock()
		}
		if c := z.opts.MaxGradNorm / (math.Sqrt(ss) + 1e-6); c < 1 || math.IsNaN(c) {
			coef *= c
		}
	}
	// Step layer by layer (the optimizer's state is per piece, so this is
	// the update of one step over all of them), reusing the scratch.
	for _, u := range z.units {
		g := grad32(u)
		if coef != 1 {
			tensor.UnaryInto(tensor.OpAffine, g, g, coef, 0)
		}
		for k, p := range u.pieces {
			u.optV[k].SetGrad(g.Narrow(0, p.lo-u.lo, p.hi-p.lo))
		}
		err := z.opt.Step()
		for _, v := range u.optV {
			v.SetGrad(nil)
		}
		if err != nil {
			z.fail(err)
			return
		}
		if u.master != nil {
			u.shardP.CopyFrom(u.master.To(z.dev))
		}
	}
	if z.opts.Stage == StageOptim || z.opts.Stage == StageGrads {
		if z.agSrc == nil {
			z.agSrc = tensor.EmptyOn(z.dev, z.dt, z.maxShard)
			z.ledger.Charge(z.agSrc, tensor.MemoryOther)
		}
		for _, u := range z.units {
			src := z.agSrc.Narrow(0, 0, u.hi-u.lo).CopyFrom(u.shardP)
			ctx, cancel := z.ctx()
			z.fail(z.comm.AllGather(ctx, u.flatP, src))
			cancel()
			z.mu.Lock()
			z.stats.AllGatherBytes += z.ringBytes(int64(u.np * z.dt.Size()))
			z.mu.Unlock()
		}
	}
	z.zeroGrad()
	z.mu.Lock()
	z.stats.Steps++
	z.mu.Unlock()
}

func (z *Model) takeErr() error {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.err
}

// ZeroGrad zeroes the gradients (Step does it after the update).
func (z *Model) ZeroGrad() {
	for _, u := range z.units {
		z.collect(u)
	}
	z.zeroGrad()
}

func (z *Model) zeroGrad() {
	for _, u := range z.units {
		u.launched = false
		u.pending = len(u.vars)
		if z.opts.Stage <= StageOptim {
			for _, v := range u.vars {
				v.ZeroGrad()
			}
			z.bindPersistent(u)
			continue
		}
		u.shardG.Device().Fill(u.shardG.View(), 0)
	}
}

// GatherStateDict returns the module's parameters, whole, by name (every
// name a shared parameter is registered under), on every rank: a
// collective at stage 3, where each layer is all-gathered into a new
// tensor. Non-trainable parameters and buffers are read from the working
// module.
func (z *Model) GatherStateDict(ctx context.Context) (map[string]*tensor.Tensor, error) {
	sd := map[string]*tensor.Tensor{}
	for k, t := range z.module.StateDict() {
		sd[k] = t
	}
	for _, u := range z.units {
		full := u.flatP
		if z.opts.Stage == StageParams {
			full = tensor.EmptyOn(z.dev, z.dt, u.np)
			if err := z.comm.AllGather(ctx, full, u.shardP); err != nil {
				return nil, fmt.Errorf("zero: gathering layer %d: %w", u.idx, err)
			}
		}
		for k, pi := range u.params {
			p := z.params[pi]
			t := full.Narrow(0, u.offs[k], p.n).Reshape(p.shape...).Clone()
			for _, name := range p.names {
				sd[name] = t
			}
		}
	}
	return sd, nil
}
