//go:build !amd64 || purego

package cpu

// Without amd64 assembly (other architectures, or the purego build tag) only
// the portable Go micro-kernel (generic.go) is available.
func addKernels() {}
