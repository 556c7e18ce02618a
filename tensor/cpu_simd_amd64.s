//go:build amd64 && !purego

#include "textflag.h"

// AVX2 kernels of the CPU device (see cpu_simd_amd64.go). Each processes
// whole blocks of 8 (or 16) elements; the Go callers handle the tails.

DATA simdc<>+0(SB)/4, $0x3f000000  // 0.5
DATA simdc<>+4(SB)/4, $0x3f800000  // 1.0
DATA simdc<>+8(SB)/4, $0x00000000  // 0.0
DATA simdc<>+12(SB)/4, $0x7fffffff // abs mask
DATA simdc<>+16(SB)/4, $0x80000000 // sign mask
DATA simdc<>+20(SB)/4, $0x0000007f // 127 (exponent bias)
DATA simdc<>+24(SB)/4, $0x3fb8aa3b // log2(e)
DATA simdc<>+28(SB)/4, $0x3f318000 // ln2 hi  0.693359375
DATA simdc<>+32(SB)/4, $0xb95e8083 // ln2 lo -2.12194440e-4
DATA simdc<>+36(SB)/4, $0x39506967 // P0 1.9875691500e-4
DATA simdc<>+40(SB)/4, $0x3ab743ce // P1 1.3981999507e-3
DATA simdc<>+44(SB)/4, $0x3c088908 // P2 8.3334519073e-3
DATA simdc<>+48(SB)/4, $0x3d2aa9c1 // P3 4.1665795894e-2
DATA simdc<>+52(SB)/4, $0x3e2aaaaa // P4 1.6666665459e-1
DATA simdc<>+56(SB)/4, $0x3f000000 // P5 5.0000001201e-1
DATA simdc<>+60(SB)/4, $0xc2ae0000 // -87.0: lowest input of the vector exp
DATA simdc<>+64(SB)/4, $0x42b00000 // 88.0: highest input of the vector exp
DATA simdc<>+68(SB)/4, $0x4111999a // 9.1: tanh is ±1 in float32 beyond
DATA simdc<>+72(SB)/4, $0x3e800000 // 0.25: tanh uses its Taylor series below
DATA simdc<>+76(SB)/4, $0x40000000 // 2.0
DATA simdc<>+80(SB)/4, $0xbeaaaaab // -1/3
DATA simdc<>+84(SB)/4, $0x3e088889 // 2/15
DATA simdc<>+88(SB)/4, $0xbd5d0dd1 // -17/315
DATA simdc<>+92(SB)/4, $0x3cb327a4 // 62/2835
GLOBL simdc<>(SB), RODATA|NOPTR, $96

// EXP8 computes Y4 = exp(Y0) for lanes in [-87, 88], using Y1, Y2, Y3, Y5
// as scratch; Y11 holds log2(e), Y12 ln2 hi, Y13 ln2 lo. Same reduction and
// polynomial as exp32 (cpu_fastmath.go), with FMAs.
#define EXP8 \
	VBROADCASTSS simdc<>+0(SB), Y1 \
	VFMADD231PS  Y11, Y0, Y1 \
	VROUNDPS     $1, Y1, Y1 \
	VMOVAPS      Y0, Y2 \
	VFNMADD231PS Y12, Y1, Y2 \
	VFNMADD231PS Y13, Y1, Y2 \
	VMULPS       Y2, Y2, Y3 \
	VBROADCASTSS simdc<>+36(SB), Y4 \
	VBROADCASTSS simdc<>+40(SB), Y5 \
	VFMADD213PS  Y5, Y2, Y4 \
	VBROADCASTSS simdc<>+44(SB), Y5 \
	VFMADD213PS  Y5, Y2, Y4 \
	VBROADCASTSS simdc<>+48(SB), Y5 \
	VFMADD213PS  Y5, Y2, Y4 \
	VBROADCASTSS simdc<>+52(SB), Y5 \
	VFMADD213PS  Y5, Y2, Y4 \
	VBROADCASTSS simdc<>+56(SB), Y5 \
	VFMADD213PS  Y5, Y2, Y4 \
	VFMADD213PS  Y2, Y3, Y4 \
	VBROADCASTSS simdc<>+4(SB), Y5 \
	VADDPS       Y5, Y4, Y4 \
	VCVTTPS2DQ   Y1, Y1 \
	VPBROADCASTD simdc<>+20(SB), Y5 \
	VPADDD       Y5, Y1, Y1 \
	VPSLLD       $23, Y1, Y1 \
	VMULPS       Y1, Y4, Y4

// func reluF32AVX2(d, x *float32, n int)
TEXT ·reluF32AVX2(SB), NOSPLIT, $0-24
	MOVQ d+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VXORPS Y15, Y15, Y15
	XORQ BX, BX
	MOVQ CX, DX
	ANDQ $-32, DX

relu32:
	CMPQ BX, DX
	JGE  relu8
	VMOVUPS (SI)(BX*4), Y0
	VMOVUPS 32(SI)(BX*4), Y1
	VMOVUPS 64(SI)(BX*4), Y2
	VMOVUPS 96(SI)(BX*4), Y3
	VMAXPS  Y0, Y15, Y0 // max(0, x); NaN x gives x
	VMAXPS  Y1, Y15, Y1
	VMAXPS  Y2, Y15, Y2
	VMAXPS  Y3, Y15, Y3
	VMOVUPS Y0, (DI)(BX*4)
	VMOVUPS Y1, 32(DI)(BX*4)
	VMOVUPS Y2, 64(DI)(BX*4)
	VMOVUPS Y3, 96(DI)(BX*4)
	ADDQ    $32, BX
	JMP     relu32

relu8:
	CMPQ BX, CX
	JGE  reludone
	VMOVUPS (SI)(BX*4), Y0
	VMAXPS  Y0, Y15, Y0
	VMOVUPS Y0, (DI)(BX*4)
	ADDQ    $8, BX
	JMP     relu8

reludone:
	VZEROUPPER
	RET

// func reluGradF32AVX2(d, gr, y *float32, n int)
// d = y > 0 ? gr : 0
TEXT ·reluGradF32AVX2(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ gr+8(FP), SI
	MOVQ y+16(FP), R8
	MOVQ n+24(FP), CX
	VXORPS Y15, Y15, Y15
	XORQ BX, BX
	MOVQ CX, DX
	ANDQ $-16, DX

rg16:
	CMPQ BX, DX
	JGE  rg8
	VMOVUPS (R8)(BX*4), Y0
	VMOVUPS 32(R8)(BX*4), Y1
	VCMPPS  $0x1e, Y15, Y0, Y0 // y > 0 (GT_OQ)
	VCMPPS  $0x1e, Y15, Y1, Y1
	VANDPS  (SI)(BX*4), Y0, Y0
	VANDPS  32(SI)(BX*4), Y1, Y1
	VMOVUPS Y0, (DI)(BX*4)
	VMOVUPS Y1, 32(DI)(BX*4)
	ADDQ    $16, BX
	JMP     rg16

rg8:
	CMPQ BX, CX
	JGE  rgdone
	VMOVUPS (R8)(BX*4), Y0
	VCMPPS  $0x1e, Y15, Y0, Y0
	VANDPS  (SI)(BX*4), Y0, Y0
	VMOVUPS Y0, (DI)(BX*4)
	ADDQ    $8, BX
	JMP     rg8

rgdone:
	VZEROUPPER
	RET

// func affineF32AVX2(d, x *float32, n int, a, b float32)
TEXT ·affineF32AVX2(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS a+24(FP), Y14
	VBROADCASTSS b+28(FP), Y15
	XORQ BX, BX
	MOVQ CX, DX
	ANDQ $-32, DX

aff32:
	CMPQ BX, DX
	JGE  aff8
	VMOVUPS     (SI)(BX*4), Y0
	VMOVUPS     32(SI)(BX*4), Y1
	VMOVUPS     64(SI)(BX*4), Y2
	VMOVUPS     96(SI)(BX*4), Y3
	VFMADD213PS Y15, Y14, Y0 // a*x + b
	VFMADD213PS Y15, Y14, Y1
	VFMADD213PS Y15, Y14, Y2
	VFMADD213PS Y15, Y14, Y3
	VMOVUPS     Y0, (DI)(BX*4)
	VMOVUPS     Y1, 32(DI)(BX*4)
	VMOVUPS     Y2, 64(DI)(BX*4)
	VMOVUPS     Y3, 96(DI)(BX*4)
	ADDQ        $32, BX
	JMP         aff32

aff8:
	CMPQ BX, CX
	JGE  affdone
	VMOVUPS     (SI)(BX*4), Y0
	VFMADD213PS Y15, Y14, Y0
	VMOVUPS     Y0, (DI)(BX*4)
	ADDQ        $8, BX
	JMP         aff8

affdone:
	VZEROUPPER
	RET

// func sumF32AVX2(x *float32, n int) float64
// n is a multiple of 16; sums in float64 (four vector accumulators).
TEXT ·sumF32AVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	XORQ BX, BX

sum16:
	CMPQ BX, CX
	JGE  sumdone
	VCVTPS2PD (SI)(BX*4), Y4
	VCVTPS2PD 16(SI)(BX*4), Y5
	VCVTPS2PD 32(SI)(BX*4), Y6
	VCVTPS2PD 48(SI)(BX*4), Y7
	VADDPD    Y4, Y0, Y0
	VADDPD    Y5, Y1, Y1
	VADDPD    Y6, Y2, Y2
	VADDPD    Y7, Y3, Y3
	ADDQ      $16, BX
	JMP       sum16

sumdone:
	VADDPD       Y1, Y0, Y0
	VADDPD       Y3, Y2, Y2
	VADDPD       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPD       X1, X0, X0
	VUNPCKHPD    X0, X0, X1
	VADDSD       X1, X0, X0
	MOVSD        X0, ret+16(FP)
	VZEROUPPER
	RET

// func accF32F64AVX2(acc *float64, x *float32, n int)
// acc[i] += float64(x[i]); n is a multiple of 8.
TEXT ·accF32F64AVX2(SB), NOSPLIT, $0-24
	MOVQ acc+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ BX, BX

acc8:
	CMPQ BX, CX
	JGE  accdone
	VCVTPS2PD (SI)(BX*4), Y0
	VCVTPS2PD 16(SI)(BX*4), Y1
	VADDPD    (DI)(BX*8), Y0, Y0
	VADDPD    32(DI)(BX*8), Y1, Y1
	VMOVUPD   Y0, (DI)(BX*8)
	VMOVUPD   Y1, 32(DI)(BX*8)
	ADDQ      $8, BX
	JMP       acc8

accdone:
	VZEROUPPER
	RET

// func maxF32AVX2(x *float32, n int) float32
// n is a positive multiple of 8. NaNs are not propagated (callers that care
// see them through later arithmetic).
TEXT ·maxF32AVX2(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VMOVUPS (SI), Y0
	VMOVUPS Y0, Y1
	MOVQ    $8, BX
	MOVQ    CX, DX
	SUBQ    $16, DX

max16:
	CMPQ BX, DX
	JG   max8
	VMAXPS (SI)(BX*4), Y0, Y0
	VMAXPS 32(SI)(BX*4), Y1, Y1
	ADDQ   $16, BX
	JMP    max16

max8:
	CMPQ BX, CX
	JGE  maxdone
	VMAXPS (SI)(BX*4), Y0, Y0
	ADDQ   $8, BX
	JMP    max8

maxdone:
	VMAXPS       Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VMAXPS       X1, X0, X0
	VMOVHLPS     X0, X0, X1
	VMAXPS       X1, X0, X0
	VPSHUFD      $1, X0, X1
	VMAXSS       X1, X0, X0
	MOVSS        X0, ret+16(FP)
	VZEROUPPER
	RET

// func expF32AVX2(d, x *float32, n int, shift float32, sum *float64) int
// d[i] = exp(x[i] - shift) over whole blocks of 8 and *sum += Σ d[i] (in
// float64). It stops before the first block with an input outside
// [-87, 88] (or a NaN) and returns how many elements it wrote.
TEXT ·expF32AVX2(SB), NOSPLIT, $0-48
	MOVQ d+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS shift+24(FP), Y8
	MOVQ sum+32(FP), R9
	VBROADCASTSS simdc<>+60(SB), Y9
	VBROADCASTSS simdc<>+64(SB), Y10
	VBROADCASTSS simdc<>+24(SB), Y11
	VBROADCASTSS simdc<>+28(SB), Y12
	VBROADCASTSS simdc<>+32(SB), Y13
	VXORPD Y14, Y14, Y14
	VXORPD Y15, Y15, Y15
	XORQ BX, BX

exp8:
	CMPQ BX, CX
	JGE  expdone
	VMOVUPS   (SI)(BX*4), Y0
	VSUBPS    Y8, Y0, Y0
	VCMPPS    $0x1d, Y9, Y0, Y6  // x >= lo (GE_OQ: false for NaN)
	VCMPPS    $0x12, Y10, Y0, Y7 // x <= hi (LE_OQ)
	VANDPS    Y7, Y6, Y6
	VMOVMSKPS Y6, AX
	CMPL      AX, $0xff
	JNE       expdone
	EXP8
	VMOVUPS      Y4, (DI)(BX*4)
	VCVTPS2PD    X4, Y6
	VEXTRACTF128 $1, Y4, X7
	VCVTPS2PD    X7, Y7
	VADDPD       Y6, Y14, Y14
	VADDPD       Y7, Y15, Y15
	ADDQ         $8, BX
	JMP          exp8

expdone:
	VADDPD       Y15, Y14, Y14
	VEXTRACTF128 $1, Y14, X1
	VADDPD       X1, X14, X0
	VUNPCKHPD    X0, X0, X1
	VADDSD       X1, X0, X0
	VADDSD       (R9), X0, X0
	MOVSD        X0, (R9)
	MOVQ         BX, ret+40(FP)
	VZEROUPPER
	RET

// func tanhF32AVX2(d, x *float32, n int) int
// d[i] = tanh(x[i]) over whole blocks of 8; stops before the first block
// holding a NaN and returns how many elements it wrote.
TEXT ·tanhF32AVX2(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS simdc<>+24(SB), Y11
	VBROADCASTSS simdc<>+28(SB), Y12
	VBROADCASTSS simdc<>+32(SB), Y13
	VBROADCASTSS simdc<>+12(SB), Y14 // abs mask
	VBROADCASTSS simdc<>+68(SB), Y15 // 9.1
	XORQ BX, BX

tanh8:
	CMPQ BX, CX
	JGE  tanhdone
	VMOVUPS   (SI)(BX*4), Y8
	VCMPPS    $3, Y8, Y8, Y6 // unordered: NaN
	VMOVMSKPS Y6, AX
	TESTL     AX, AX
	JNZ       tanhdone
	VANDPS    Y14, Y8, Y9    // a = |x|
	VMINPS    Y15, Y9, Y0    // min(a, 9.1)
	VADDPS    Y0, Y0, Y0     // 2a
	EXP8                     // Y4 = exp(2a)
	VBROADCASTSS simdc<>+4(SB), Y5
	VADDPS       Y5, Y4, Y4  // e + 1
	VBROADCASTSS simdc<>+76(SB), Y6
	VDIVPS       Y4, Y6, Y4  // 2/(e+1)
	VSUBPS       Y4, Y5, Y10 // t = 1 - 2/(e+1)
	// Taylor series for a < 0.25: a*(1 + z*(-1/3 + z*(2/15 + z*(-17/315 + z*62/2835))))
	VMULPS       Y9, Y9, Y1  // z
	VBROADCASTSS simdc<>+92(SB), Y2
	VBROADCASTSS simdc<>+88(SB), Y3
	VFMADD213PS  Y3, Y1, Y2
	VBROADCASTSS simdc<>+84(SB), Y3
	VFMADD213PS  Y3, Y1, Y2
	VBROADCASTSS simdc<>+80(SB), Y3
	VFMADD213PS  Y3, Y1, Y2
	VFMADD213PS  Y5, Y1, Y2  // 1 + z*(...)
	VMULPS       Y9, Y2, Y2  // a*(...)
	VBROADCASTSS simdc<>+72(SB), Y3
	VCMPPS       $0x11, Y3, Y9, Y7 // a < 0.25 (LT_OQ)
	VBLENDVPS    Y7, Y2, Y10, Y10
	VBROADCASTSS simdc<>+16(SB), Y3
	VANDPS       Y3, Y8, Y3  // sign of x
	VORPS        Y3, Y10, Y10
	VMOVUPS      Y10, (DI)(BX*4)
	ADDQ         $8, BX
	JMP          tanh8

tanhdone:
	MOVQ BX, ret+24(FP)
	VZEROUPPER
	RET

// func transpose8x8F32AVX(dst *float32, ldd int, src *float32, lds int)
// dst[c*ldd + r] = src[r*lds + c] for r, c < 8 (leading dimensions in elements).
TEXT ·transpose8x8F32AVX(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), DX
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), CX
	SHLQ $2, DX
	SHLQ $2, CX
	LEAQ (CX)(CX*2), R8  // 3*lds
	LEAQ (SI)(CX*4), R9  // src + 4 rows
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(CX*1), Y1
	VMOVUPS (SI)(CX*2), Y2
	VMOVUPS (SI)(R8*1), Y3
	VMOVUPS (R9), Y4
	VMOVUPS (R9)(CX*1), Y5
	VMOVUPS (R9)(CX*2), Y6
	VMOVUPS (R9)(R8*1), Y7
	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15
	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xee, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xee, Y11, Y9, Y3
	VSHUFPS $0x44, Y14, Y12, Y4
	VSHUFPS $0xee, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xee, Y15, Y13, Y7
	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15
	LEAQ (DX)(DX*2), R8
	LEAQ (DI)(DX*4), R9
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, (DI)(DX*1)
	VMOVUPS Y10, (DI)(DX*2)
	VMOVUPS Y11, (DI)(R8*1)
	VMOVUPS Y12, (R9)
	VMOVUPS Y13, (R9)(DX*1)
	VMOVUPS Y14, (R9)(DX*2)
	VMOVUPS Y15, (R9)(R8*1)
	VZEROUPPER
	RET

// EXP16 is EXP8 on Z registers: Z4 = exp(Z0) for lanes in [-87, 88]; Z1,
// Z2, Z3, Z5 scratch; Z11 log2(e), Z12 ln2 hi, Z13 ln2 lo.
#define EXP16 \
	VBROADCASTSS simdc<>+0(SB), Z1 \
	VFMADD231PS  Z11, Z0, Z1 \
	VRNDSCALEPS  $1, Z1, Z1 \
	VMOVAPS      Z0, Z2 \
	VFNMADD231PS Z12, Z1, Z2 \
	VFNMADD231PS Z13, Z1, Z2 \
	VMULPS       Z2, Z2, Z3 \
	VBROADCASTSS simdc<>+36(SB), Z4 \
	VBROADCASTSS simdc<>+40(SB), Z5 \
	VFMADD213PS  Z5, Z2, Z4 \
	VBROADCASTSS simdc<>+44(SB), Z5 \
	VFMADD213PS  Z5, Z2, Z4 \
	VBROADCASTSS simdc<>+48(SB), Z5 \
	VFMADD213PS  Z5, Z2, Z4 \
	VBROADCASTSS simdc<>+52(SB), Z5 \
	VFMADD213PS  Z5, Z2, Z4 \
	VBROADCASTSS simdc<>+56(SB), Z5 \
	VFMADD213PS  Z5, Z2, Z4 \
	VFMADD213PS  Z2, Z3, Z4 \
	VBROADCASTSS simdc<>+4(SB), Z5 \
	VADDPS       Z5, Z4, Z4 \
	VCVTTPS2DQ   Z1, Z1 \
	VPBROADCASTD simdc<>+20(SB), Z5 \
	VPADDD       Z5, Z1, Z1 \
	VPSLLD       $23, Z1, Z1 \
	VMULPS       Z1, Z4, Z4

// func expF32AVX512(d, x *float32, n int, shift float32, sum *float64) int
// expF32AVX2 over blocks of 16 with AVX-512 (F and DQ).
TEXT ·expF32AVX512(SB), NOSPLIT, $0-48
	MOVQ d+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS shift+24(FP), Z8
	MOVQ sum+32(FP), R9
	VBROADCASTSS simdc<>+60(SB), Z9
	VBROADCASTSS simdc<>+64(SB), Z10
	VBROADCASTSS simdc<>+24(SB), Z11
	VBROADCASTSS simdc<>+28(SB), Z12
	VBROADCASTSS simdc<>+32(SB), Z13
	VXORPD Z14, Z14, Z14
	VXORPD Z15, Z15, Z15
	XORQ BX, BX

exp16:
	CMPQ BX, CX
	JGE  exp16done
	VMOVUPS (SI)(BX*4), Z0
	VSUBPS  Z8, Z0, Z0
	VCMPPS  $0x1d, Z9, Z0, K1  // x >= lo (false for NaN)
	VCMPPS  $0x12, Z10, Z0, K2 // x <= hi
	KANDW   K1, K2, K1
	KMOVW   K1, AX
	CMPL    AX, $0xffff
	JNE     exp16done
	EXP16
	VMOVUPS       Z4, (DI)(BX*4)
	VCVTPS2PD     Y4, Z6
	VEXTRACTF32X8 $1, Z4, Y7
	VCVTPS2PD     Y7, Z7
	VADDPD        Z6, Z14, Z14
	VADDPD        Z7, Z15, Z15
	ADDQ          $16, BX
	JMP           exp16

exp16done:
	VADDPD        Z15, Z14, Z14
	VEXTRACTF64X4 $1, Z14, Y1
	VADDPD        Y1, Y14, Y14
	VEXTRACTF128  $1, Y14, X1
	VADDPD        X1, X14, X0
	VUNPCKHPD     X0, X0, X1
	VADDSD        X1, X0, X0
	VADDSD        (R9), X0, X0
	MOVSD         X0, (R9)
	MOVQ          BX, ret+40(FP)
	VZEROUPPER
	RET
