package nn

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// NamedParam is a trainable parameter with its dotted path in the module
// tree, e.g. "layers.0.weight".
type NamedParam struct {
	Name  string
	Param *autograd.Var
}

// NamedBuffer is a non-trainable state tensor (e.g. BatchNorm's running
// mean) with its dotted path.
type NamedBuffer struct {
	Name   string
	Buffer *tensor.Tensor
}

// Module is a layer or a tree of layers. Parameters and buffers are listed
// in registration order (deterministic), children's entries prefixed with
// the child's name and a dot.
type Module interface {
	// Forward applies the module to x.
	Forward(x *autograd.Var) *autograd.Var
	// Parameters returns every trainable parameter of the tree.
	Parameters() []NamedParam
	// Buffers returns every buffer of the tree.
	Buffers() []NamedBuffer
	// Train switches the tree to training (true) or evaluation (false) mode.
	Train(on bool)
	// Training reports the mode.
	Training() bool
	// StateDict maps every parameter and buffer name to its tensor (the
	// live tensors, not copies).
	StateDict() map[string]*tensor.Tensor
	// LoadStateDict copies the tensors of sd into the parameters and
	// buffers; every name must be present with the same shape and no
	// unknown names may appear.
	LoadStateDict(sd map[string]*tensor.Tensor) error
}

type paramSlot struct {
	name string
	slot **autograd.Var
}

type namedModule struct {
	name string
	m    Module
}

// Base implements everything of Module except Forward. Layers embed it and
// register their parameters, buffers and children in their constructors.
// A zero Base is in evaluation mode until Train(true) is called; the
// constructors of this package start in training mode, as PyTorch does.
type Base struct {
	params   []paramSlot
	buffers  []NamedBuffer
	children []namedModule
	training bool
}

func checkName(op, name string) {
	if name == "" || strings.Contains(name, ".") {
		panic(tensor.Errorf(op, "bad name %q (non-empty, no dots)", name))
	}
}

func (b *Base) checkUnique(op, name string) {
	for _, p := range b.params {
		if p.name == name {
			panic(tensor.Errorf(op, "name %q registered twice", name))
		}
	}
	for _, p := range b.buffers {
		if p.Name == name {
			panic(tensor.Errorf(op, "name %q registered twice", name))
		}
	}
	for _, c := range b.children {
		if c.name == name {
			panic(tensor.Errorf(op, "name %q registered twice", name))
		}
	}
}

// RegisterParam adds the parameter held in the field *slot under name and
// returns it. The module must read the parameter through that field in
// Forward: WithParams, FunctionalCall and Clone substitute parameters by
// writing the field of a copy of the module.
func (b *Base) RegisterParam(name string, slot **autograd.Var) *autograd.Var {
	checkName("nn.Base.RegisterParam", name)
	b.checkUnique("nn.Base.RegisterParam", name)
	if slot == nil || *slot == nil {
		panic(tensor.Errorf("nn.Base.RegisterParam", "parameter %q is nil", name))
	}
	b.params = append(b.params, paramSlot{name, slot})
	tensor.SetMemoryCategory((*slot).Value(), tensor.MemoryParameters)
	return *slot
}

// RegisterBuffer adds a buffer under name and returns it. Modules update
// buffers in place so the registered tensor stays the live one.
func (b *Base) RegisterBuffer(name string, t *tensor.Tensor) *tensor.Tensor {
	checkName("nn.Base.RegisterBuffer", name)
	b.checkUnique("nn.Base.RegisterBuffer", name)
	b.buffers = append(b.buffers, NamedBuffer{Name: name, Buffer: t})
	return t
}

// RegisterModule adds a child module under name and returns it.
func (b *Base) RegisterModule(name string, m Module) Module {
	checkName("nn.Base.RegisterModule", name)
	b.checkUnique("nn.Base.RegisterModule", name)
	b.children = append(b.children, namedModule{name, m})
	m.Train(b.training)
	return m
}

// Children returns the direct children in registration order.
func (b *Base) Children() []Module {
	out := make([]Module, len(b.children))
	for i, c := range b.children {
		out[i] = c.m
	}
	return out
}

// Parameters returns the parameters of the tree with dotted names.
func (b *Base) Parameters() []NamedParam {
	out := make([]NamedParam, 0, len(b.params))
	for _, p := range b.params {
		out = append(out, NamedParam{Name: p.name, Param: *p.slot})
	}
	for _, c := range b.children {
		for _, p := range c.m.Parameters() {
			out = append(out, NamedParam{Name: c.name + "." + p.Name, Param: p.Param})
		}
	}
	return out
}

// Buffers returns the buffers of the tree with dotted names.
func (b *Base) Buffers() []NamedBuffer {
	out := slices.Clone(b.buffers)
	for _, c := range b.children {
		for _, p := range c.m.Buffers() {
			out = append(out, NamedBuffer{Name: c.name + "." + p.Name, Buffer: p.Buffer})
		}
	}
	return out
}

// Train sets training mode on the whole tree.
func (b *Base) Train(on bool) {
	b.training = on
	for _, c := range b.children {
		c.m.Train(on)
	}
}

// Training reports whether the module is in training mode.
func (b *Base) Training() bool { return b.training }

// StateDict maps parameter and buffer names to their live tensors.
func (b *Base) StateDict() map[string]*tensor.Tensor {
	sd := map[string]*tensor.Tensor{}
	for _, p := range b.Parameters() {
		sd[p.Name] = p.Param.Value()
	}
	for _, p := range b.Buffers() {
		sd[p.Name] = p.Buffer
	}
	return sd
}

// LoadStateDict copies sd into the parameters and buffers (converting dtype
// and device). It checks every name and shape before copying anything.
func (b *Base) LoadStateDict(sd map[string]*tensor.Tensor) error {
	return loadState(b.Parameters(), b.Buffers(), sd)
}

func loadState(params []NamedParam, buffers []NamedBuffer, sd map[string]*tensor.Tensor) error {
	want := map[string]*tensor.Tensor{}
	for _, p := range params {
		want[p.Name] = p.Param.Value()
	}
	for _, p := range buffers {
		want[p.Name] = p.Buffer
	}
	var missing, unexpected, mismatched []string
	for name, t := range want {
		src, ok := sd[name]
		if !ok {
			missing = append(missing, name)
			continue
		}
		if !src.Shape().Equal(t.Shape()) {
			mismatched = append(mismatched, fmt.Sprintf("%s: checkpoint %v, module %v", name, src.Shape(), t.Shape()))
		}
	}
	for name := range sd {
		if _, ok := want[name]; !ok {
			unexpected = append(unexpected, name)
		}
	}
	if len(missing)+len(unexpected)+len(mismatched) > 0 {
		sort.Strings(missing)
		sort.Strings(unexpected)
		sort.Strings(mismatched)
		return fmt.Errorf("nn: LoadStateDict: missing %v, unexpected %v, shape mismatches %v", missing, unexpected, mismatched)
	}
	for name, t := range want {
		t.CopyFrom(sd[name].To(t.Device()))
	}
	return nil
}

// Params returns just the parameter Vars of m, in order (what optimizers take).
func Params(m Module) []*autograd.Var {
	ps := m.Parameters()
	out := make([]*autograd.Var, len(ps))
	for i, p := range ps {
		out[i] = p.Param
	}
	return out
}

// ZeroGrad zeroes the gradients of every parameter of m.
func ZeroGrad(m Module) {
	for _, p := range m.Parameters() {
		p.Param.ZeroGrad()
	}
}

// NumParams returns the number of scalar parameters of m.
func NumParams(m Module) int {
	n := 0
	for _, p := range m.Parameters() {
		n += p.Param.Value().NumElements()
	}
	return n
}

// Sequential applies its children in order.
type Sequential struct {
	Base
	Layers []Module
}

// NewSequential returns a Sequential of mods, named "0", "1", ...
func NewSequential(mods ...Module) *Sequential {
	s := &Sequential{}
	s.training = true
	for _, m := range mods {
		s.Append(m)
	}
	return s
}

// Append adds m as the next layer.
func (s *Sequential) Append(m Module) {
	s.RegisterModule(fmt.Sprint(len(s.Layers)), m)
	s.Layers = append(s.Layers, m)
}

// Forward applies the layers in order.
//
// A ReLU followed by a max pooling is applied the other way round, pooling
// first: max is monotone, so MaxPool(ReLU(x)) = ReLU(MaxPool(x)) with the
// same gradient, and the ReLU (forward and backward) then runs on the
// pooled tensor, a quarter of the size for a 2x2 pooling, instead of a full
// pass over the larger input. (Only NaN inputs can tell the two orders
// apart.) A Conv2d followed by a max pooling, directly or across a ReLU,
// runs as one autograd.Conv2dMaxPool2d or Conv2dReLUMaxPool2d: the
// convolution output is pooled as it is computed, and its weight gradient
// needs no full-size gradient of the convolution output.
func (s *Sequential) Forward(x *autograd.Var) *autograd.Var {
	for i := 0; i < len(s.Layers); i++ {
		m := s.Layers[i]
		if c, ok := m.(*Conv2d); ok && i+1 < len(s.Layers) {
			if p, ok := s.Layers[i+1].(*MaxPool2d); ok {
				x = autograd.Conv2dMaxPool2d(x, c.Weight, c.Bias, c.Params, c.Groups, p.Params)
				i++
				continue
			}
			if i+2 < len(s.Layers) && isReLU(s.Layers[i+1]) {
				if p, ok := s.Layers[i+2].(*MaxPool2d); ok {
					x = autograd.Conv2dReLUMaxPool2d(x, c.Weight, c.Bias, c.Params, c.Groups, p.Params)
					i += 2
					continue
				}
			}
		}
		if i+1 < len(s.Layers) && isReLU(m) {
			if p, ok := s.Layers[i+1].(*MaxPool2d); ok {
				x = m.Forward(p.Forward(x))
				i++
				continue
			}
		}
		x = m.Forward(x)
	}
	return x
}

// isReLU reports whether m is a ReLU layer.
func isReLU(m Module) bool {
	_, ok := m.(*ReLU)
	return ok
}

// Summary lists m's parameters and buffers with their shapes and dtypes,
// one per line, and the total number of parameters.
func Summary(m Module) string {
	var b strings.Builder
	for _, p := range m.Parameters() {
		v := p.Param.Value()
		fmt.Fprintf(&b, "%-40s %-10v %v\n", p.Name, v.DType(), v.Shape())
	}
	for _, p := range m.Buffers() {
		fmt.Fprintf(&b, "%-40s %-10v %v (buffer)\n", p.Name, p.Buffer.DType(), p.Buffer.Shape())
	}
	fmt.Fprintf(&b, "%d parameters\n", NumParams(m))
	return b.String()
}
