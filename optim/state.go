package optim

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// groupFields are the hyperparameters a state dict records per group, as
// float64 scalars named "group.<g>.<field>" (booleans as 0 or 1).
var groupFields = []string{"lr", "initial_lr", "weight_decay", "momentum", "dampening", "nesterov",
	"beta1", "beta2", "eps", "alpha", "centered", "trust_coefficient"}

func (g *Group) field(name string) *float64 {
	switch name {
	case "lr":
		return &g.LR
	case "initial_lr":
		return &g.InitialLR
	case "weight_decay":
		return &g.WeightDecay
	case "momentum":
		return &g.Momentum
	case "dampening":
		return &g.Dampening
	case "beta1":
		return &g.Beta1
	case "beta2":
		return &g.Beta2
	case "eps":
		return &g.Eps
	case "alpha":
		return &g.Alpha
	case "trust_coefficient":
		return &g.TrustCoefficient
	}
	return nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// StateDict returns the optimizer's state as named tensors, ready to be
// saved in a checkpoint:
//
//	param.<i>.step          Int64 scalar: updates parameter i has received
//	param.<i>.<buffer>      its buffers: momentum_buffer (SGD, LARS, RMSProp),
//	                        exp_avg and exp_avg_sq (Adam, AdamW, LAMB),
//	                        square_avg and grad_avg (RMSProp)
//	group.<g>.<field>       Float64 scalars: lr, initial_lr, weight_decay,
//	                        momentum, dampening, nesterov, beta1, beta2, eps,
//	                        alpha, centered, trust_coefficient
//
// i is the parameter's index in Params (group by group). Parameters that
// have never been updated have no entries. The buffers are the live tensors,
// not copies: save them before the next Step.
func (opt *Optimizer) StateDict() map[string]*tensor.Tensor {
	sd := map[string]*tensor.Tensor{}
	for i, p := range opt.Params() {
		st := opt.state[p]
		if st == nil {
			continue
		}
		pre := "param." + strconv.Itoa(i) + "."
		sd[pre+"step"] = tensor.Scalar(float64(st.step), tensor.Int64)
		for name, b := range st.bufs {
			sd[pre+name] = b
		}
	}
	for gi, g := range opt.groups {
		pre := "group." + strconv.Itoa(gi) + "."
		for _, f := range groupFields {
			var v float64
			switch f {
			case "nesterov":
				v = b2f(g.Nesterov)
			case "centered":
				v = b2f(g.Centered)
			default:
				v = *g.field(f)
			}
			sd[pre+f] = tensor.Scalar(v, tensor.Float64)
		}
	}
	return sd
}

// LoadStateDict replaces the optimizer's state with sd (as StateDict makes
// it, for an optimizer of the same kind over parameters of the same shapes
// in the same order). Buffers are copied to each parameter's device and
// dtype. It checks everything before it changes anything and returns an
// error for an unknown name, an index out of range, or a shape that does
// not match; the optimizer is then unchanged. Parameters without entries
// start fresh; group fields that are absent keep their values.
func (opt *Optimizer) LoadStateDict(sd map[string]*tensor.Tensor) error {
	params := opt.Params()
	valid := map[string]bool{"step": true}
	for _, b := range bufNames(opt.kind) {
		valid[b] = true
	}
	isField := map[string]bool{}
	for _, f := range groupFields {
		isField[f] = true
	}
	names := make([]string, 0, len(sd))
	for k := range sd {
		names = append(names, k)
	}
	sort.Strings(names)
	newState := map[int]*paramState{}
	type fieldVal struct {
		g    int
		name string
		v    float64
	}
	var fields []fieldVal
	for _, k := range names {
		t := sd[k]
		parts := strings.SplitN(k, ".", 3)
		if len(parts) != 3 || t == nil {
			return fmt.Errorf("optim: state dict entry %q: unknown name", k)
		}
		idx, err := strconv.Atoi(parts[1])
		if err != nil || idx < 0 || strconv.Itoa(idx) != parts[1] {
			return fmt.Errorf("optim: state dict entry %q: bad index", k)
		}
		switch parts[0] {
		case "param":
			if idx >= len(params) {
				return fmt.Errorf("optim: state dict entry %q: the optimizer has %d parameters", k, len(params))
			}
			if !valid[parts[2]] {
				return fmt.Errorf("optim: state dict entry %q: %v keeps no %q", k, opt.kind, parts[2])
			}
			st := newState[idx]
			if st == nil {
				st = &paramState{bufs: map[string]*tensor.Tensor{}}
				newState[idx] = st
			}
			if parts[2] == "step" {
				if t.NumElements() != 1 {
					return fmt.Errorf("%w: state dict entry %q has shape %v, want a scalar", ErrShape, k, t.Shape())
				}
				s := t.Item()
				if s < 0 || s != float64(int64(s)) {
					return fmt.Errorf("optim: state dict entry %q: bad step %v", k, s)
				}
				st.step = int64(s)
				continue
			}
			w := params[idx].Value()
			if !t.Shape().Equal(w.Shape()) {
				return fmt.Errorf("%w: state dict entry %q has shape %v, parameter %d has %v", ErrShape, k, t.Shape(), idx, w.Shape())
			}
			if !t.DType().IsFloat() {
				return fmt.Errorf("optim: state dict entry %q has dtype %v, want a float", k, t.DType())
			}
			st.bufs[parts[2]] = t
		case "group":
			if idx >= len(opt.groups) {
				return fmt.Errorf("optim: state dict entry %q: the optimizer has %d groups", k, len(opt.groups))
			}
			if !isField[parts[2]] {
				return fmt.Errorf("optim: state dict entry %q: unknown group field", k)
			}
			if t.NumElements() != 1 {
				return fmt.Errorf("%w: state dict entry %q has shape %v, want a scalar", ErrShape, k, t.Shape())
			}
			fields = append(fields, fieldVal{idx, parts[2], t.Item()})
		default:
			return fmt.Errorf("optim: state dict entry %q: unknown name", k)
		}
	}
	for _, st := range newState {
		if st.step == 0 && len(st.bufs) > 0 {
			return fmt.Errorf("optim: state dict has buffers for a parameter without a step count")
		}
	}
	// Copy buffers to the parameters' devices and dtypes.
	state := map[int]*paramState{}
	if err := tensor.Try(func() {
		for idx, st := range newState {
			w := params[idx].Value()
			cp := &paramState{step: st.step, bufs: map[string]*tensor.Tensor{}}
			for name, b := range st.bufs {
				cp.bufs[name] = tensor.ZerosLike(w).CopyFrom(b.To(w.Device()))
			}
			state[idx] = cp
		}
	}); err != nil {
		return fmt.Errorf("optim: loading state: %w", err)
	}
	opt.state = map[*autograd.Var]*paramState{}
	for idx, st := range state {
		opt.state[params[idx]] = st
	}
	for _, f := range fields {
		g := opt.groups[f.g]
		switch f.name {
		case "nesterov":
			g.Nesterov = f.v != 0
		case "centered":
			g.Centered = f.v != 0
		default:
			*g.field(f.name) = f.v
		}
	}
	return nil
}
