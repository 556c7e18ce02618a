package cuda

import (
	"fmt"
	"strings"
	"sync"
)

// Module is a loaded PTX (or cubin/fatbin) image.
type Module struct {
	d *Device
	h handle
	// InfoLog is the JIT compiler's information log from loading.
	InfoLog string

	mu    sync.Mutex
	funcs map[string]*Function
}

// LoadModule JIT-compiles and loads a PTX image with cuModuleLoadDataEx.
// On failure the error includes the JIT error log.
func (d *Device) LoadModule(image []byte) (*Module, error) {
	h, info, elog, r := d.api.moduleLoad(d.ctx, image)
	if r != Success {
		err := newError(d.api, "cuModuleLoadDataEx", r)
		if e, ok := err.(*Error); ok {
			e.Log = strings.TrimSpace(strings.TrimSpace(elog) + "\n" + strings.TrimSpace(info))
		}
		return nil, err
	}
	return &Module{d: d, h: h, InfoLog: info, funcs: map[string]*Function{}}, nil
}

// Unload unloads the module; its functions become invalid.
func (m *Module) Unload() error {
	if m.h == nil {
		return nil
	}
	err := newError(m.d.api, "cuModuleUnload", m.d.api.moduleUnload(m.d.ctx, m.h))
	m.h = nil
	return err
}

// Function is a kernel in a module.
type Function struct {
	m    *Module
	h    handle
	name string
}

// Function looks up a kernel by its (extern "C") name; lookups are cached.
func (m *Module) Function(name string) (*Function, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if f := m.funcs[name]; f != nil {
		return f, nil
	}
	h, r := m.d.api.moduleGetFunction(m.d.ctx, m.h, name)
	if r != Success {
		err := newError(m.d.api, "cuModuleGetFunction", r)
		return nil, fmt.Errorf("kernel %q: %w", name, err)
	}
	f := &Function{m: m, h: h, name: name}
	m.funcs[name] = f
	return f, nil
}

// Name is the kernel name.
func (f *Function) Name() string { return f.name }

// CUfunction_attribute values (cuda.h).
const (
	FuncMaxThreadsPerBlock = 0
	FuncSharedSizeBytes    = 1
	FuncNumRegs            = 4
	FuncPTXVersion         = 5
	FuncBinaryVersion      = 6
)

// Attribute queries a function attribute (cuFuncGetAttribute).
func (f *Function) Attribute(attr int) (int, error) {
	v, r := f.m.d.api.funcAttribute(f.m.d.ctx, f.h, attr)
	return v, newError(f.m.d.api, "cuFuncGetAttribute", r)
}

// Launch queues the kernel on stream s (nil: default stream) with the
// given arguments, packed by Args.Add (see Args for the accepted types).
func (f *Function) Launch(grid, block Dim3, shmem uint32, s *Stream, args ...any) error {
	a := NewArgs()
	for _, v := range args {
		a.Add(v)
	}
	return f.LaunchArgs(grid, block, shmem, s, a)
}

// LaunchArgs is Launch with a prepared argument pack (no per-call
// allocation when a is reused).
func (f *Function) LaunchArgs(grid, block Dim3, shmem uint32, s *Stream, a *Args) error {
	if a != nil && a.err != nil {
		return fmt.Errorf("kernel %q: %w", f.name, a.err)
	}
	for _, g := range []Dim3{grid, block} {
		if g.X == 0 || g.Y == 0 || g.Z == 0 {
			return fmt.Errorf("cuda: kernel %q: zero grid or block dimension %+v", f.name, g)
		}
	}
	r := f.m.d.api.launch(f.m.d.ctx, f.h, grid, block, shmem, s.Handle(), a)
	if r != Success {
		return fmt.Errorf("kernel %q: %w", f.name, newError(f.m.d.api, "cuLaunchKernel", r))
	}
	return nil
}
