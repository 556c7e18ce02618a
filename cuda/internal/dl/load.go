package dl

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"
)

// ErrUnavailable is returned when dynamic loading is not supported in this
// build (not linux, or cgo disabled).
var ErrUnavailable = errors.New("dynamic loading of CUDA libraries needs linux and cgo")

// Library is an opened shared library. Handles are never closed: NVIDIA's
// libraries are not designed to be unloaded and reloaded in one process.
type Library struct {
	// Path is what was handed to dlopen (a file path or a bare soname).
	Path string
	// Resolved is the file the loader actually mapped (from dladdr/dlinfo
	// when available, else Path).
	Resolved string
	// Companion is the companion library that was preloaded, if any.
	Companion string
	handle    unsafe.Pointer
}

// Sym returns the address of symbol name, or an error naming the symbol and
// the library. The address is C memory (a function), never a Go pointer.
func (l *Library) Sym(name string) (unsafe.Pointer, error) {
	p, err := dlsym(l.handle, name)
	if err != nil {
		return nil, fmt.Errorf("%s: symbol %s: %w", l.Path, name, err)
	}
	return p, nil
}

// SymOptional returns the symbol's address or nil when it is missing.
func (l *Library) SymOptional(name string) unsafe.Pointer {
	p, _ := dlsym(l.handle, name)
	return p
}

// LoadError lists every candidate that was tried and why it failed.
type LoadError struct {
	Lib   string
	Tried []string
}

func (e *LoadError) Error() string {
	return fmt.Sprintf("cannot load lib%s (set %s or %s): tried %s",
		e.Lib, envFor(e.Lib), DirEnvVar, strings.Join(e.Tried, "; "))
}

func envFor(name string) string {
	for _, l := range []Lib{LibCUDA, LibCUBLAS, LibNCCL} {
		if l.Name == name {
			return l.EnvVar
		}
	}
	return "TESSERA_LIB" + strings.ToUpper(name)
}

// Load opens the first candidate of lib that dlopen accepts.
func Load(lib Lib, env Env) (*Library, error) {
	if !Supported {
		return nil, ErrUnavailable
	}
	le := &LoadError{Lib: lib.Name}
	for _, c := range Candidates(lib, env) {
		if c.Companion != "" {
			if _, err := dlopen(c.Companion, true); err != nil {
				le.Tried = append(le.Tried, fmt.Sprintf("%s (%s; companion: %v)", c.Path, c.Source, err))
				continue
			}
		}
		h, err := dlopen(c.Path, false)
		if err != nil {
			le.Tried = append(le.Tried, fmt.Sprintf("%s (%s): %v", c.Path, c.Source, err))
			continue
		}
		l := &Library{Path: c.Path, Companion: c.Companion, handle: h}
		l.Resolved = originOf(h, c.Path)
		return l, nil
	}
	return nil, le
}
