package autograd

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/tessera-ml/tessera/tensor"
)

// BackwardFunc is the backward rule of an op: given the gradient of the
// op's output it returns one gradient per input (nil where an input needs
// none, see Ctx.NeedsGrad). Rules must reach the op's inputs and output
// only through ctx (never through Vars captured by the closure) and must
// compute with autograd ops, so the same rule serves first-order passes
// (where the Vars it sees are constants and nothing is recorded) and
// create-graph passes (where the gradient is itself differentiable).
type BackwardFunc func(ctx *Ctx, g *Var) []*Var

type node struct {
	op       string
	inputs   []*Var
	out      *Var
	backward BackwardFunc
	released bool
	// pure: the rule is one of this package's (record), which keeps no
	// reference to its output gradient after it returns, so the pass may
	// recycle that gradient's buffer once the rule is done with it.
	pure bool
}

// Ctx gives a backward rule its op's inputs and output.
type Ctx struct {
	n      *node
	create bool
	p      *pass
}

// GradBuffer returns a tensor that the rule may overwrite with input i's
// gradient and then return (wrapped in Constant), instead of allocating
// one: the existing gradient buffer of a leaf whose gradient ZeroGrad
// marked as zero, when this op is the leaf's only consumer in a Backward
// pass that accumulates into Grad. Its contents are undefined and must be
// overwritten entirely. It returns nil in every other case (create-graph
// passes, Grad, non-leaves, leaves with a pending or non-zero gradient, a
// buffer another concurrent pass has already taken), and the rule then
// returns a new tensor as usual.
//
// The buffer is claimed for this pass until the pass stores the leaf's
// gradient, which it does as soon as the rule returns: meanwhile other
// passes and readers of the leaf's gradient wait, so concurrent graphs
// that share leaves accumulate correctly.
func (c *Ctx) GradBuffer(i int) *tensor.Tensor {
	p := c.p
	if p == nil || c.create || !p.accumulate {
		return nil
	}
	v := c.n.inputs[i]
	if v.node != nil || !v.requiresGrad || v.retainGrad {
		return nil
	}
	if _, ok := p.capture[v]; ok {
		return nil
	}
	st := p.states[v]
	if st == nil || st.deps != 1 || st.grad != nil || st.finalized {
		return nil
	}
	for j, in := range c.n.inputs {
		if j != i && in == v {
			return nil
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.claim == p {
		return v.grad
	}
	g := v.grad
	if v.claim != nil || !v.gradZero || !v.gradOwned || g == nil || !g.IsContiguous() || g.DType() != v.value.DType() ||
		g.Device() != v.value.Device() || !g.SameShape(v.value) {
		return nil
	}
	if v.released == nil {
		v.released = sync.NewCond(&v.mu)
	}
	v.claim = p
	p.claims = append(p.claims, v)
	return g
}

// emptyLike returns a new contiguous tensor with t's device, dtype and
// shape for a rule to overwrite entirely and return as (part of) a
// gradient: a backward temporary where the pass makes one (pass.tempLike).
// The caller must write every element.
func (c *Ctx) emptyLike(t *tensor.Tensor) *tensor.Tensor {
	if c.p != nil {
		if r := c.p.tempLike(t); r != nil {
			return r
		}
	}
	return tensor.EmptyLike(t)
}

// resultFor returns the tensor a rule of one input writes its result into,
// elementwise from g (the gradient of the op's output, which the rule must
// not read again afterwards): g's own buffer when the pass can donate it
// (in the spirit of JAX's buffer donation), else a new temporary like g.
// g is donated when it is this node's gradient in a first-order pass, the
// node is a pure one of one input (so no other part of the rule reads g),
// and its buffer is a backward temporary of this pass, contiguous, that no
// other gradient of the pass views and that was never handed out: nothing
// else can see the write.
func (c *Ctx) resultFor(g *Var) *tensor.Tensor {
	p := c.p
	if p != nil && !c.create && c.n.pure && len(c.n.inputs) == 1 {
		t := g.value
		if st := p.states[c.n.out]; st != nil && st.grad == g && t.IsContiguous() {
			want := tempBit + 1 // this node's state views it
			if st.owned {
				want = tempBit // owned gradients are not counted
			}
			if p.refs[t.Storage()] == want {
				return t
			}
		}
	}
	return c.emptyLike(g.value)
}

// in returns the value of input i (a first-order pass's Input without the
// Constant wrapper).
func (c *Ctx) in(i int) *tensor.Tensor { return c.n.inputs[i].value }

// Input returns input i of the op: the recorded Var in a create-graph pass,
// a constant holding its value otherwise.
func (c *Ctx) Input(i int) *Var {
	v := c.n.inputs[i]
	if c.create {
		return v
	}
	return Constant(v.value)
}

// Output returns the op's output (recorded Var or constant, as Input).
func (c *Ctx) Output() *Var {
	if c.create {
		return c.n.out
	}
	return Constant(c.n.out.value)
}

// NeedsGrad reports whether input i needs a gradient.
func (c *Ctx) NeedsGrad(i int) bool { return c.n.inputs[i].requiresGrad }

// CreateGraph reports whether the pass records the gradient computation.
func (c *Ctx) CreateGraph() bool { return c.create }

// Record makes a Var holding value, the result of op applied to inputs,
// and records backward as its rule when recording is enabled and some
// input requires a gradient. Every op in this package is built on it; other
// packages use it for fused ops of their own.
func Record(op string, value *tensor.Tensor, inputs []*Var, backward BackwardFunc) *Var {
	return record(op, value, inputs, backward, false)
}

// record is Record for this package's ops, whose rules are pure (see node).
func record(op string, value *tensor.Tensor, inputs []*Var, backward BackwardFunc, pure bool) *Var {
	v := &Var{value: value, seq: seqCounter.Add(1)}
	if !value.DType().IsFloat() || !IsGradEnabled() {
		return v
	}
	for _, in := range inputs {
		if in.requiresGrad {
			v.requiresGrad = true
			v.node = &node{op: op, inputs: inputs, out: v, backward: backward, pure: pure}
			tensor.MarkActivation(value)
			break
		}
	}
	return v
}

// BackwardOpts are the options of a backward pass.
type BackwardOpts struct {
	// RetainGraph keeps the graph so another pass can run through it;
	// otherwise its rules are dropped and a second pass reports an error.
	RetainGraph bool
	// CreateGraph records the backward computation itself, so gradients
	// (GradVar, or the results of Grad) can be differentiated again. It
	// implies RetainGraph.
	CreateGraph bool
}

// ErrGraphFreed is returned by a backward pass that reaches a graph already
// run through without RetainGraph.
var ErrGraphFreed = errors.New("autograd: backward through a graph that was already freed (use BackwardOpts{RetainGraph: true} for the first pass)")

// Backward computes the gradient of v with respect to every leaf it depends
// on and adds it to the leaves' Grad. v must be a one-element Var unless an
// output gradient of v's shape is given.
func (v *Var) Backward(grad ...*tensor.Tensor) error {
	return v.BackwardWith(BackwardOpts{}, grad...)
}

// BackwardWith is Backward with options.
func (v *Var) BackwardWith(opts BackwardOpts, grad ...*tensor.Tensor) error {
	if len(grad) > 1 {
		return fmt.Errorf("autograd: Backward takes at most one output gradient, have %d", len(grad))
	}
	var gs []*tensor.Tensor
	if len(grad) == 1 {
		gs = []*tensor.Tensor{grad[0]}
	}
	return Backward([]*Var{v}, gs, opts)
}

// Backward runs one backward pass from several outputs at once (grads may be
// nil, or hold nil entries, for one-element outputs) and accumulates into
// the leaves' gradients.
func Backward(outputs []*Var, grads []*tensor.Tensor, opts BackwardOpts) error {
	seeds := make([]*Var, len(outputs))
	for i := range outputs {
		if i < len(grads) && grads[i] != nil {
			seeds[i] = Constant(grads[i])
		}
	}
	p, err := newPass(outputs, seeds, opts, true, nil)
	if err != nil {
		return err
	}
	return p.run()
}

// Grad returns the gradients of outputs with respect to inputs, like
// torch.autograd.grad, without touching any Var's Grad and without running
// hooks. gradOutputs may be nil (one-element outputs) or hold one
// gradient per output; with CreateGraph they may themselves require
// gradients, and the results are differentiable. An input the outputs do
// not depend on gets zeros.
func Grad(outputs, inputs []*Var, gradOutputs []*Var, opts BackwardOpts) ([]*Var, error) {
	seeds := make([]*Var, len(outputs))
	for i := range outputs {
		if i < len(gradOutputs) {
			seeds[i] = gradOutputs[i]
		}
	}
	capture := map[*Var][]int{}
	for i, in := range inputs {
		capture[in] = append(capture[in], i)
	}
	p, err := newPass(outputs, seeds, opts, false, capture)
	if err != nil {
		return nil, err
	}
	p.results = make([]*Var, len(inputs))
	if err := p.run(); err != nil {
		return nil, err
	}
	for i, r := range p.results {
		if r == nil {
			p.results[i] = Constant(tensor.ZerosLike(inputs[i].value))
		}
	}
	return p.results, nil
}

type gstate struct {
	deps      int
	grad      *Var
	owned     bool // grad is a buffer this pass allocated (safe to add into)
	finalized bool
	stored    bool // finalizeLeaf ran
	visited   bool // collect reached the Var
}

type pass struct {
	create, retain, accumulate bool
	roots                      []*Var
	seeds                      []*Var
	states                     map[*Var]*gstate
	slab                       []gstate // backs the states, allocated in chunks
	order                      []*Var   // non-leaf Vars, descending seq
	// refs counts, per storage, the gradients of this pass's states that
	// view it and are not owned (plus pins, see add), and marks with
	// tempBit the backward temporaries (tempLike) that may be recycled
	// when the count drops to zero (see release).
	refs    map[tensor.Storage]int
	capture map[*Var][]int
	results []*Var
	claims  []*Var // leaves whose buffer this pass claimed (Ctx.GradBuffer)
	done    []*Var // leaves finalized by the current node (reused)
	finals  []*tensor.Tensor
}

func newPass(outputs, seeds []*Var, opts BackwardOpts, accumulate bool, capture map[*Var][]int) (*pass, error) {
	p := &pass{
		create:     opts.CreateGraph,
		retain:     opts.RetainGraph || opts.CreateGraph,
		accumulate: accumulate,
		states:     make(map[*Var]*gstate, 16),
		refs:       make(map[tensor.Storage]int, 8),
		capture:    capture,
	}
	for i, o := range outputs {
		if o == nil {
			return nil, fmt.Errorf("autograd: output %d is nil", i)
		}
		if !o.requiresGrad {
			return nil, fmt.Errorf("autograd: output %d (%v) does not require a gradient", i, o)
		}
		s := seeds[i]
		if s == nil {
			if o.value.NumElements() != 1 {
				return nil, fmt.Errorf("autograd: output %d has shape %v; an output gradient is needed for outputs with more than one element", i, o.value.Shape())
			}
			// the pass's own seed: a backward temporary like the others
			// where the pass makes them
			t := p.tempLike(o.value)
			if t == nil {
				t = tensor.EmptyLike(o.value)
			}
			t.Device().Fill(t.View(), 1)
			s = Constant(t)
		} else if !s.value.SameShape(o.value) {
			return nil, fmt.Errorf("autograd: output gradient %d has shape %v, output has %v", i, s.value.Shape(), o.value.Shape())
		}
		if s.value.DType() != o.value.DType() {
			s = Cast(s, o.value.DType())
		}
		p.roots = append(p.roots, o)
		p.seeds = append(p.seeds, s)
	}
	p.collect()
	return p, nil
}

func (p *pass) state(v *Var) *gstate {
	st := p.states[v]
	if st == nil {
		if len(p.slab) == cap(p.slab) {
			p.slab = make([]gstate, 0, min(max(16, 2*cap(p.slab)), 1024))
		}
		p.slab = p.slab[:len(p.slab)+1]
		st = &p.slab[len(p.slab)-1]
		p.states[v] = st
	}
	return st
}

// collect finds every Var that requires a gradient and is reachable from
// the roots, counts how many recorded edges consume each, and orders the
// non-leaves by descending creation number (a deterministic topological order).
func (p *pass) collect() {
	stack := append(make([]*Var, 0, len(p.roots)+16), p.roots...)
	p.order = make([]*Var, 0, 16)
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		st := p.state(v)
		if st.visited {
			continue
		}
		st.visited = true
		if v.node == nil {
			continue
		}
		p.order = append(p.order, v)
		for _, in := range v.node.inputs {
			if in.requiresGrad {
				is := p.state(in)
				is.deps++
				if !is.visited {
					stack = append(stack, in)
				}
			}
		}
	}
	slices.SortFunc(p.order, func(a, b *Var) int {
		switch {
		case a.seq > b.seq:
			return -1
		case a.seq < b.seq:
			return 1
		}
		return 0
	})
}

func (p *pass) run() error {
	// Check the whole graph first, so a failing pass changes nothing.
	for _, v := range p.order {
		if v.node.released {
			return fmt.Errorf("%w: op %s", ErrGraphFreed, v.node.op)
		}
	}
	// A rule that panics (or a pass that stops early) must not keep a
	// buffer claimed: others would wait for it forever.
	defer p.releaseClaims()
	// Gradients keep the dtypes of the forward values: no autocast here.
	defer suspendAutocast()()
	for i, r := range p.roots {
		// a seed is the caller's tensor unless the pass made it (newPass)
		s := p.seeds[i]
		p.add(r, s, !p.isTemp(s.value))
	}
	p.done = p.done[:0]
	for _, r := range p.roots {
		if st := p.states[r]; r.node == nil && st.deps == 0 && !st.finalized {
			st.finalized = true
			p.done = append(p.done, r)
		}
	}
	p.finalizeLeaves()
	ctxs := make([]Ctx, len(p.order))
	for k, v := range p.order {
		st := p.states[v]
		n := v.node
		g := st.grad
		if idx, ok := p.capture[v]; ok && g != nil {
			p.keep(g.value)
			for _, i := range idx {
				p.results[i] = p.result(g)
			}
		}
		if g != nil && v.retainGrad && p.accumulate {
			if p.create {
				p.storeGrad(v, g, false)
			} else {
				p.storeGrad(v, Constant(g.value.Clone()), true)
			}
		}
		if g != nil {
			ctxs[k] = Ctx{n: n, create: p.create, p: p}
			grads := n.backward(&ctxs[k], g)
			for i, in := range n.inputs {
				if !in.requiresGrad || i >= len(grads) || grads[i] == nil {
					continue
				}
				gi := grads[i]
				if !gi.value.SameShape(in.value) {
					panic(tensor.Errorf("autograd.Backward", "backward of %s returned gradient of shape %v for input %d of shape %v", n.op, gi.value.Shape(), i, in.value.Shape()))
				}
				if gi.value.DType() != in.value.DType() {
					gi = Cast(gi, in.value.DType())
				}
				p.add(in, gi, false)
			}
			if !p.create && !st.owned {
				p.refs[g.value.Storage()]--
			}
			if n.pure {
				p.release(g.value)
			}
			st.grad = nil
		}
		p.done = p.done[:0]
		for _, in := range n.inputs {
			if !in.requiresGrad {
				continue
			}
			is := p.states[in]
			is.deps--
			if is.deps == 0 && in.node == nil && !is.finalized {
				is.finalized = true
				p.done = append(p.done, in)
			}
		}
		p.finalizeLeaves()
		if !p.retain {
			// Drop the rule and the references to inputs, so the graph's
			// tensors can be collected even while v itself stays reachable.
			n.backward, n.inputs, n.out, n.released = nil, nil, nil, true
		}
	}
	return nil
}

// add accumulates g into v's gradient buffer for this pass.
func (p *pass) add(v *Var, g *Var, external bool) {
	st := p.state(v)
	switch {
	case st.grad == nil:
		st.grad, st.owned = g, false
		if !p.create {
			p.refs[g.value.Storage()]++
			if external {
				p.refs[g.value.Storage()]++ // never hand the caller's tensor to a leaf
			}
		}
	case p.create:
		st.grad = Add(st.grad, g)
	case st.owned:
		tensor.AddInto(st.grad.value, st.grad.value, g.value)
		p.release(g.value)
	default:
		old := st.grad.value
		p.refs[old.Storage()]--
		var sum *tensor.Tensor
		if t := p.tempLike(old); t != nil {
			sum = tensor.AddInto(t, old, g.value)
		} else {
			sum = tensor.Add(old, g.value)
		}
		st.grad, st.owned = Constant(sum), true
		p.release(old)
		p.release(g.value)
	}
}

// tempPool caches the backward temporaries of every pass: small CPU
// gradients that one rule produced and the pass knows to be dead once the
// next rule has consumed them (see release), for the next temporary of the
// same dtype and size, in this pass or a later one. tensor.Pool is safe
// for concurrent passes.
var tempPool tensor.Pool

// tempBit marks a backward temporary in refs, far above any count of
// views (and within a 32-bit int).
const tempBit = 1 << 30

// tempLike returns a new backward temporary with t's dtype and shape,
// contiguous and dirty, from tempPool and registered in refs as this
// pass's own; nil where the pass makes none (a create-graph pass, a tensor
// off the CPU), and the caller then allocates as usual.
func (p *pass) tempLike(t *tensor.Tensor) *tensor.Tensor {
	if p.create || t.Device() != tensor.CPU {
		return nil
	}
	r := tempPool.GetLike(t)
	p.refs[r.Storage()] = tempBit
	return r
}

// isTemp reports whether t's storage is a backward temporary of this pass
// that was never handed out (see keep).
func (p *pass) isTemp(t *tensor.Tensor) bool { return p.refs[t.Storage()]&tempBit != 0 }

// keep makes t's storage a buffer this pass never recycles: it is handed
// out (a leaf's gradient, a result of Grad).
func (p *pass) keep(t *tensor.Tensor) {
	if p.isTemp(t) {
		p.refs[t.Storage()] &^= tempBit
	}
}

// release gives t's storage back to tempPool when it is a backward
// temporary of this pass that no gradient of the pass views any more: no
// state holds it (its count is zero), it was never handed out (keep), and
// the rule that consumed it was a pure one (the caller checks) or it was
// consumed by an accumulation. Only this pass knew the temporary (tempLike
// made it for a rule's result, a sum or the seed, and it travelled only as
// gradients of this pass's states), so nothing else can reach it.
func (p *pass) release(t *tensor.Tensor) {
	if p.create {
		return
	}
	s := t.Storage()
	if p.refs[s] != tempBit {
		return
	}
	delete(p.refs, s)
	tempPool.Put(t)
}

// count is the number of states viewing storage s (refs without the mark).
func (p *pass) count(s tensor.Storage) int { return p.refs[s] &^ tempBit }

func (p *pass) result(g *Var) *Var {
	if p.create {
		return g
	}
	return Constant(g.value)
}

// exclusive returns a contiguous gradient tensor no other buffer shares.
func (p *pass) exclusive(g *Var, owned bool) *tensor.Tensor {
	t := g.value
	if owned {
		return t
	}
	if !t.IsContiguous() || p.count(t.Storage()) > 1 {
		p.refs[t.Storage()]--
		return t.Clone()
	}
	return t
}

// finalizeLeaves stores the final gradients of the leaves in p.done and
// then runs their hooks, in order. Leaves whose buffer this pass claimed
// are stored first and every claim is released before the others are
// stored (which may wait for another pass's claim) and before any hook
// runs, so a pass never waits while it holds a claim.
func (p *pass) finalizeLeaves() {
	if len(p.done) == 0 {
		p.releaseClaims()
		return
	}
	p.finals = slices.Grow(p.finals[:0], len(p.done))[:len(p.done)]
	if len(p.claims) > 0 {
		for i, v := range p.done {
			if slices.Contains(p.claims, v) {
				p.finals[i] = p.finalizeLeaf(v)
			}
		}
		p.releaseClaims()
	}
	for i, v := range p.done {
		if !p.states[v].stored {
			p.finals[i] = p.finalizeLeaf(v)
		}
	}
	for i, v := range p.done {
		final := p.finals[i]
		if final == nil {
			continue
		}
		v.mu.Lock()
		hooks := slices.Clone(v.hooks)
		v.mu.Unlock()
		for _, h := range hooks {
			h(final)
		}
	}
	clear(p.finals)
}

// finalizeLeaf hands v's gradient to the capture results and stores it in
// v's Grad; it returns the stored gradient (nil when nothing was stored).
func (p *pass) finalizeLeaf(v *Var) *tensor.Tensor {
	st := p.states[v]
	st.stored = true
	g := st.grad
	if g == nil {
		return nil
	}
	p.keep(g.value)
	if idx, ok := p.capture[v]; ok {
		for _, i := range idx {
			p.results[i] = p.result(g)
		}
	}
	if !p.accumulate {
		return nil
	}
	return p.storeGrad(v, g, st.owned)
}

// releaseClaims gives up every buffer claim p still holds. A claimed
// buffer that was not stored stays logically zero (gradZero), whatever the
// rule wrote into it.
func (p *pass) releaseClaims() {
	for _, v := range p.claims {
		v.mu.Lock()
		if v.claim == p {
			v.releaseClaim()
		}
		v.mu.Unlock()
	}
	clear(p.claims)
	p.claims = p.claims[:0]
}

// storeGrad adds g into v.grad and returns the new v.grad.
func (p *pass) storeGrad(v *Var, g *Var, owned bool) *tensor.Tensor {
	v.lockGrad(p)
	defer v.mu.Unlock()
	if v.claim == p {
		// this pass holds the buffer: either the rule wrote the gradient
		// into it, or (it took another tensor) the buffer is still zero.
		v.releaseClaim()
	}
	if p.create {
		v.materializeZero()
		if v.grad == nil {
			v.gradVar = g
		} else {
			prev := v.gradVar
			if prev == nil || prev.value != v.grad {
				prev = Constant(v.grad)
			}
			v.gradVar = Add(prev, g)
		}
		v.grad, v.gradOwned, v.gradPin = v.gradVar.value, false, false
		return v.grad
	}
	switch {
	case v.grad != nil && g.value == v.grad:
		// the rule wrote into the buffer (Ctx.GradBuffer)
		v.gradOwned, v.gradZero = true, false
	case v.gradZero && v.gradPin:
		v.grad.CopyFrom(g.value)
		v.gradZero = false
	case v.gradZero:
		v.grad, v.gradOwned, v.gradZero = p.exclusive(g, owned), true, false
	case v.grad != nil && v.gradOwned:
		tensor.AddInto(v.grad, v.grad, g.value)
	case v.grad != nil:
		v.grad, v.gradOwned = tensor.Add(v.grad, g.value), true
	default:
		v.grad, v.gradOwned = p.exclusive(g, owned), true
	}
	if !v.gradPin {
		tensor.ChargeMemoryLike(v.grad, tensor.MemoryGradients, v.value)
	}
	v.gradVar = nil
	return v.grad
}
