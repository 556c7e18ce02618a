//go:build !amd64 || purego

package cpu

// Without amd64 assembly (other architectures, or the purego build tag) the
// portable Go micro-kernels selected in generic.go stay active.
