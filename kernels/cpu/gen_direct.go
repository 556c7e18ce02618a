//go:build ignore

// gen_direct writes the amd64 small-GEMM kernels that read their operands in
// place (direct_amd64.s). Run it with `go generate ./kernels/cpu`.
//
// A kernel sgemmDirect<fam>R<r> computes r rows of a row-major C from r
// rows of a row-major A and a row-major B, without packing:
//
//	C[i*ldc + j] = alpha * sum_p A[i*lda+p]*B[p*ldb+j] + beta*C[i*ldc + j]
//
// for i < r and j < 16*strips (plus, in the AVX-512 family, the columns
// 16*strips+t of a last strip for the bits t set in mask), reading C only
// when beta != 0. Each 16-column strip of the r-row tile lives in
// registers for the whole k loop; each k step loads the 16 elements of B's
// row p and multiplies them by A[i][p] for every row i.
//
//   - AVX2 (16 ymm registers): r <= 6, two ymm accumulators per row, A's
//     element broadcast into a register (VBROADCASTSS) and used twice.
//
//   - AVX-512: r <= 16, one zmm accumulator per row, A's element an
//     embedded broadcast operand of the FMA ({1to16}); the partial last
//     strip uses opmask K1 for B's loads and C's loads and stores. On Zen 4
//     this runs at 112-116 GFLOP/s from N = 32 up, against 94-98 for two
//     ymm per row with VBROADCASTSS (12 rows, AVX-512VL's 32 registers),
//     99-104 for ymm with embedded broadcasts, and 84-87 for zmm with
//     VBROADCASTSS: the separate broadcasts compete with the FMAs.
//
// The T variants (AVX2T, AVX512T) read a column-major A, A[i + p*lda]: the
// rows of a tile are adjacent elements, lda the step between k steps.
package main

import (
	"bytes"
	"fmt"
	"go/format"
	"os"
)

type family struct {
	name  string // "AVX2", "AVX512", ...
	maxR  int
	zmm   bool // one zmm per row of the 16-column strip (else two ymm)
	embed bool // FMAs with an embedded broadcast of A's element (AVX-512)
	at    bool // A's rows contiguous (unit row stride, lda between k steps)
}

func gen(w *bytes.Buffer, f family, r int) {
	p := func(format string, a ...any) { fmt.Fprintf(w, "\t"+format+"\n", a...) }
	name := fmt.Sprintf("sgemmDirect%sR%d", f.id(), r)
	vr := func(i int) string { return fmt.Sprintf("Y%d", i) }
	nv := 2 // vectors per row
	if f.zmm {
		vr = func(i int) string { return fmt.Sprintf("Z%d", i) }
		nv = 1
	}
	acc := func(row, v int) string { return vr(nv*row + v) }
	// B registers (nv per step, two sets when there is room) and
	// broadcast registers (rotating).
	nacc := nv * f.maxR
	var bSets [][]int
	var bc []int
	if f.maxR == 6 { // AVX2: 16 registers
		bSets = [][]int{{12, 13}}
		bc = []int{14, 15}
	} else {
		for s := 0; s < 2; s++ {
			var set []int
			for v := 0; v < nv; v++ {
				set = append(set, nacc+s*nv+v)
			}
			bSets = append(bSets, set)
		}
		for i := nacc + 2*nv; i < 32; i++ {
			bc = append(bc, i)
		}
	}
	aBase := []string{"SI", "R11", "R12", "R15"}
	aIdx := []string{"", "(R13*1)", "(R13*2)", "(AX*1)"}
	bIdx := []string{"", "(R9*1)", "(R9*2)", "(R10*1)"}

	fmt.Fprintf(w, "// func %s(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc, strips, mask int, alpha, beta float32)\n", name)
	fmt.Fprintf(w, "TEXT ·%s(SB), NOSPLIT, $0-80\n", name)
	p("MOVQ lda+16(FP), R13")
	p("SHLQ $2, R13")
	p("LEAQ (R13)(R13*2), AX")
	p("MOVQ ldb+32(FP), R9")
	p("SHLQ $2, R9")
	p("LEAQ (R9)(R9*2), R10")
	p("MOVQ ldc+48(FP), R8")
	p("SHLQ $2, R8")
	p("MOVQ b+24(FP), R14")
	p("MOVQ c+40(FP), DI")
	p("MOVQ strips+56(FP), DX")
	if f.masked() {
		p("MOVQ mask+64(FP), BX")
		p("KMOVW BX, K1")
	}
	p("TESTQ DX, DX")
	p("JZ %s_edge", name)
	// body emits one strip: the full one (label suffix "") or the masked
	// edge strip ("m"), whose B loads and C accesses are limited to the
	// columns in K1.
	body := func(sfx string, masked bool) {
		lbl := name + sfx
		for i := 0; i < nv*r; i++ {
			if f.zmm {
				p("VPXORD %s, %s, %s", vr(i), vr(i), vr(i))
			} else {
				p("VXORPS %s, %s, %s", vr(i), vr(i), vr(i))
			}
		}
		p("MOVQ a+8(FP), SI")
		groups := (r + 3) / 4
		if f.at {
			groups = 1
		}
		for g := 1; g < groups; g++ {
			p("LEAQ (%s)(R13*4), %s", aBase[g-1], aBase[g])
		}
		p("MOVQ R14, BX")
		bci := 0
		step := func(s int) {
			set := bSets[s%len(bSets)]
			for v := 0; v < nv; v++ {
				if masked {
					p("VMOVUPS.Z %d(BX)%s, K1, %s", 32*v, bIdx[s], vr(set[v]))
				} else {
					p("VMOVUPS %d(BX)%s, %s", 32*v, bIdx[s], vr(set[v]))
				}
			}
			for i := 0; i < r; i++ {
				addr := fmt.Sprintf("%d(%s)%s", 4*s, aBase[i/4], aIdx[i%4])
				if f.at {
					addr = fmt.Sprintf("%d(SI)%s", 4*i, aIdx[s])
				}
				if f.embed {
					for v := 0; v < nv; v++ {
						p("VFMADD231PS.BCST %s, %s, %s", addr, vr(set[v]), acc(i, v))
					}
					continue
				}
				b := vr(bc[bci%len(bc)])
				bci++
				p("VBROADCASTSS %s, %s", addr, b)
				for v := 0; v < nv; v++ {
					p("VFMADD231PS %s, %s, %s", vr(set[v]), b, acc(i, v))
				}
			}
		}
		advanceA := func(steps int) {
			if f.at {
				if steps == 4 {
					p("LEAQ (SI)(R13*4), SI")
				} else {
					p("ADDQ R13, SI")
				}
				return
			}
			for g := 0; g < groups; g++ {
				p("ADDQ $%d, %s", 4*steps, aBase[g])
			}
		}
		p("MOVQ k+0(FP), CX")
		p("SHRQ $2, CX")
		p("JZ %s_tail", lbl)
		fmt.Fprintf(w, "%s_loop:\n", lbl)
		for s := 0; s < 4; s++ {
			step(s)
		}
		p("LEAQ (BX)(R9*4), BX")
		advanceA(4)
		p("DECQ CX")
		p("JNZ %s_loop", lbl)
		fmt.Fprintf(w, "%s_tail:\n", lbl)
		p("MOVQ k+0(FP), CX")
		p("ANDQ $3, CX")
		p("JZ %s_store", lbl)
		fmt.Fprintf(w, "%s_tailloop:\n", lbl)
		step(0)
		p("ADDQ R9, BX")
		advanceA(1)
		p("DECQ CX")
		p("JNZ %s_tailloop", lbl)
		fmt.Fprintf(w, "%s_store:\n", lbl)
		// alpha and beta in the broadcast registers, free after the k loop
		// (every family has at least two).
		alpha, beta := vr(bc[0]), vr(bc[1])
		k1 := ""
		if masked {
			k1 = "K1, "
		}
		// store writes the r rows of the tile: C = alpha·acc (+ beta·C).
		store := func(withBeta bool) {
			for i := 0; i < r; i++ {
				for v := 0; v < nv; v++ {
					p("VMULPS %s, %s, %s", alpha, acc(i, v), acc(i, v))
					if withBeta {
						p("VFMADD231PS %d(R11), %s, %s%s", 32*v, beta, k1, acc(i, v))
					}
					p("VMOVUPS %s, %s%d(R11)", acc(i, v), k1, 32*v)
				}
				if i+1 < r {
					p("ADDQ R8, R11")
				}
			}
		}
		p("VBROADCASTSS alpha+72(FP), %s", alpha)
		p("MOVQ DI, R11")
		p("MOVL beta+76(FP), BX")
		p("SHLL $1, BX") // +0 and -0 are both zero
		p("JZ %s_nobeta", lbl)
		p("VBROADCASTSS beta+76(FP), %s", beta)
		store(true)
		p("JMP %s_next", lbl)
		fmt.Fprintf(w, "%s_nobeta:\n", lbl)
		store(false)
		fmt.Fprintf(w, "%s_next:\n", lbl)
	}
	fmt.Fprintf(w, "%s_strip:\n", name)
	body("", false)
	p("ADDQ $64, R14")
	p("ADDQ $64, DI")
	p("DECQ DX")
	p("JNZ %s_strip", name)
	fmt.Fprintf(w, "%s_edge:\n", name)
	if f.masked() {
		p("KORTESTW K1, K1")
		p("JZ %s_done", name)
		body("m", true)
		fmt.Fprintf(w, "%s_done:\n", name)
	}
	p("VZEROUPPER")
	p("RET")
	fmt.Fprintln(w)
}

// id names the family's kernels: AVX2, AVX512, and AVX2T, AVX512T for a
// transposed A.
func (f family) id() string {
	if f.at {
		return f.name + "T"
	}
	return f.name
}

// masked reports whether the family's kernels compute a last, partial strip
// with the columns in mask (AVX-512 opmask K1).
func (f family) masked() bool { return f.zmm }

var fams = []family{
	{name: "AVX2", maxR: 6},
	{name: "AVX512", maxR: 16, zmm: true, embed: true},
	{name: "AVX2", maxR: 6, at: true},
	{name: "AVX512", maxR: 16, zmm: true, embed: true, at: true},
}

func main() {
	var w bytes.Buffer
	w.WriteString("// Code generated by gen_direct.go; DO NOT EDIT.\n\n//go:build !purego\n\n#include \"textflag.h\"\n\n")
	for _, f := range fams {
		for r := 1; r <= f.maxR; r++ {
			gen(&w, f, r)
		}
	}
	if err := os.WriteFile("direct_amd64.s", w.Bytes(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The Go declarations.
	var d bytes.Buffer
	d.WriteString("// Code generated by gen_direct.go; DO NOT EDIT.\n\n//go:build !purego\n\npackage cpu\n\n")
	for _, f := range fams {
		for r := 1; r <= f.maxR; r++ {
			fmt.Fprintf(&d, "//go:noescape\nfunc sgemmDirect%sR%d(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc, strips, mask int, alpha, beta float32)\n\n", f.id(), r)
		}
	}
	for _, f := range fams {
		fmt.Fprintf(&d, "// direct%s holds the %s kernels by row count (index 0 unused).\nvar direct%s = [...]directKernel{nil", f.id(), f.id(), f.id())
		for r := 1; r <= f.maxR; r++ {
			fmt.Fprintf(&d, ", sgemmDirect%sR%d", f.id(), r)
		}
		d.WriteString("}\n\n")
	}
	src, err := format.Source(d.Bytes())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile("direct_decl_amd64.go", src, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
