//go:build amd64 && !purego

#include "textflag.h"

// func adamF32AVX2(w, gr, m, v *float32, n int, k *[9]float32)
TEXT ·adamF32AVX2(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), DI
	MOVQ gr+8(FP), SI
	MOVQ m+16(FP), DX
	MOVQ v+24(FP), R8
	MOVQ n+32(FP), CX
	MOVQ k+40(FP), AX
	VBROADCASTSS 0(AX), Y8   // b1
	VBROADCASTSS 4(AX), Y9   // c1 = 1-b1
	VBROADCASTSS 8(AX), Y10  // b2
	VBROADCASTSS 12(AX), Y11 // c2 = 1-b2
	VBROADCASTSS 16(AX), Y12 // stepSize
	VBROADCASTSS 20(AX), Y13 // 1/sqrt(bc2)
	VBROADCASTSS 24(AX), Y14 // eps
	VBROADCASTSS 28(AX), Y15 // wd (L2; 0 when not used)
	VBROADCASTSS 32(AX), Y7  // decay (1 when not decoupled)
	XORQ BX, BX

loop:
	CMPQ BX, CX
	JGE  done
	VMOVUPS (DI)(BX*4), Y0 // w
	VMOVUPS (SI)(BX*4), Y1 // g
	VMULPS  Y15, Y0, Y4    // wd*w
	VADDPS  Y4, Y1, Y1     // gi = g + wd*w
	VMULPS  Y7, Y0, Y0     // wi = w*decay
	VMULPS  (DX)(BX*4), Y8, Y2 // b1*m
	VMULPS  Y9, Y1, Y5     // c1*gi
	VADDPS  Y5, Y2, Y2     // m
	VMULPS  Y1, Y1, Y6     // gi*gi
	VMULPS  Y11, Y6, Y6    // c2*(gi*gi)
	VMULPS  (R8)(BX*4), Y10, Y3 // b2*v
	VADDPS  Y6, Y3, Y3     // v
	VMOVUPS Y2, (DX)(BX*4)
	VMOVUPS Y3, (R8)(BX*4)
	VSQRTPS Y3, Y4         // sqrt(v)
	VMULPS  Y13, Y4, Y4    // * rbc2
	VADDPS  Y14, Y4, Y4    // + eps
	VDIVPS  Y4, Y2, Y5     // m/den
	VMULPS  Y12, Y5, Y5    // stepSize*(m/den)
	VSUBPS  Y5, Y0, Y0     // wi - ...
	VMOVUPS Y0, (DI)(BX*4)
	ADDQ    $8, BX
	JMP     loop

done:
	VZEROUPPER
	RET
