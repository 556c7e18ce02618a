package zero

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/tessera-ml/tessera/amp"
	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/parallel"
	"github.com/tessera-ml/tessera/tensor"
)

// Stage is how much of the model state is partitioned across the ranks.
type Stage int

// The stages of ZeRO (Rajbhandari et al., SC 2020). Stage 0 is plain data
// parallelism with the same machinery: everything replicated, gradients
// all-reduced.
const (
	StageDP     Stage = 0 // nothing sharded: gradients all-reduced
	StageOptim  Stage = 1 // optimizer state (and float32 master weights) sharded
	StageGrads  Stage = 2 // + gradients reduce-scattered into shards as layers finish
	StageParams Stage = 3 // + parameters sharded, all-gathered per layer just in time
)

func (s Stage) String() string {
	if s == StageDP {
		return "DP"
	}
	return "Z" + strconv.Itoa(int(s))
}

// Options configure Wrap.
type Options struct {
	// Stage picks what is sharded (StageDP .. StageParams).
	Stage Stage
	// NewOptimizer builds the optimizer over the Vars this rank updates: one
	// per piece of a parameter inside the rank's shard (whole parameters at
	// StageDP), float32 for 16-bit parameters (master weights), else in the
	// parameters' dtype. Required. Element-wise algorithms (SGD, Adam,
	// AdamW, RMSProp) give the same updates as on the whole parameters;
	// LARS and LAMB, whose trust ratios use per-tensor norms, are refused
	// above StageDP.
	NewOptimizer func(params []*autograd.Var) *optim.Optimizer
	// MaxGradNorm > 0 clips the gradients by their global norm over every
	// shard (the norm of the whole model's gradient, as
	// torch.nn.utils.clip_grad_norm_) before the optimizer step.
	MaxGradNorm float64
	// Offload keeps the float32 master weights, their gradients and the
	// optimizer state on the host (tensor.CPU) and steps there, copying
	// the updated shard back to the parameters' device (ZeRO-Offload).
	Offload bool
	// Scaler, when set, is float16 dynamic loss scaling: scale the loss
	// with Model.ScaleLoss; Step checks every shard's gradients for inf and
	// NaN, combines the verdict over the ranks, skips the step everywhere
	// (and lowers the scale) on an overflow, and otherwise divides the
	// gradients by the scale before clipping and stepping.
	Scaler *amp.GradScaler
	// Ledger counts this rank's buffers (tensor.MemoryLedger); nil: a new
	// one (see Model.Ledger).
	Ledger *tensor.MemoryLedger
	// Context bounds every collective (default context.Background()), each
	// for at most Timeout (default 5 minutes).
	Context context.Context
	Timeout time.Duration
}

// Stats count the traffic of one rank: bytes each collective moves out of
// the rank under the ring algorithms' accounting (all-reduce 2(N-1)/N of
// the buffer, reduce-scatter and all-gather (N-1)/N of the full buffer), as
// nccl-tests defines bus bandwidth.
type Stats struct {
	Steps                                int
	SkippedSteps                         int // overflows (Options.Scaler)
	AllReduceBytes, ReduceScatterBytes   int64
	AllGatherBytes, GradNormAllReduceOps int64
}

// Bytes is the total traffic.
func (s Stats) Bytes() int64 { return s.AllReduceBytes + s.ReduceScatterBytes + s.AllGatherBytes }

// piece is the part of one parameter inside a rank's shard of its unit.
type piece struct {
	param    int // index into Model.params
	lo, hi   int // range in the unit's flat layout
	optIndex int // index in the optimizer's Params
}

// unit is a layer's parameters flattened: the granularity of gradient
// reduction and (stage 3) of gathering.
type unit struct {
	idx    int
	layer  int   // index in Model.layers, -1: the whole module
	params []int // indices into Model.params, in registration order
	offs   []int // offset of each param in the flat layout
	n, np  int   // elements, padded to a multiple of the world size
	lo, hi int   // this rank's shard of the flat layout [lo, hi)

	flatP  *tensor.Tensor // full parameters (stages 0-2), persistent
	shardP *tensor.Tensor // this rank's parameters [lo, hi): view of flatP, or own buffer (stage 3)
	flatG  *tensor.Tensor // full gradients: persistent (stages 0-1) or per step (2-3)
	shardG *tensor.Tensor // this rank's reduced gradients (stages 2-3, persistent)
	redG   *tensor.Tensor // the reduced shard: persistent (stage 1) or pooled (2-3)
	master *tensor.Tensor // float32 master of shardP (low-precision params or Offload)
	optV   []*autograd.Var
	pieces []piece

	vars     []*autograd.Var // the working Vars: views of flatP or of a gather slot
	pending  int
	launched bool
	h        *collectives.Handle
}

type param struct {
	name  string
	names []string // every name it is registered under
	orig  *autograd.Var
	unit  int
	shape tensor.Shape
	n     int
}

// Model is a module trained with ZeRO on one rank.
type Model struct {
	opts   Options
	comm   collectives.Comm
	rank   int
	size   int
	dt     tensor.DType
	dev    tensor.Device
	params []*param
	units  []*unit
	module nn.Module         // the working copy, running on the units' Vars
	layers []nn.Module       // its layers when it is an nn.Sequential
	unitOf []int             // unit of each layer, -1 for layers without parameters
	slots  [2]*tensor.Tensor // stage 3: gather buffers
	gath   [2]*collectives.Handle
	gathU  [2]int
	// gathPhase is the pass (phase) each gather buffer was filled in:
	// Forward and the first layer of a backward pass start a new phase.
	gathPhase  [2]int
	phase      int
	inBackward bool
	opt        *optim.Optimizer
	ledger     *tensor.MemoryLedger

	// Reused temporary buffers (MemoryOther): full-layer gradient buffers
	// and reduced shards of stages 2-3 (at most three layers' worth: the
	// layer in backward and two reductions in flight), a float32 shard for
	// the optimizer's gradients and a shard for the parameters' all-gather.
	flatPool, redPool []*tensor.Tensor
	inflight          []*unit
	scratch32         *tensor.Tensor
	agSrc             *tensor.Tensor
	maxNP, maxShard   int

	mu    sync.Mutex
	err   error
	stats Stats
}

// Wrap partitions m's model state across the ranks of c at opts.Stage.
// Every rank calls it with a module of the same structure; rank 0's
// parameters are broadcast first. The parameters are flattened per layer
// (the children of an nn.Sequential; any other module is one unit), each
// layer's flat layout padded to a multiple of the world size and split
// into equal contiguous shards, rank r owning shard r.
//
// Train through the Model (Forward, then Backward on the loss, then Step);
// m itself is not updated and the Model keeps no reference to its
// parameters (drop m, and they are garbage): Module returns the working
// copy, and
// StateDict/GatherStateDict the parameters. At stage 3 the working copy's
// parameters are views of two gather buffers that hold a layer only while
// it runs; read the weights with GatherStateDict.
func Wrap(m nn.Module, c collectives.Comm, opts Options) (*Model, error) {
	if opts.NewOptimizer == nil {
		return nil, errors.New("zero: Options.NewOptimizer is required")
	}
	if opts.Stage < StageDP || opts.Stage > StageParams {
		return nil, fmt.Errorf("zero: stage %d; want 0 to 3", opts.Stage)
	}
	if opts.Context == nil {
		opts.Context = context.Background()
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Minute
	}
	z := &Model{opts: opts, comm: c, rank: c.Rank(), size: c.Size(), ledger: opts.Ledger}
	if z.ledger == nil {
		z.ledger = tensor.NewMemoryLedger()
	}
	ctx, cancel := z.ctx()
	defer cancel()
	if err := parallel.VerifyModel(ctx, c, m); err != nil {
		return nil, fmt.Errorf("zero: %w", err)
	}
	if err := parallel.BroadcastModule(ctx, c, m, 0); err != nil {
		return nil, fmt.Errorf("zero: %w", err)
	}
	if err := z.layout(m); err != nil {
		return nil, err
	}
	if err := tensor.Try(func() { z.allocate(m) }); err != nil {
		return nil, fmt.Errorf("zero: %w", err)
	}
	var optErr error
	if err := tensor.Try(func() { optErr = z.makeOptimizer() }); err != nil {
		return nil, fmt.Errorf("zero: %w", err)
	}
	if optErr != nil {
		return nil, optErr
	}
	return z, nil
}

func (z *Model) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(z.opts.Context, z.opts.Timeout)
}

// layout finds the trainable parameters and groups them into units.
func (z *Model) layout(m nn.Module) error {
	byVar := map[*autograd.Var]*param{}
	for _, p := range m.Parameters() {
		if !p.Param.RequiresGrad() {
			continue
		}
		if q := byVar[p.Param]; q != nil {
			q.names = append(q.names, p.Name)
			continue
		}
		v := p.Param.Value()
		if z.params == nil {
			z.dt, z.dev = v.DType(), v.Device()
		}
		if v.DType() != z.dt || v.Device() != z.dev {
			return fmt.Errorf("zero: parameter %s is %v on %s, the first one %v on %s; one dtype and device are supported",
				p.Name, v.DType(), v.Device().Name(), z.dt, z.dev.Name())
		}
		q := &param{name: p.Name, names: []string{p.Name}, orig: p.Param, shape: v.Shape(), n: v.NumElements(), unit: -1}
		byVar[p.Param] = q
		z.params = append(z.params, q)
	}
	if len(z.params) == 0 {
		return errors.New("zero: the module has no trainable parameters")
	}
	addUnit := func(layer int, ps []*param) {
		u := &unit{idx: len(z.units), layer: layer}
		for _, p := range ps {
			if p.unit >= 0 {
				continue // shared with an earlier layer
			}
			p.unit = u.idx
			u.offs = append(u.offs, u.n)
			u.params = append(u.params, z.index(p))
			u.n += p.n
		}
		if len(u.params) == 0 {
			return
		}
		u.np = (u.n + z.size - 1) / z.size * z.size
		if z.opts.Stage == StageDP {
			u.np, u.lo, u.hi = u.n, 0, u.n
		} else {
			s := u.np / z.size
			u.lo, u.hi = z.rank*s, (z.rank+1)*s
		}
		z.units = append(z.units, u)
	}
	if s, ok := m.(*nn.Sequential); ok {
		z.unitOf = make([]int, len(s.Layers))
		for i, l := range s.Layers {
			z.unitOf[i] = -1
			var ps []*param
			for _, p := range l.Parameters() {
				if q := byVar[p.Param]; q != nil {
					ps = append(ps, q)
				}
			}
			before := len(z.units)
			addUnit(i, ps)
			if len(z.units) > before {
				z.unitOf[i] = before
			}
			for _, p := range ps {
				if z.opts.Stage == StageParams && p.unit != z.unitOf[i] {
					return fmt.Errorf("zero: parameter %s is shared by two layers; stage 3 gathers per layer and does not support that", p.name)
				}
			}
		}
	} else {
		addUnit(-1, z.params)
	}
	return nil
}

func (z *Model) index(p *param) int {
	for i, q := range z.params {
		if q == p {
			return i
		}
	}
	return -1
}

// allocate makes the flat buffers and the working module.
func (z *Model) allocate(m nn.Module) {
	stage := z.opts.Stage
	subst := map[string]*autograd.Var{}
	for _, u := range z.units {
		z.maxNP, z.maxShard = max(z.maxNP, u.np), max(z.maxShard, u.hi-u.lo)
	}
	if stage == StageParams {
		for i := range z.slots {
			z.slots[i] = tensor.EmptyOn(z.dev, z.dt, z.maxNP)
			z.ledger.Charge(z.slots[i], tensor.MemoryOther) // temporary buffers
			z.gathU[i] = -1
		}
	}
	for _, u := range z.units {
		full := tensor.EmptyOn(z.dev, z.dt, u.np) // the parameters, flattened, zero-padded
		for k, pi := range u.params {
			p := z.params[pi]
			full.Narrow(0, u.offs[k], p.n).CopyFrom(p.orig.Value().Reshape(-1))
		}
		if stage == StageParams {
			u.shardP = full.Narrow(0, u.lo, u.hi-u.lo).Clone()
			z.ledger.Charge(u.shardP, tensor.MemoryParameters)
		} else {
			u.flatP = full
			z.ledger.Charge(u.flatP, tensor.MemoryParameters)
			u.shardP = u.flatP.Narrow(0, u.lo, u.hi-u.lo)
		}
		src := u.flatP
		if stage == StageParams {
			src = z.slots[u.idx%2]
		}
		if stage <= StageOptim {
			u.flatG = tensor.EmptyOn(z.dev, z.dt, u.np)
			z.ledger.Charge(u.flatG, tensor.MemoryGradients)
			if stage == StageOptim {
				u.redG = tensor.EmptyOn(z.dev, z.dt, u.hi-u.lo)
				z.ledger.Charge(u.redG, tensor.MemoryOther)
			}
		} else {
			u.shardG = tensor.EmptyOn(z.dev, z.dt, u.hi-u.lo)
			z.ledger.Charge(u.shardG, tensor.MemoryGradients)
		}
		for k, pi := range u.params {
			p := z.params[pi]
			v := autograd.Param(src.Narrow(0, u.offs[k], p.n).Reshape(p.shape...))
			u.vars = append(u.vars, v)
			for _, name := range p.names {
				subst[name] = v
			}
			v.RegisterHook(func(*tensor.Tensor) { z.ready(u) })
		}
		if stage <= StageOptim {
			z.bindPersistent(u)
		}
		u.pending = len(u.params)
	}
	z.module = nn.WithParams(m, subst)
	for _, p := range z.params {
		p.orig = nil // the wrapper keeps no reference to the original parameters
	}
	if s, ok := z.module.(*nn.Sequential); ok {
		z.layers = s.Layers
	}
}

// bindPersistent points the unit's Vars' gradients at views of flatG.
func (z *Model) bindPersistent(u *unit) {
	for k, v := range u.vars {
		v.SetGradBuffer(u.flatG.Narrow(0, u.offs[k], z.params[u.params[k]].n).Reshape(v.Shape()...))
	}
}

// makeOptimizer makes the Vars the optimizer updates: per parameter, the
// piece inside this rank's shard, float32 (a master copy when the
// parameters are 16-bit or Offload is set).
func (z *Model) makeOptimizer() error {
	var vars []*autograd.Var
	host := z.dev
	if z.opts.Offload {
		host = tensor.CPU
	}
	for _, u := range z.units {
		src := u.shardP
		if z.lowPrecision() || z.opts.Offload {
			u.master = u.shardP.Cast(z.masterDType()).To(host)
			if u.master == u.shardP || u.master.SharesStorage(u.shardP) {
				u.master = u.master.Clone()
			}
			z.ledger.Charge(u.master, tensor.MemoryOptimizerState)
			src = u.master
		}
		for k, pi := range u.params {
			lo, hi := max(u.offs[k], u.lo), min(u.offs[k]+z.params[pi].n, u.hi)
			if lo >= hi {
				continue
			}
			v := autograd.Param(src.Narrow(0, lo-u.lo, hi-lo))
			u.pieces = append(u.pieces, piece{param: pi, lo: lo, hi: hi, optIndex: len(vars)})
			u.optV = append(u.optV, v)
			vars = append(vars, v)
		}
	}
	z.opt = z.opts.NewOptimizer(vars)
	if z.opt == nil {
		return errors.New("zero: NewOptimizer returned nil")
	}
	if k := z.opt.Kind(); z.opts.Stage > StageDP && (k == optim.KindLARS || k == optim.KindLAMB) {
		return fmt.Errorf("zero: %v uses per-tensor norms, which a shard does not have; use stage 0 or an element-wise optimizer", k)
	}
	return nil
}

// Module returns the working copy of the module (see Wrap).
func (z *Model) Module() nn.Module { return z.module }

// Optimizer returns the optimizer over this rank's pieces.
func (z *Model) Optimizer() *optim.Optimizer { return z.opt }

// Ledger returns the ledger that counts this rank's model states (and, as
// MemoryOther, its gather and gradient buffers).
func (z *Model) Ledger() *tensor.MemoryLedger { return z.ledger }

// Stage returns the stage.
func (z *Model) Stage() Stage { return z.opts.Stage }

// Stats returns the cumulative traffic counters.
func (z *Model) Stats() Stats {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.stats
}

// NumParams returns Ψ, the number of trainable parameter elements.
func (z *Model) NumParams() int {
	n := 0
	for _, p := range z.params {
		n += p.n
	}
	return n
}

func (z *Model) fail(err error) {
	if err == nil {
		return
	}
	z.mu.Lock()
	z.err = errors.Join(z.err, err)
	z.mu.Unlock()
}

// ScaleLoss returns the loss multiplied by Options.Scaler's scale (the
// loss itself without a scaler); call Backward on it.
func (z *Model) ScaleLoss(loss *autograd.Var) *autograd.Var {
	if z.opts.Scaler == nil {
		return loss
	}
	return z.opts.Scaler.ScaleLoss(loss)
}

// lowPrecision reports whether the parameters are 16-bit floats, which get
// float32 master weights.
func (z *Model) lowPrecision() bool { return z.dt == tensor.BFloat16 || z.dt == tensor.Float16 }

// masterDType is the dtype the optimizer steps in: float32 for 16-bit
// parameters, else the parameters' own.
func (z *Model) masterDType() tensor.DType {
	if z.lowPrecision() {
		return tensor.Float32
	}
	return z.dt
}
