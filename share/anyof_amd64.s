#include "textflag.h"

// prevLetters holds, 32 times each, the letters that stand right before the
// _ of a token: gh[pousr]_, github_, npm_, [sr]k_.
DATA prevLetters<>+0(SB)/8, $0x7070707070707070
DATA prevLetters<>+8(SB)/8, $0x7070707070707070
DATA prevLetters<>+16(SB)/8, $0x7070707070707070
DATA prevLetters<>+24(SB)/8, $0x7070707070707070
DATA prevLetters<>+32(SB)/8, $0x6f6f6f6f6f6f6f6f
DATA prevLetters<>+40(SB)/8, $0x6f6f6f6f6f6f6f6f
DATA prevLetters<>+48(SB)/8, $0x6f6f6f6f6f6f6f6f
DATA prevLetters<>+56(SB)/8, $0x6f6f6f6f6f6f6f6f
DATA prevLetters<>+64(SB)/8, $0x7575757575757575
DATA prevLetters<>+72(SB)/8, $0x7575757575757575
DATA prevLetters<>+80(SB)/8, $0x7575757575757575
DATA prevLetters<>+88(SB)/8, $0x7575757575757575
DATA prevLetters<>+96(SB)/8, $0x7373737373737373
DATA prevLetters<>+104(SB)/8, $0x7373737373737373
DATA prevLetters<>+112(SB)/8, $0x7373737373737373
DATA prevLetters<>+120(SB)/8, $0x7373737373737373
DATA prevLetters<>+128(SB)/8, $0x7272727272727272
DATA prevLetters<>+136(SB)/8, $0x7272727272727272
DATA prevLetters<>+144(SB)/8, $0x7272727272727272
DATA prevLetters<>+152(SB)/8, $0x7272727272727272
DATA prevLetters<>+160(SB)/8, $0x6262626262626262
DATA prevLetters<>+168(SB)/8, $0x6262626262626262
DATA prevLetters<>+176(SB)/8, $0x6262626262626262
DATA prevLetters<>+184(SB)/8, $0x6262626262626262
DATA prevLetters<>+192(SB)/8, $0x6d6d6d6d6d6d6d6d
DATA prevLetters<>+200(SB)/8, $0x6d6d6d6d6d6d6d6d
DATA prevLetters<>+208(SB)/8, $0x6d6d6d6d6d6d6d6d
DATA prevLetters<>+216(SB)/8, $0x6d6d6d6d6d6d6d6d
DATA prevLetters<>+224(SB)/8, $0x6b6b6b6b6b6b6b6b
DATA prevLetters<>+232(SB)/8, $0x6b6b6b6b6b6b6b6b
DATA prevLetters<>+240(SB)/8, $0x6b6b6b6b6b6b6b6b
DATA prevLetters<>+248(SB)/8, $0x6b6b6b6b6b6b6b6b
GLOBL prevLetters<>(SB), RODATA|NOPTR, $256

// func indexAnchorsAVX2(p *byte, n int) int
// n is a positive multiple of 32, and p[-1] may be read. It returns the
// index of the first byte that is -, K or z, or _ after one of
// prevLetters, or -1.
TEXT ·indexAnchorsAVX2(SB), NOSPLIT, $0-24
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), BX
	MOVQ SI, DI
	LEAQ (SI)(BX*1), R11
	MOVL $0x2d, AX
	MOVD AX, X0
	VPBROADCASTB X0, Y1
	MOVL $0x4b, AX
	MOVD AX, X0
	VPBROADCASTB X0, Y2
	MOVL $0x7a, AX
	MOVD AX, X0
	VPBROADCASTB X0, Y3
	MOVL $0x5f, AX
	MOVD AX, X0
	VPBROADCASTB X0, Y4

	PCALIGN $32
loop:
	VMOVDQU (DI), Y5
	VPCMPEQB Y1, Y5, Y6
	VPCMPEQB Y2, Y5, Y8
	VPOR Y8, Y6, Y6
	VPCMPEQB Y3, Y5, Y8
	VPOR Y8, Y6, Y6
	VPCMPEQB Y4, Y5, Y5
	VPTEST Y5, Y5
	JZ test
	VMOVDQU -1(DI), Y0
	VPCMPEQB prevLetters<>+0(SB), Y0, Y7
	VPCMPEQB prevLetters<>+32(SB), Y0, Y8
	VPOR Y8, Y7, Y7
	VPCMPEQB prevLetters<>+64(SB), Y0, Y8
	VPOR Y8, Y7, Y7
	VPCMPEQB prevLetters<>+96(SB), Y0, Y8
	VPOR Y8, Y7, Y7
	VPCMPEQB prevLetters<>+128(SB), Y0, Y8
	VPOR Y8, Y7, Y7
	VPCMPEQB prevLetters<>+160(SB), Y0, Y8
	VPOR Y8, Y7, Y7
	VPCMPEQB prevLetters<>+192(SB), Y0, Y8
	VPOR Y8, Y7, Y7
	VPCMPEQB prevLetters<>+224(SB), Y0, Y8
	VPOR Y8, Y7, Y7
	VPAND Y7, Y5, Y5
	VPOR Y5, Y6, Y6
test:
	VPTEST Y6, Y6
	JNZ found
	ADDQ $32, DI
	CMPQ DI, R11
	JLT loop
	VZEROUPPER
	MOVQ $-1, ret+16(FP)
	RET

found:
	VPMOVMSKB Y6, DX
	BSFL DX, DX
	SUBQ SI, DI
	ADDQ DI, DX
	MOVQ DX, ret+16(FP)
	VZEROUPPER
	RET
