//go:build !amd64 || purego

package cpu

func packCopyAsm[T float](dst, x []T, cs, kb, w int) bool { return false }
