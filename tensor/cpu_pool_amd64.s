//go:build amd64 && !purego

#include "textflag.h"

// 2x2 max pooling with stride 2 (see maxPool2x2Plane): lane offsets of
// the even input columns of 8 outputs.
DATA poolc<>+0(SB)/4, $0
DATA poolc<>+4(SB)/4, $2
DATA poolc<>+8(SB)/4, $4
DATA poolc<>+12(SB)/4, $6
DATA poolc<>+16(SB)/4, $8
DATA poolc<>+20(SB)/4, $10
DATA poolc<>+24(SB)/4, $12
DATA poolc<>+28(SB)/4, $14
DATA poolc<>+32(SB)/4, $16
GLOBL poolc<>(SB), RODATA|NOPTR, $36

// func maxPool2x2RowF32AVX2(y *float32, ix *int32, r0, r1 *float32, n int, q, w int32)
// pools n outputs (a multiple of 8) from the rows r0 and r1 (2n elements
// each): y[o] is the first maximum (a NaN wins, the last one) of r0[2o],
// r0[2o+1], r1[2o], r1[2o+1] in that order, ix[o] its index q+2o (+1 for
// the odd column, +w for r1).
TEXT ·maxPool2x2RowF32AVX2(SB), NOSPLIT, $0-48
	MOVQ y+0(FP), DI
	MOVQ ix+8(FP), SI
	MOVQ r0+16(FP), AX
	MOVQ r1+24(FP), BX
	MOVQ n+32(FP), CX
	MOVL         q+40(FP), DX
	MOVL         w+44(FP), R8
	VMOVD        DX, X0        // VEX encoded: no SSE transition
	VPBROADCASTD X0, Y14       // q
	VMOVDQU      poolc<>(SB), Y0
	VPADDD       Y0, Y14, Y14  // q + 2*lane: indices of the even columns of r0
	VMOVD        R8, X0
	VPBROADCASTD X0, Y13       // w
	VPBROADCASTD poolc<>+32(SB), Y12 // 16: the step of the indices
	SHRQ $3, CX
	JZ   done

loop:
	VMOVUPS (AX), Y0
	VMOVUPS 32(AX), Y1
	VSHUFPS $0x88, Y1, Y0, Y2 // even columns (lanes in 0,1,4,5,2,3,6,7 order)
	VSHUFPS $0xDD, Y1, Y0, Y3 // odd columns
	VPERMPD $0xD8, Y2, Y2     // a
	VPERMPD $0xD8, Y3, Y3     // b
	VMOVUPS (BX), Y0
	VMOVUPS 32(BX), Y1
	VSHUFPS $0x88, Y1, Y0, Y4
	VSHUFPS $0xDD, Y1, Y0, Y5
	VPERMPD $0xD8, Y4, Y4     // c
	VPERMPD $0xD8, Y5, Y5     // d

	// m1 = b if b > a or b is NaN, else a; i1 = q+2o (+1 for b)
	VCMPPS    $0x1e, Y2, Y3, Y6 // b > a
	VCMPPS    $0x03, Y3, Y3, Y7 // b unordered
	VORPS     Y7, Y6, Y6
	VBLENDVPS Y6, Y3, Y2, Y2    // m1
	VPSUBD    Y6, Y14, Y8       // i1 (the mask is -1 where true)

	// m2 likewise from c and d, i2 = q+w+2o (+1 for d)
	VCMPPS    $0x1e, Y4, Y5, Y6
	VCMPPS    $0x03, Y5, Y5, Y7
	VORPS     Y7, Y6, Y6
	VBLENDVPS Y6, Y5, Y4, Y4    // m2
	VPADDD    Y13, Y14, Y9
	VPSUBD    Y6, Y9, Y9        // i2

	// m2 wins if m2 > m1 or m2 is NaN
	VCMPPS    $0x1e, Y2, Y4, Y6
	VCMPPS    $0x03, Y4, Y4, Y7
	VORPS     Y7, Y6, Y6
	VBLENDVPS Y6, Y4, Y2, Y2
	VBLENDVPS Y6, Y9, Y8, Y8
	VMOVUPS   Y2, (DI)
	VMOVDQU   Y8, (SI)

	VPADDD Y12, Y14, Y14
	ADDQ   $64, AX
	ADDQ   $64, BX
	ADDQ   $32, DI
	ADDQ   $32, SI
	DECQ   CX
	JNZ    loop

done:
	VZEROUPPER
	RET
