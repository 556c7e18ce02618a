//go:build !purego

#include "textflag.h"

// ADDLOOP is out[i] = a[i] + b[i] for CX elements of SZ bytes, VL of them
// per 32-byte vector: 4 vectors a step, then 1, then scalars. The first
// operand is a (so a's NaN wins, as with scalar ADDSS/ADDSD); out may be a
// or b. DI = out, SI = a, DX = b.
#define ADDLOOP(L4, L1, LT, LD, VMOV, VADD, SMOV, SADD, VL, SZ) \
L4:                    \
	CMPQ CX, $(4*VL);   \
	JL   L1;            \
	VMOV (SI), Y0;      \
	VMOV 32(SI), Y1;    \
	VMOV 64(SI), Y2;    \
	VMOV 96(SI), Y3;    \
	VADD (DX), Y0, Y0;  \
	VADD 32(DX), Y1, Y1; \
	VADD 64(DX), Y2, Y2; \
	VADD 96(DX), Y3, Y3; \
	VMOV Y0, (DI);      \
	VMOV Y1, 32(DI);    \
	VMOV Y2, 64(DI);    \
	VMOV Y3, 96(DI);    \
	ADDQ $128, SI;      \
	ADDQ $128, DX;      \
	ADDQ $128, DI;      \
	SUBQ $(4*VL), CX;   \
	JMP  L4;            \
L1:                    \
	CMPQ CX, $VL;       \
	JL   LT;            \
	VMOV (SI), Y0;      \
	VADD (DX), Y0, Y0;  \
	VMOV Y0, (DI);      \
	ADDQ $32, SI;       \
	ADDQ $32, DX;       \
	ADDQ $32, DI;       \
	SUBQ $VL, CX;       \
	JMP  L1;            \
LT:                    \
	CMPQ CX, $0;        \
	JE   LD;            \
	SMOV (SI), X0;      \
	SADD (DX), X0, X0;  \
	SMOV X0, (DI);      \
	ADDQ $SZ, SI;       \
	ADDQ $SZ, DX;       \
	ADDQ $SZ, DI;       \
	DECQ CX;            \
	JMP  LT;            \
LD:                    \
	VZEROUPPER;         \
	RET

// func addF32AVX(out, a, b *float32, n int)
TEXT ·addF32AVX(SB), NOSPLIT, $0-32
	MOVQ out+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	ADDLOOP(f32loop4, f32loop1, f32tail, f32done, VMOVUPS, VADDPS, VMOVSS, VADDSS, 8, 4)

// func addF64AVX(out, a, b *float64, n int)
TEXT ·addF64AVX(SB), NOSPLIT, $0-32
	MOVQ out+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	ADDLOOP(f64loop4, f64loop1, f64tail, f64done, VMOVUPD, VADDPD, VMOVSD, VADDSD, 4, 8)
