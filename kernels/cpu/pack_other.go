//go:build !amd64 || purego

package cpu

func packCopyAsm[T float](dst, x []T, cs, kb, w int) bool { return false }

func packTransAsm[T float](dst, x []T, base, rs, rows, kb, w int) (int, int) { return 0, 0 }

// hasTransposeAsm reports whether packTransAsm transposes (never here).
const hasTransposeAsm = false
