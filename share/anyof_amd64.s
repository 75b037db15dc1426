#include "textflag.h"

// An anchor byte counts only where the byte before it can end the prefix of
// a pattern: _ after gh[pousr], github, npm or [sr]k; - after PuTTY, glpat,
// xox[bpe] or sk, or before another - (-----BEGIN); K after A (AKIA); z
// after I (AIza). The letters before _ and - are classed by their nibbles:
// prevHi[high nibble] is 4 for 5, 1 for 6, 2 for 7; prevLoU and prevLoD
// [low nibble] have those bits for the letters of each set (U: b k m o, p r
// s u; D: Y, b e k, p t). Every table twice, one per 128-bit lane of VPSHUFB.
DATA prevLoU<>+0(SB)/8, $0x0000020002030002
DATA prevLoU<>+8(SB)/8, $0x0100010001000000
DATA prevLoU<>+16(SB)/8, $0x0000020002030002
DATA prevLoU<>+24(SB)/8, $0x0100010001000000
GLOBL prevLoU<>(SB), RODATA|NOPTR, $32
DATA prevLoD<>+0(SB)/8, $0x0000010200010002
DATA prevLoD<>+8(SB)/8, $0x0000000001000400
DATA prevLoD<>+16(SB)/8, $0x0000010200010002
DATA prevLoD<>+24(SB)/8, $0x0000000001000400
GLOBL prevLoD<>(SB), RODATA|NOPTR, $32
DATA prevHi<>+0(SB)/8, $0x0201040000000000
DATA prevHi<>+8(SB)/8, $0x0000000000000000
DATA prevHi<>+16(SB)/8, $0x0201040000000000
DATA prevHi<>+24(SB)/8, $0x0000000000000000
GLOBL prevHi<>(SB), RODATA|NOPTR, $32

// func anchorsAVX2(p *byte, n int, out *[96]int32) (count, next int)
// n is a positive multiple of 32, and p[-1] and p[n] may be read. It writes
// to out the offsets of the anchors (see above), in order, and stops after
// the 32 bytes in which out got its 64th: count is how many it wrote, next
// the offset it stopped at (n at the end).
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
	MOVL $0x41, AX
	MOVD AX, X0
	VPBROADCASTB X0, Y9
	MOVL $0x49, AX
	MOVD AX, X0
	VPBROADCASTB X0, Y10
	MOVL $0xf, AX
	MOVD AX, X0
	VPBROADCASTB X0, Y12
	VMOVDQU prevLoD<>(SB), Y11
	VMOVDQU prevLoU<>(SB), Y13
	VMOVDQU prevHi<>(SB), Y14
	VPXOR Y15, Y15, Y15

	PCALIGN $32
loop:
	VMOVDQU (DI), Y5
	VMOVDQU -1(DI), Y0
	VPAND Y12, Y0, Y7
	VPSRLW $4, Y0, Y8
	VPAND Y12, Y8, Y8
	VPSHUFB Y8, Y14, Y8
	VPSHUFB Y7, Y11, Y6
	VPAND Y8, Y6, Y6
	VPSHUFB Y7, Y13, Y7
	VPAND Y8, Y7, Y7
	// _ after its letters
	VPCMPEQB Y4, Y5, Y8
	VPCMPEQB Y15, Y7, Y7
	VPANDN Y8, Y7, Y7
	// - after its letters, or before another -
	VPCMPEQB Y15, Y6, Y6
	VMOVDQU 1(DI), Y8
	VPCMPEQB Y1, Y8, Y8
	VPANDN Y6, Y8, Y6
	VPCMPEQB Y1, Y5, Y8
	VPANDN Y8, Y6, Y6
	VPOR Y6, Y7, Y7
	// K after A, z after I
	VPCMPEQB Y2, Y5, Y8
	VPCMPEQB Y9, Y0, Y6
	VPAND Y6, Y8, Y8
	VPOR Y8, Y7, Y7
	VPCMPEQB Y3, Y5, Y8
	VPCMPEQB Y10, Y0, Y6
	VPAND Y6, Y8, Y8
	VPOR Y8, Y7, Y7

	VPMOVMSKB Y7, DX
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
