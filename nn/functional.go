package nn

import (
	"reflect"
	"unsafe"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// This file holds the functional view of a module tree: running a module
// with substitute parameters without touching it (FunctionalCall,
// WithParams), deep copies (Clone) and cheap save/restore of parameter
// values (Snapshot). Meta-learning and architecture search build on them:
// MAML's fast weights are Vars computed from the parameters, a DARTS
// unrolled step evaluates the network at w ± ε·v, and parallel workers
// each own a Clone.
//
// The tree is copied structurally with reflection: every module is a
// pointer to a struct embedding Base; its struct is copied field by field,
// its registered parameter fields are set to the substitutes, and every
// field (exported or not, inside slices, arrays, maps and nested structs)
// that points to a copied module, parameter or buffer is redirected to the
// copy. Tensors are shared unless the copy is deep.

// baser is implemented by every module that embeds Base.
type baser interface{ base() *Base }

func (b *Base) base() *Base { return b }

func nnPanic(op, format string, args ...any) {
	panic(tensor.Errorf(op, format, args...))
}

// treeCopier copies a module tree once.
type treeCopier struct {
	op string
	// param returns the parameter the copy of the module tree uses in place
	// of old, registered under the dotted name.
	param func(name string, old *autograd.Var) *autograd.Var
	// buffer returns the copy's buffer for old.
	buffer func(old *tensor.Tensor) *tensor.Tensor
	// deep clones random generators so the copy draws its own stream.
	deep bool
	// memo maps each copied pointer (module, parameter Var, buffer,
	// generator) to its replacement.
	memo map[unsafe.Pointer]reflect.Value
}

func newTreeCopier(op string) *treeCopier {
	return &treeCopier{op: op, memo: map[unsafe.Pointer]reflect.Value{}}
}

func (c *treeCopier) module(prefix string, m Module) Module {
	if _, ok := m.(baser); !ok {
		nnPanic(c.op, "module %q of type %T does not embed nn.Base", prefix, m)
	}
	rv := reflect.ValueOf(m)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		nnPanic(c.op, "module %q of type %T is not a non-nil pointer to a struct", prefix, m)
	}
	if nv, ok := c.memo[rv.UnsafePointer()]; ok {
		return nv.Interface().(Module)
	}
	oldBase := m.(baser).base()
	typ := rv.Elem().Type()
	nv := reflect.New(typ)
	nv.Elem().Set(rv.Elem())
	c.memo[rv.UnsafePointer()] = nv
	nm := nv.Interface().(Module)
	nb := nm.(baser).base()

	// Parameters: the slot of a registered field moves with the struct.
	oldAddr, newAddr, size := rv.UnsafePointer(), nv.UnsafePointer(), typ.Size()
	nb.params = make([]paramSlot, len(oldBase.params))
	for i, p := range oldBase.params {
		var slot **autograd.Var
		if off := uintptr(unsafe.Pointer(p.slot)) - uintptr(oldAddr); uintptr(unsafe.Pointer(p.slot)) >= uintptr(oldAddr) && off < size {
			slot = (**autograd.Var)(unsafe.Add(newAddr, off))
		} else {
			slot = new(*autograd.Var)
		}
		old := *p.slot
		var np *autograd.Var
		if v, ok := c.memo[unsafe.Pointer(old)]; ok {
			np = v.Interface().(*autograd.Var)
		} else {
			np = c.param(prefix+p.name, old)
			c.memo[unsafe.Pointer(old)] = reflect.ValueOf(np)
		}
		*slot = np
		nb.params[i] = paramSlot{name: p.name, slot: slot}
	}
	nb.buffers = make([]NamedBuffer, len(oldBase.buffers))
	for i, b := range oldBase.buffers {
		nt := b.Buffer
		if v, ok := c.memo[unsafe.Pointer(b.Buffer)]; ok {
			nt = v.Interface().(*tensor.Tensor)
		} else if c.buffer != nil {
			nt = c.buffer(b.Buffer)
			c.memo[unsafe.Pointer(b.Buffer)] = reflect.ValueOf(nt)
		}
		nb.buffers[i] = NamedBuffer{Name: b.Name, Buffer: nt}
	}
	nb.children = make([]namedModule, len(oldBase.children))
	for i, ch := range oldBase.children {
		nb.children[i] = namedModule{name: ch.name, m: c.module(prefix+ch.name+".", ch.m)}
	}
	// Redirect every other field that points into the old tree.
	c.fixStruct(nv.Elem())
	return nm
}

var (
	baseType      = reflect.TypeFor[Base]()
	generatorType = reflect.TypeFor[*tensor.Generator]()
)

// settable returns v (addressable) as a settable Value even when it was
// reached through unexported fields.
func settable(v reflect.Value) reflect.Value {
	if v.CanSet() {
		return v
	}
	return reflect.NewAt(v.Type(), unsafe.Pointer(v.UnsafeAddr())).Elem()
}

// replacement returns what v (a pointer or interface value) is replaced by
// in the copy, and whether it is replaced.
func (c *treeCopier) replacement(v reflect.Value) (reflect.Value, bool) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v, false
		}
		if v.Type() == generatorType && c.deep {
			if r, ok := c.memo[v.UnsafePointer()]; ok {
				return r, true
			}
			g := v.Interface().(*tensor.Generator)
			seed, off := g.State()
			ng := tensor.NewGenerator(seed)
			ng.SetState(seed, off)
			r := reflect.ValueOf(ng)
			c.memo[v.UnsafePointer()] = r
			return r, true
		}
		r, ok := c.memo[v.UnsafePointer()]
		if ok && r.Type().AssignableTo(v.Type()) {
			return r, true
		}
	case reflect.Interface:
		if v.IsNil() {
			return v, false
		}
		e := v.Elem()
		if e.Kind() == reflect.Pointer {
			if r, ok := c.replacement(e); ok && r.Type().AssignableTo(v.Type()) {
				return r, true
			}
		}
	}
	return v, false
}

// fix redirects the pointers held by the addressable value v and reports
// whether anything changed. Slices and maps that hold a redirected value are
// copied first, so the original tree's backing arrays stay untouched.
func (c *treeCopier) fix(v reflect.Value) bool {
	if !v.CanInterface() {
		v = settable(v) // reached through an unexported field
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if r, ok := c.replacement(v); ok {
			settable(v).Set(r)
			return true
		}
	case reflect.Struct:
		if v.Type() == baseType {
			return false // handled by module
		}
		return c.fixStruct(v)
	case reflect.Array:
		changed := false
		for i := range v.Len() {
			changed = c.fix(v.Index(i)) || changed
		}
		return changed
	case reflect.Slice:
		if v.IsNil() || !c.mayHold(v.Type().Elem()) {
			return false
		}
		cp := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(cp, v)
		changed := false
		for i := range cp.Len() {
			changed = c.fix(cp.Index(i)) || changed
		}
		if changed {
			settable(v).Set(cp)
		}
		return changed
	case reflect.Map:
		if v.IsNil() || !c.mayHold(v.Type().Elem()) {
			return false
		}
		cp := reflect.MakeMapWithSize(v.Type(), v.Len())
		changed := false
		it := v.MapRange()
		for it.Next() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(it.Value())
			changed = c.fix(e) || changed
			cp.SetMapIndex(it.Key(), e)
		}
		if changed {
			settable(v).Set(cp)
		}
		return changed
	}
	return false
}

func (c *treeCopier) fixStruct(v reflect.Value) bool {
	changed := false
	for i := range v.NumField() {
		changed = c.fix(v.Field(i)) || changed
	}
	return changed
}

// mayHold reports whether values of type t can contain a pointer the copy
// redirects (so slices of numbers are never copied).
func (c *treeCopier) mayHold(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map, reflect.Struct, reflect.Array:
		return true
	}
	return false
}

// WithParams returns a view of m whose parameters named in params (dotted
// names as Parameters lists them) are the given Vars, the others m's own.
// m itself is not changed: the view is a structural copy of the module tree
// that shares every tensor, buffer and unsubstituted parameter with m, so
// gradients of the view's outputs flow into the given Vars (and through
// them into whatever they were computed from, as second-order MAML needs).
// Buffers are shared: a BatchNorm in training mode updates m's running
// statistics. Views are cheap to make (a reflective copy of the module
// structs, no tensor copies), so one may be made per forward pass.
//
// It panics with a *tensor.Error when a name is unknown or a shape
// differs, or when a module of the tree does not embed Base.
func WithParams(m Module, params map[string]*autograd.Var) Module {
	const op = "nn.WithParams"
	byName := map[string]*autograd.Var{}
	for _, p := range m.Parameters() {
		byName[p.Name] = p.Param
	}
	for name, v := range params {
		old, ok := byName[name]
		if !ok {
			nnPanic(op, "no parameter named %q", name)
		}
		if v == nil || !v.Shape().Equal(old.Shape()) {
			nnPanic(op, "parameter %s has shape %v, substitute %v", name, old.Shape(), v)
		}
	}
	c := newTreeCopier(op)
	c.param = func(name string, old *autograd.Var) *autograd.Var {
		if v, ok := params[name]; ok {
			return v
		}
		return old
	}
	return c.module("", m)
}

// WithParamList is WithParams with the substitutes given in the order of
// m.Parameters() (as Params returns them); it must hold one Var per
// parameter.
func WithParamList(m Module, params []*autograd.Var) Module {
	ps := m.Parameters()
	if len(params) != len(ps) {
		nnPanic("nn.WithParamList", "%d Vars for %d parameters", len(params), len(ps))
	}
	byName := make(map[string]*autograd.Var, len(ps))
	for i, p := range ps {
		byName[p.Name] = params[i]
	}
	return WithParams(m, byName)
}

// FunctionalCall runs m.Forward(x) with the parameters named in params in
// place of m's own, like torch.func.functional_call, and leaves m
// unchanged (see WithParams). It is safe to call concurrently on one module
// from several goroutines as long as nothing mutates the module meanwhile
// and the module has no buffers that its Forward updates.
func FunctionalCall(m Module, params map[string]*autograd.Var, x *autograd.Var) *autograd.Var {
	return WithParams(m, params).Forward(x)
}

// Clone returns a deep copy of m: new parameter leaves holding copies of
// the values (with the same RequiresGrad, and no gradient), copies of the
// buffers, copies of random generators at the same state, and a copy of the
// module tree with every internal reference redirected, so nothing the
// copy does affects m. Func modules' functions are shared (they should be
// stateless). It panics with a *tensor.Error when a module of the tree does
// not embed Base.
func Clone[M Module](m M) M {
	c := newTreeCopier("nn.Clone")
	c.deep = true
	c.param = func(_ string, old *autograd.Var) *autograd.Var {
		return autograd.NewVar(old.Value().Clone(), old.RequiresGrad())
	}
	c.buffer = func(old *tensor.Tensor) *tensor.Tensor { return old.Clone() }
	return c.module("", m).(M)
}

// Snapshot holds copies of a module's parameter and buffer values, in the
// order of Parameters and Buffers, to restore them later (the inner loop of
// Reptile, a trial's weights in an architecture search).
type Snapshot struct {
	Params  []*tensor.Tensor
	Buffers []*tensor.Tensor
}

// TakeSnapshot copies the values of m's parameters and buffers.
func TakeSnapshot(m Module) *Snapshot {
	s := &Snapshot{}
	for _, p := range m.Parameters() {
		s.Params = append(s.Params, p.Param.Value().Clone())
	}
	for _, b := range m.Buffers() {
		s.Buffers = append(s.Buffers, b.Buffer.Clone())
	}
	return s
}

func (s *Snapshot) check(op string, ps []NamedParam, bs []NamedBuffer) {
	if len(ps) != len(s.Params) || len(bs) != len(s.Buffers) {
		nnPanic(op, "snapshot of %d parameters and %d buffers for a module with %d and %d", len(s.Params), len(s.Buffers), len(ps), len(bs))
	}
	for i, p := range ps {
		if !p.Param.Shape().Equal(s.Params[i].Shape()) {
			nnPanic(op, "parameter %s has shape %v, snapshot %v", p.Name, p.Param.Shape(), s.Params[i].Shape())
		}
	}
	for i, b := range bs {
		if !b.Buffer.Shape().Equal(s.Buffers[i].Shape()) {
			nnPanic(op, "buffer %s has shape %v, snapshot %v", b.Name, b.Buffer.Shape(), s.Buffers[i].Shape())
		}
	}
}

// Capture copies m's current values into the snapshot's tensors in place
// (no allocation); m must have the snapshot's layout.
func (s *Snapshot) Capture(m Module) {
	ps, bs := m.Parameters(), m.Buffers()
	s.check("nn.Snapshot.Capture", ps, bs)
	for i, p := range ps {
		s.Params[i].CopyFrom(p.Param.Value().To(s.Params[i].Device()))
	}
	for i, b := range bs {
		s.Buffers[i].CopyFrom(b.Buffer.To(s.Buffers[i].Device()))
	}
}

// Restore copies the snapshot into m's parameters and buffers in place
// (the Vars and tensors keep their identity, so optimizers and views stay
// valid); m must have the snapshot's layout (m itself or a Clone of it).
func (s *Snapshot) Restore(m Module) {
	ps, bs := m.Parameters(), m.Buffers()
	s.check("nn.Snapshot.Restore", ps, bs)
	for i, p := range ps {
		p.Param.SetValue(s.Params[i])
	}
	for i, b := range bs {
		b.Buffer.CopyFrom(s.Buffers[i].To(b.Buffer.Device()))
	}
}
