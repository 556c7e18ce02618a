package optim

import (
	"fmt"
	"slices"
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

// get returns the group field name as a state dict stores it.
func (g *Group) get(name string) float64 {
	switch name {
	case "nesterov":
		return b2f(g.Nesterov)
	case "centered":
		return b2f(g.Centered)
	}
	return *g.field(name)
}

// set sets the group field name from its state dict value.
func (g *Group) set(name string, v float64) {
	switch name {
	case "nesterov":
		g.Nesterov = v != 0
	case "centered":
		g.Centered = v != 0
	default:
		*g.field(name) = v
	}
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
			sd[pre+f] = tensor.Scalar(g.get(f), tensor.Float64)
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
	ld, err := opt.checkStateDict(sd)
	if err != nil {
		return err
	}
	state, err := opt.placeState(ld.params)
	if err != nil {
		return err
	}
	opt.state = state
	for _, f := range ld.fields {
		opt.groups[f.g].set(f.name, f.v)
	}
	return nil
}

// loadedState is a checked state dict, not yet applied: the per-parameter
// state by parameter index (buffers as given, on any device and dtype) and
// the group fields.
type loadedState struct {
	params map[int]*paramState
	fields []groupFieldValue
}

type groupFieldValue struct {
	g    int
	name string
	v    float64
}

// splitStateName splits a state dict name "<kind>.<index>.<name>".
func splitStateName(k string) (kind string, idx int, name string, err error) {
	parts := strings.SplitN(k, ".", 3)
	if len(parts) != 3 {
		return "", 0, "", fmt.Errorf("optim: state dict entry %q: unknown name", k)
	}
	idx, err = strconv.Atoi(parts[1])
	if err != nil || idx < 0 || strconv.Itoa(idx) != parts[1] {
		return "", 0, "", fmt.Errorf("optim: state dict entry %q: bad index", k)
	}
	return parts[0], idx, parts[2], nil
}

// checkStateDict checks every entry of sd against the optimizer, in name
// order, and returns what loading it would set; it changes nothing.
func (opt *Optimizer) checkStateDict(sd map[string]*tensor.Tensor) (*loadedState, error) {
	names := make([]string, 0, len(sd))
	for k := range sd {
		names = append(names, k)
	}
	sort.Strings(names)
	params := opt.Params()
	ld := &loadedState{params: map[int]*paramState{}}
	for _, k := range names {
		t := sd[k]
		kind, idx, name, err := splitStateName(k)
		if err == nil && t == nil {
			err = fmt.Errorf("optim: state dict entry %q: unknown name", k)
		}
		if err == nil {
			switch kind {
			case "param":
				err = opt.checkParamEntry(ld, params, k, idx, name, t)
			case "group":
				err = opt.checkGroupEntry(ld, k, idx, name, t)
			default:
				err = fmt.Errorf("optim: state dict entry %q: unknown name", k)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	for _, st := range ld.params {
		if st.step == 0 && len(st.bufs) > 0 {
			return nil, fmt.Errorf("optim: state dict has buffers for a parameter without a step count")
		}
	}
	return ld, nil
}

// checkParamEntry checks "param.<idx>.<name>" (a step count or a buffer of
// this optimizer's kind) and records it in ld.
func (opt *Optimizer) checkParamEntry(ld *loadedState, params []*autograd.Var, k string, idx int, name string, t *tensor.Tensor) error {
	if idx >= len(params) {
		return fmt.Errorf("optim: state dict entry %q: the optimizer has %d parameters", k, len(params))
	}
	if name != "step" && !slices.Contains(bufNames(opt.kind), name) {
		return fmt.Errorf("optim: state dict entry %q: %v keeps no %q", k, opt.kind, name)
	}
	st := ld.params[idx]
	if st == nil {
		st = &paramState{bufs: map[string]*tensor.Tensor{}}
		ld.params[idx] = st
	}
	if name == "step" {
		if t.NumElements() != 1 {
			return fmt.Errorf("%w: state dict entry %q has shape %v, want a scalar", ErrShape, k, t.Shape())
		}
		s := t.Item()
		if s < 0 || s != float64(int64(s)) {
			return fmt.Errorf("optim: state dict entry %q: bad step %v", k, s)
		}
		st.step = int64(s)
		return nil
	}
	w := params[idx].Value()
	if !t.Shape().Equal(w.Shape()) {
		return fmt.Errorf("%w: state dict entry %q has shape %v, parameter %d has %v", ErrShape, k, t.Shape(), idx, w.Shape())
	}
	if !t.DType().IsFloat() {
		return fmt.Errorf("optim: state dict entry %q has dtype %v, want a float", k, t.DType())
	}
	st.bufs[name] = t
	return nil
}

// checkGroupEntry checks "group.<idx>.<field>" and records it in ld.
func (opt *Optimizer) checkGroupEntry(ld *loadedState, k string, idx int, field string, t *tensor.Tensor) error {
	if idx >= len(opt.groups) {
		return fmt.Errorf("optim: state dict entry %q: the optimizer has %d groups", k, len(opt.groups))
	}
	if !slices.Contains(groupFields, field) {
		return fmt.Errorf("optim: state dict entry %q: unknown group field", k)
	}
	if t.NumElements() != 1 {
		return fmt.Errorf("%w: state dict entry %q has shape %v, want a scalar", ErrShape, k, t.Shape())
	}
	ld.fields = append(ld.fields, groupFieldValue{idx, field, t.Item()})
	return nil
}

// placeState copies checked buffers to their parameters' devices and dtypes
// and keys the state by parameter.
func (opt *Optimizer) placeState(byIndex map[int]*paramState) (map[*autograd.Var]*paramState, error) {
	params := opt.Params()
	state := map[*autograd.Var]*paramState{}
	if err := tensor.Try(func() {
		for idx, st := range byIndex {
			w := params[idx].Value()
			cp := &paramState{step: st.step, bufs: map[string]*tensor.Tensor{}}
			for name, b := range st.bufs {
				cp.bufs[name] = tensor.ZerosLike(w).CopyFrom(b.To(w.Device()))
				tensor.ChargeMemoryLike(cp.bufs[name], tensor.MemoryOptimizerState, w)
			}
			state[params[idx]] = cp
		}
	}); err != nil {
		return nil, fmt.Errorf("optim: loading state: %w", err)
	}
	return state, nil
}
