//go:build !(mpi && cgo)

package mpi

// Linked reports whether the MPI backend is compiled in (the mpi build tag).
func Linked() bool { return false }
