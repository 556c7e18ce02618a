//go:build !purego

#include "textflag.h"

// func packCopy128(dst, src unsafe.Pointer, ld uintptr, kb int)
// Copies kb groups of 128 bytes, group p from src+p*ld, to dst+p*128,
// prefetching the source 8 groups ahead.
TEXT ·packCopy128(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), DX
	MOVQ kb+24(FP), CX
	LEAQ (DX)(DX*1), R8
	LEAQ (R8)(R8*1), R8
	LEAQ (R8)(R8*1), R8 // 8*ld
	TESTQ CX, CX
	JZ   done128

loop128:
	PREFETCHT0 (SI)(R8*1)
	PREFETCHT0 64(SI)(R8*1)
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ DX, SI
	ADDQ $128, DI
	DECQ CX
	JNZ  loop128

done128:
	VZEROUPPER
	RET

// func packCopy64(dst, src unsafe.Pointer, ld uintptr, kb int)
// Like packCopy128 for 64-byte groups.
TEXT ·packCopy64(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), DX
	MOVQ kb+24(FP), CX
	LEAQ (DX)(DX*1), R8
	LEAQ (R8)(R8*1), R8
	LEAQ (R8)(R8*1), R8
	TESTQ CX, CX
	JZ   done64

loop64:
	PREFETCHT0 (SI)(R8*1)
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ DX, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  loop64

done64:
	VZEROUPPER
	RET
