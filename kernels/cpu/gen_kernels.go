//go:build ignore

// gen_kernels writes the amd64 GEMM micro-kernels (kernels_amd64.s).
// Run it with `go generate ./kernels/cpu`.
//
// Every kernel computes one MR×NR tile of C from a packed A micro-panel
// (k steps of MR contiguous elements) and a packed B micro-panel (k steps of NR
// contiguous elements):
//
//	C[i + j*ldc] = alpha * sum_p A[p*MR+i]*B[p*NR+j] + beta*C[i + j*ldc]
//
// with C read only when beta != 0. The accumulators are V vector registers per
// column of the tile (MR = V*lanes), NR columns, kept in registers for the
// whole k loop; B elements are broadcast from memory into two rotating
// registers.
package main

import (
	"bytes"
	"fmt"
	"os"
)

type kern struct {
	name   string
	isa    string // "avx512" or "avx2"
	f64    bool
	v      int // vector registers per column
	nr     int // columns
	unroll int
	pfDist int // A prefetch distance in bytes
}

func (k kern) lanes() int {
	w := 16
	if k.isa == "avx2" {
		w = 8
	}
	if k.f64 {
		w /= 2
	}
	return w
}

func (k kern) esz() int {
	if k.f64 {
		return 8
	}
	return 4
}

func (k kern) reg(i int) string {
	if k.isa == "avx512" {
		return fmt.Sprintf("Z%d", i)
	}
	return fmt.Sprintf("Y%d", i)
}

func (k kern) sfx() string {
	if k.f64 {
		return "PD"
	}
	return "PS"
}

func (k kern) bcast() string {
	if k.f64 {
		return "VBROADCASTSD"
	}
	return "VBROADCASTSS"
}

func (k kern) vecBytes() int { return k.lanes() * k.esz() }

func gen(w *bytes.Buffer, k kern) {
	p := func(format string, a ...any) { fmt.Fprintf(w, "\t"+format+"\n", a...) }
	nacc := k.v * k.nr
	aReg := nacc       // k.v registers
	bReg := nacc + k.v // two registers
	mr := k.v * k.lanes()
	argSize := 48
	betaOff := 44
	if k.f64 {
		argSize = 56
		betaOff = 48
	}
	fmt.Fprintf(w, "// func %s(k int, a, b, c *%s, ldc int, alpha, beta %s)\n", k.name, k.typ(), k.typ())
	fmt.Fprintf(w, "// %dx%d tile, %s.\n", mr, k.nr, k.isa)
	fmt.Fprintf(w, "TEXT ·%s(SB), NOSPLIT, $0-%d\n", k.name, argSize)
	p("MOVQ k+0(FP), CX")
	p("MOVQ a+8(FP), SI")
	p("MOVQ b+16(FP), DI")
	p("MOVQ c+24(FP), DX")
	p("MOVQ ldc+32(FP), R8")
	if k.f64 {
		p("SHLQ $3, R8")
	} else {
		p("SHLQ $2, R8")
	}
	for i := 0; i < nacc; i++ {
		if k.isa == "avx512" {
			p("VPXORD %s, %s, %s", k.reg(i), k.reg(i), k.reg(i))
		} else {
			p("VXORPS %s, %s, %s", k.reg(i), k.reg(i), k.reg(i))
		}
	}
	// Prefetch the C tile.
	p("MOVQ DX, R9")
	for j := 0; j < k.nr; j++ {
		for off := 0; off < mr*k.esz(); off += 64 {
			p("PREFETCHT0 %d(R9)", off)
		}
		if j+1 < k.nr {
			p("ADDQ R8, R9")
		}
	}
	step := func(s int) {
		aoff := s * mr * k.esz()
		boff := s * k.nr * k.esz()
		for v := 0; v < k.v; v++ {
			p("VMOVUP%s %d(SI), %s", k.sfx()[1:], aoff+v*k.vecBytes(), k.reg(aReg+v))
		}
		if k.pfDist > 0 {
			p("PREFETCHT0 %d(SI)", aoff+k.pfDist)
		}
		for j := 0; j < k.nr; j++ {
			br := k.reg(bReg + j%2)
			p("%s %d(DI), %s", k.bcast(), boff+j*k.esz(), br)
			for v := 0; v < k.v; v++ {
				p("VFMADD231%s %s, %s, %s", k.sfx(), k.reg(aReg+v), br, k.reg(j*k.v+v))
			}
		}
	}
	u := k.unroll
	p("MOVQ CX, BX")
	p("SHRQ $%d, BX", log2(u))
	p("JZ %s_tail", k.name)
	fmt.Fprintf(w, "%s_loop:\n", k.name)
	for s := 0; s < u; s++ {
		step(s)
	}
	p("ADDQ $%d, SI", u*mr*k.esz())
	p("ADDQ $%d, DI", u*k.nr*k.esz())
	p("DECQ BX")
	p("JNZ %s_loop", k.name)
	fmt.Fprintf(w, "%s_tail:\n", k.name)
	p("ANDQ $%d, CX", u-1)
	p("JZ %s_store", k.name)
	fmt.Fprintf(w, "%s_tailloop:\n", k.name)
	step(0)
	p("ADDQ $%d, SI", mr*k.esz())
	p("ADDQ $%d, DI", k.nr*k.esz())
	p("DECQ CX")
	p("JNZ %s_tailloop", k.name)
	fmt.Fprintf(w, "%s_store:\n", k.name)
	alpha, beta := k.reg(aReg), k.reg(aReg+1)
	p("%s alpha+40(FP), %s", k.bcast(), alpha)
	if k.f64 {
		p("MOVQ beta+%d(FP), AX", betaOff)
		p("SHLQ $1, AX")
	} else {
		p("MOVL beta+%d(FP), AX", betaOff)
		p("SHLL $1, AX")
	}
	p("JZ %s_nobeta", k.name)
	p("%s beta+%d(FP), %s", k.bcast(), betaOff, beta)
	for j := 0; j < k.nr; j++ {
		for v := 0; v < k.v; v++ {
			r := k.reg(j*k.v + v)
			p("VMUL%s %s, %s, %s", k.sfx(), alpha, r, r)
			p("VFMADD231%s %d(DX), %s, %s", k.sfx(), v*k.vecBytes(), beta, r)
			p("VMOVUP%s %s, %d(DX)", k.sfx()[1:], r, v*k.vecBytes())
		}
		if j+1 < k.nr {
			p("ADDQ R8, DX")
		}
	}
	p("VZEROUPPER")
	p("RET")
	fmt.Fprintf(w, "%s_nobeta:\n", k.name)
	for j := 0; j < k.nr; j++ {
		for v := 0; v < k.v; v++ {
			r := k.reg(j*k.v + v)
			p("VMUL%s %s, %s, %s", k.sfx(), alpha, r, r)
			p("VMOVUP%s %s, %d(DX)", k.sfx()[1:], r, v*k.vecBytes())
		}
		if j+1 < k.nr {
			p("ADDQ R8, DX")
		}
	}
	p("VZEROUPPER")
	p("RET")
	fmt.Fprintln(w)
}

func (k kern) typ() string {
	if k.f64 {
		return "float64"
	}
	return "float32"
}

func log2(n int) int {
	r := 0
	for n > 1 {
		n >>= 1
		r++
	}
	return r
}

// The kernel shapes; kernels_amd64.go must agree (mr = v*lanes, nr).
var kernels = []kern{
	{name: "sgemmKernelAVX512", isa: "avx512", v: 2, nr: 12, unroll: 4, pfDist: 1024},
	{name: "dgemmKernelAVX512", isa: "avx512", f64: true, v: 2, nr: 12, unroll: 4, pfDist: 1024},
	{name: "sgemmKernelAVX2", isa: "avx2", v: 2, nr: 6, unroll: 4, pfDist: 512},
	{name: "dgemmKernelAVX2", isa: "avx2", f64: true, v: 2, nr: 6, unroll: 4, pfDist: 512},
}

func main() {
	var w bytes.Buffer
	w.WriteString("// Code generated by gen_kernels.go; DO NOT EDIT.\n\n//go:build !purego\n\n#include \"textflag.h\"\n\n")
	for _, k := range kernels {
		gen(&w, k)
	}
	if err := os.WriteFile("kernels_amd64.s", w.Bytes(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
