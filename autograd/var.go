package autograd

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/tessera-ml/tessera/tensor"
)

// seqCounter numbers every recorded Var in creation order. A Var's inputs
// always have smaller numbers than the Var itself, so sorting by descending
// number is a deterministic topological order of any graph.
var seqCounter atomic.Uint64

// Var is a tensor value together with its node on the tape. Leaves (NewVar,
// Param, Constant) have no node; every differentiable op on Vars that need a
// gradient records a node that knows how to send the gradient of its output
// back to its inputs.
//
// A Var's value and gradient are plain tensors; everything autograd does to
// them goes through tensor ops, so the same code runs on every device.
type Var struct {
	value        *tensor.Tensor
	requiresGrad bool
	node         *node
	seq          uint64
	retainGrad   bool

	mu        sync.Mutex // guards grad, gradVar, gradOwned, gradZero, claim and hooks
	grad      *tensor.Tensor
	gradVar   *Var // the gradient as a differentiable Var after a create-graph pass
	gradOwned bool // grad is an exclusive contiguous buffer autograd may add into
	gradZero  bool // grad is logically zero (ZeroGrad) but not yet filled
	gradPin   bool // grad is a buffer the caller gave (SetGradBuffer): keep it, write into it
	hooks     []func(g *tensor.Tensor)

	// claim is the backward pass that Ctx.GradBuffer handed the zeroed
	// buffer grad to: that pass writes it outside the lock until it stores
	// the gradient (or gives the claim up), and everyone else who reads or
	// changes grad waits on released meanwhile (see lockGrad).
	claim    *pass
	released *sync.Cond
}

// lockGrad locks v.mu and waits until no backward pass other than p holds
// a claim on v's gradient buffer. Every access to grad goes through it (p
// is nil outside a pass). A pass waits here only while it holds no claim
// itself, so two passes never wait on each other.
func (v *Var) lockGrad(p *pass) {
	v.mu.Lock()
	for v.claim != nil && v.claim != p {
		v.released.Wait()
	}
}

// releaseClaim ends p's claim on v's buffer (v.mu held); the buffer stays
// logically zero unless the caller says otherwise.
func (v *Var) releaseClaim() {
	v.claim = nil
	v.released.Broadcast()
}

// NewVar returns a leaf holding t. Leaves that require a gradient collect it
// in Grad when a Backward pass reaches them.
func NewVar(t *tensor.Tensor, requiresGrad bool) *Var {
	if t == nil {
		panic(tensor.Errorf("autograd.NewVar", "nil tensor"))
	}
	if requiresGrad && !t.DType().IsFloat() {
		panic(tensor.Errorf("autograd.NewVar", "a %s%v tensor cannot require a gradient (needs a float dtype)", t.DType(), t.Shape()))
	}
	return &Var{value: t, requiresGrad: requiresGrad, seq: seqCounter.Add(1)}
}

// Param returns a leaf that requires a gradient (a trainable parameter).
func Param(t *tensor.Tensor) *Var { return NewVar(t, true) }

// Constant returns a leaf that never requires a gradient.
func Constant(t *tensor.Tensor) *Var { return NewVar(t, false) }

// Value returns the tensor the Var holds.
func (v *Var) Value() *tensor.Tensor { return v.value }

// Shape returns the shape of the value.
func (v *Var) Shape() tensor.Shape { return v.value.Shape() }

// DType returns the dtype of the value.
func (v *Var) DType() tensor.DType { return v.value.DType() }

// NDim returns the number of dimensions of the value.
func (v *Var) NDim() int { return v.value.NDim() }

// Dim returns the size of axis i of the value (negative counts from the end).
func (v *Var) Dim(i int) int { return v.value.Dim(i) }

// Item returns the value of a one-element Var.
func (v *Var) Item() float64 { return v.value.Item() }

// RequiresGrad reports whether a gradient flows to (or through) v.
func (v *Var) RequiresGrad() bool { return v.requiresGrad }

// IsLeaf reports whether v was created directly (NewVar, Param, Constant,
// Detach) rather than recorded by an op.
func (v *Var) IsLeaf() bool { return v.node == nil }

// Op returns the name of the op that produced v ("" for leaves).
func (v *Var) Op() string {
	if v.node == nil {
		return ""
	}
	return v.node.op
}

// String describes the Var (value shape, dtype and producing op).
func (v *Var) String() string {
	op := v.Op()
	if op == "" {
		op = "leaf"
	}
	return fmt.Sprintf("Var(%s%v, %s, requiresGrad=%v)", v.value.DType(), v.value.Shape(), op, v.requiresGrad)
}

// Grad returns the accumulated gradient, or nil until a backward pass reaches v.
// Only leaves (and Vars marked with RetainGrad) collect gradients.
func (v *Var) Grad() *tensor.Tensor {
	v.lockGrad(nil)
	defer v.mu.Unlock()
	v.materializeZero()
	return v.grad
}

// materializeZero fills a gradient that ZeroGrad marked as zero. ZeroGrad
// is lazy so that the next backward pass can take its fresh gradient
// instead of adding it into a buffer of zeros.
func (v *Var) materializeZero() {
	if v.gradZero {
		v.grad.Device().Fill(v.grad.View(), 0)
		v.gradZero = false
	}
}

// GradVar returns the gradient as a Var: after a Backward with CreateGraph it
// is differentiable (its graph leads back to the inputs); otherwise it is a
// Constant wrapping Grad. Nil when there is no gradient.
func (v *Var) GradVar() *Var {
	v.lockGrad(nil)
	defer v.mu.Unlock()
	v.materializeZero()
	if v.grad == nil {
		return nil
	}
	if v.gradVar != nil && v.gradVar.value == v.grad {
		return v.gradVar
	}
	return Constant(v.grad)
}

// SetGrad replaces the gradient (nil clears it). The tensor must have v's
// shape; autograd will not write into it (a later Backward allocates a new
// sum), so it may alias other data. It also ends a SetGradBuffer binding.
func (v *Var) SetGrad(g *tensor.Tensor) {
	if g != nil && !g.Shape().Equal(v.value.Shape()) {
		panic(tensor.Errorf("autograd.Var.SetGrad", "gradient shape %v for value shape %v", g.Shape(), v.value.Shape()))
	}
	v.lockGrad(nil)
	defer v.mu.Unlock()
	v.grad, v.gradVar, v.gradOwned, v.gradZero, v.gradPin = g, nil, false, false, false
}

// SetGradBuffer makes buf the tensor that holds leaf v's gradient from now
// on: backward passes accumulate into buf in place (a rule that can write
// a gradient straight into its destination does so, see Ctx.GradBuffer)
// and never replace it, so buf may be a view into a larger buffer, e.g. a
// data-parallel trainer's flat communication bucket ("gradient as bucket
// view"). buf must be contiguous and have v's shape, dtype and device. The
// current gradient, if v has one, is copied into buf; otherwise the
// gradient is zero (Grad returns buf filled with zeros) and buf's contents
// are ignored. ZeroGrad keeps the binding; SetGrad, SetGradBuffer(nil) and
// a create-graph backward pass (whose gradient is a new differentiable
// value) end it. It panics on a non-leaf Var.
func (v *Var) SetGradBuffer(buf *tensor.Tensor) {
	const op = "autograd.Var.SetGradBuffer"
	if v.node != nil {
		panic(tensor.Errorf(op, "gradient buffers are for leaves; %v was produced by %s", v, v.node.op))
	}
	v.lockGrad(nil)
	defer v.mu.Unlock()
	if buf == nil {
		v.gradPin = false
		return
	}
	if !buf.Shape().Equal(v.value.Shape()) || buf.DType() != v.value.DType() || buf.Device() != v.value.Device() {
		panic(tensor.Errorf(op, "buffer %s%v on %s for a %s%v value on %s",
			buf.DType(), buf.Shape(), buf.Device().Name(), v.value.DType(), v.value.Shape(), v.value.Device().Name()))
	}
	if !buf.IsContiguous() {
		panic(tensor.Errorf(op, "buffer %s%v is not contiguous", buf.DType(), buf.Shape()))
	}
	switch {
	case v.grad == buf:
	case v.grad != nil && !v.gradZero:
		buf.CopyFrom(v.grad)
		v.gradZero = false
	default:
		v.gradZero = true
	}
	v.grad, v.gradVar, v.gradOwned, v.gradPin = buf, nil, true, true
}

// ZeroGrad sets an existing gradient to zero, in place when autograd owns
// the buffer (so the next Backward adds into it without allocating). A nil
// gradient stays nil.
func (v *Var) ZeroGrad() {
	v.lockGrad(nil)
	defer v.mu.Unlock()
	v.gradVar = nil
	if v.grad == nil {
		return
	}
	if v.gradOwned {
		v.gradZero = true
		return
	}
	v.grad = tensor.ZerosLike(v.grad)
	v.gradOwned = true
}

// SetValue copies t into v's value in place (same shape; t is converted to
// v's dtype and device). Optimizers and checkpoint loading use it; the
// tensor identity of Value is preserved, so views of it stay valid.
func (v *Var) SetValue(t *tensor.Tensor) {
	if !t.Shape().Equal(v.value.Shape()) {
		panic(tensor.Errorf("autograd.Var.SetValue", "shape %v for value shape %v", t.Shape(), v.value.Shape()))
	}
	if t == v.value {
		return
	}
	v.value.CopyFrom(t.To(v.value.Device()))
}

// RetainGrad makes a non-leaf Var keep its gradient in Grad after backward passes.
func (v *Var) RetainGrad() { v.retainGrad = true }

// RegisterHook adds a function that runs during a backward pass as soon as
// the gradient of leaf v is final, with v's accumulated gradient (the tensor
// Grad returns, which the hook may modify in place, e.g. all-reduce into it).
// Hooks fire in reverse topological order as each leaf completes, so the
// parameters of the last layer come first. It panics on a non-leaf Var.
func (v *Var) RegisterHook(h func(g *tensor.Tensor)) {
	if v.node != nil {
		panic(tensor.Errorf("autograd.Var.RegisterHook", "hooks are for leaves; %v was produced by %s", v, v.node.op))
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.hooks = append(v.hooks, h)
}

// ClearHooks removes every hook registered on v.
func (v *Var) ClearHooks() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.hooks = nil
}

// Detach returns a leaf sharing v's value that does not require a gradient.
func (v *Var) Detach() *Var { return Constant(v.value) }

// Detach returns v.Detach().
func Detach(v *Var) *Var { return v.Detach() }

// Grad mode is per goroutine, as PyTorch's is per thread: a NoGrad scope
// disables recording only in the goroutine that opened it (goroutines it
// starts record normally). While no scope is open anywhere the check is one
// atomic load; while some scope is open, ops look up the calling
// goroutine's id (parsed from runtime.Stack, about a microsecond).
var (
	noGradActive atomic.Int32 // goroutines with an open scope
	noGradMu     sync.RWMutex
	noGradScopes = map[uint64]int{}
)

// goid returns the id of the calling goroutine.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = b[len("goroutine "):]
	var id uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}

// NoGrad runs f with recording disabled in the calling goroutine: ops
// inside return Vars that do not require a gradient. Scopes nest.
func NoGrad(f func()) {
	restore := DisableGrad()
	defer restore()
	f()
}

// DisableGrad disables recording in the calling goroutine until the
// returned function is called (a guard: defer autograd.DisableGrad()()).
// Calling the function again does nothing.
func DisableGrad() (restore func()) {
	id := goid()
	noGradMu.Lock()
	if noGradScopes[id] == 0 {
		noGradActive.Add(1)
	}
	noGradScopes[id]++
	noGradMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			noGradMu.Lock()
			defer noGradMu.Unlock()
			if noGradScopes[id]--; noGradScopes[id] == 0 {
				delete(noGradScopes, id)
				noGradActive.Add(-1)
			}
		})
	}
}

// IsGradEnabled reports whether ops in the calling goroutine record (no
// NoGrad scope of this goroutine is open).
func IsGradEnabled() bool {
	if noGradActive.Load() == 0 {
		return true
	}
	id := goid()
	noGradMu.RLock()
	defer noGradMu.RUnlock()
	return noGradScopes[id] == 0
}
