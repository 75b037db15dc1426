#include "textflag.h"

// The letters that stand right before the _ of a token (gh[pousr]_,
// github_, npm_, [sr]k_) are found by their two nibbles: prevLo[low nibble]
// has bit 0 if the letter 0x6? with that low nibble is one (b k m o), bit 1
// if 0x7? is (p r s u); prevHi[high nibble] is 1 for 6, 2 for 7. Both tables
// twice, one per 128-bit lane of VPSHUFB.
DATA prevLo<>+0(SB)/8, $0x0000020002030002
DATA prevLo<>+8(SB)/8, $0x0100010001000000
DATA prevLo<>+16(SB)/8, $0x0000020002030002
DATA prevLo<>+24(SB)/8, $0x0100010001000000
GLOBL prevLo<>(SB), RODATA|NOPTR, $32
DATA prevHi<>+0(SB)/8, $0x0201000000000000
DATA prevHi<>+8(SB)/8, $0x0000000000000000
DATA prevHi<>+16(SB)/8, $0x0201000000000000
DATA prevHi<>+24(SB)/8, $0x0000000000000000
GLOBL prevHi<>(SB), RODATA|NOPTR, $32

// func anchorsAVX2(p *byte, n int, out *[96]int32) (count, next int)
// n is a positive multiple of 32, and p[-1] may be read. It writes to out
// the offsets of the bytes that are -, K or z, or _ after one of the
// letters above, in order, and stops after the 32 bytes in which out got
// its 64th: count is how many it wrote, next the offset it stopped at (n at
// the end).
TEXT ·anchorsAVX2(SB), NOSPLIT, $0-40
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), BX
	MOVQ out+16(FP), R10
	XORQ R13, R13
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
	MOVL $0x0f, AX
	MOVD AX, X0
	VPBROADCASTB X0, Y12
	VMOVDQU prevLo<>(SB), Y13
	VMOVDQU prevHi<>(SB), Y14
	VPXOR Y15, Y15, Y15

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
	VPAND Y12, Y0, Y7
	VPSRLW $4, Y0, Y8
	VPAND Y12, Y8, Y8
	VPSHUFB Y7, Y13, Y7
	VPSHUFB Y8, Y14, Y8
	VPAND Y7, Y8, Y7
	VPCMPEQB Y15, Y7, Y7
	VPANDN Y5, Y7, Y7
	VPOR Y7, Y6, Y6
test:
	VPMOVMSKB Y6, DX
	TESTL DX, DX
	JZ advance
	MOVQ DI, R9
	SUBQ SI, R9
extract:
	BSFL DX, CX
	LEAQ (R9)(CX*1), R8
	MOVL R8, (R10)(R13*4)
	INCQ R13
	LEAL -1(DX), R8
	ANDL R8, DX
	JNZ extract
	CMPQ R13, $64
	JGE full
advance:
	ADDQ $32, DI
	CMPQ DI, R11
	JLT loop
	VZEROUPPER
	MOVQ R13, count+24(FP)
	MOVQ BX, next+32(FP)
	RET

full:
	ADDQ $32, DI
	SUBQ SI, DI
	VZEROUPPER
	MOVQ R13, count+24(FP)
	MOVQ DI, next+32(FP)
	RET
