//go:build !(linux && cgo)

package dl

import "unsafe"

// Supported reports whether this build can dlopen libraries.
const Supported = false

func dlopen(string, bool) (unsafe.Pointer, error)          { return nil, ErrUnavailable }
func dlsym(unsafe.Pointer, string) (unsafe.Pointer, error) { return nil, ErrUnavailable }
func originOf(_ unsafe.Pointer, fallback string) string    { return fallback }
