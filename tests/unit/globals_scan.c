// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The byte-pattern matcher behind the globals recipe, on hand-assembled x86-64
 * (encodings from the Intel SDM vol. 2; each line's bytes were checked with
 * `objdump -D -b binary -m i386:x86-64`).
 */
#include <string.h>

#include "../../src/globals_int.h"
#include "test.h"

#define BASE 0x401000ull

static struct glb_func fn(const uint8_t *p, size_t n)
{
	return (struct glb_func){ .name = "test", .entry = BASE, .p = p, .n = n };
}

static void test_forms(void)
{
	/* mov rcx,[rip+0x10]; mov r8,[rip-0x10]; lea rax,[rip+0x100] */
	static const uint8_t code[] = {
		0x48, 0x8b, 0x0d, 0x10, 0x00, 0x00, 0x00,
		0x4c, 0x8b, 0x05, 0xf0, 0xff, 0xff, 0xff,
		0x48, 0x8d, 0x05, 0x00, 0x01, 0x00, 0x00,
	};
	struct glb_func f = fn(code, sizeof(code));
	struct glb_ref r;

	CHECK(glb_match_at(&f, 0, &r) && r.form == REF_LOAD64 && r.reg == 1 &&
		      r.target == BASE + 7 + 0x10 && r.next == 7,
	      "mov rcx,[rip+0x10] is a 64-bit load into rcx, target from the end of the insn");
	CHECK(glb_match_at(&f, 7, &r) && r.form == REF_LOAD64 && r.reg == 8 &&
		      r.target == BASE + 14 - 0x10,
	      "REX.R: mov r8,[rip-0x10], negative displacement");
	CHECK(glb_match_at(&f, 14, &r) && r.form == REF_LEA && r.reg == 0 &&
		      r.target == BASE + 21 + 0x100,
	      "lea rax,[rip+0x100]");
	CHECK(!glb_match_at(&f, 1, &r), "8B 0D after a REX.W byte is not a 32-bit load");
	CHECK(!glb_match_at(&f, 15, &r) && !glb_match_at(&f, 21, &r),
	      "no match inside an instruction's tail or past the end");
}

static void test_more_forms(void)
{
	static const uint8_t code[] = {
		0x8b, 0x0d, 0x04, 0x00, 0x00, 0x00,		     /* mov ecx,[rip+4] */
		0x44, 0x8b, 0x05, 0x04, 0x00, 0x00, 0x00,	     /* mov r8d,[rip+4] */
		0x0f, 0xb6, 0x05, 0x04, 0x00, 0x00, 0x00,	     /* movzx eax,byte [rip+4] */
		0x80, 0x3d, 0x04, 0x00, 0x00, 0x00, 0x00,	     /* cmp byte [rip+4],0 */
		0x48, 0xc7, 0x05, 0x04, 0x00, 0x00, 0x00, 0x2a, 0, 0, 0, /* mov qword [rip+4],42 */
		0xc6, 0x05, 0x04, 0x00, 0x00, 0x00, 0x01,	     /* mov byte [rip+4],1 */
		0x48, 0x89, 0x05, 0x04, 0x00, 0x00, 0x00,	     /* mov [rip+4],rax */
		0x66, 0x8b, 0x05, 0x04, 0x00, 0x00, 0x00,	     /* mov ax,[rip+4] */
	};
	struct glb_func f = fn(code, sizeof(code));
	struct glb_ref r;

	CHECK(glb_match_at(&f, 0, &r) && r.form == REF_LOAD32 && r.target == BASE + 6 + 4,
	      "mov ecx,[rip+4]: 6 bytes");
	CHECK(glb_match_at(&f, 6, &r) && r.form == REF_LOAD32 && r.reg == 8 &&
		      r.target == BASE + 13 + 4,
	      "mov r8d,[rip+4]: REX without W is still a 32-bit load");
	CHECK(glb_match_at(&f, 13, &r) && r.form == REF_MOVZX8 && r.target == BASE + 20 + 4,
	      "movzx eax,byte [rip+4]");
	CHECK(glb_match_at(&f, 20, &r) && r.form == REF_CMPB && r.imm == 0 &&
		      r.target == BASE + 27 + 4,
	      "cmp byte [rip+4],0: the imm8 counts in the length");
	CHECK(glb_match_at(&f, 27, &r) && r.form == REF_MOVQ_IMM && r.imm == 42 &&
		      r.target == BASE + 38 + 4,
	      "mov qword [rip+4],42: 11 bytes, the imm32 counts in the length");
	CHECK(glb_match_at(&f, 38, &r) && r.form == REF_MOVB_IMM && r.imm == 1 &&
		      r.target == BASE + 45 + 4,
	      "mov byte [rip+4],1");
	CHECK(glb_match_at(&f, 45, &r) && r.form == REF_STORE64 && r.target == BASE + 52 + 4,
	      "mov [rip+4],rax");
	CHECK(!glb_match_at(&f, 53, &r), "mov ax,[rip+4] (66 prefix) is not a 32-bit load");
}

static void test_data_filter(void)
{
	/* lea rax,[rip+0x1000] (to .data); mov rdx,[rip+0x100] (not data); mov rcx,[rip+0x1000] */
	static const uint8_t code[] = {
		0x48, 0x8d, 0x05, 0x00, 0x10, 0x00, 0x00,
		0x48, 0x8b, 0x15, 0x00, 0x01, 0x00, 0x00,
		0x48, 0x8b, 0x0d, 0x00, 0x10, 0x00, 0x00,
	};
	struct glb_func f = fn(code, sizeof(code));
	struct glb_ctx c = { .have_ranges = true };
	struct glb_ref r;
	size_t pos = 0;

	c.cls[CLS_DATA] = (struct glb_range){ BASE + 0x1000, BASE + 0x2000 };
	CHECK(glb_next_ref(&c, &f, &pos, REF_LOAD64, &r) && r.off == 14 && r.reg == 1,
	      "the first 64-bit load into data skips the LEA and the load outside data");
	CHECK(!glb_next_ref(&c, &f, &pos, REF_ANY, &r) && pos == f.n, "then nothing more");
	pos = 0;
	CHECK(glb_next_ref(&c, &f, &pos, REF_ANY, &r) && r.off == 0 && pos == 7,
	      "REF_ANY returns the LEA and resumes after it");
	c.have_ranges = false;
	pos = 0;
	CHECK(!glb_next_ref(&c, &f, &pos, REF_ANY, &r), "no data ranges: nothing is data");
	CHECK(glb_in(&(struct glb_ctx){ .have_ranges = true,
					.cls[CLS_BSS] = { 0x1000, 0x1010 } },
		     CLS_BSS, 0x1008, 8) &&
		      !glb_in(&(struct glb_ctx){ .have_ranges = true,
						 .cls[CLS_BSS] = { 0x1000, 0x1010 } },
			      CLS_BSS, 0x100c, 8),
	      "a range holds an object only when all of it fits");
}

static void test_calls(void)
{
	/* lea rax,[rip+0]; xchg ax,ax; nop dword [rax+rax+0]; call +0x20; call +0 */
	static const uint8_t code[] = {
		0x48, 0x8d, 0x05, 0x00, 0x00, 0x00, 0x00,
		0x66, 0x90,
		0x0f, 0x1f, 0x44, 0x00, 0x00,
		0xe8, 0x20, 0x00, 0x00, 0x00,
		0xe8, 0x00, 0x00, 0x00, 0x00,
	};
	struct glb_func f = fn(code, sizeof(code));
	uint64_t callee = BASE + 19 + 0x20;

	CHECK(glb_call_at(&f, 7, 8, callee), "CALL after 66 90 and a 5-byte NOP (7 bytes) matches");
	CHECK(!glb_call_at(&f, 7, 6, callee), "but not when at most 6 NOP bytes may come first");
	CHECK(!glb_call_at(&f, 7, 8, callee + 1), "nor to another function");
	CHECK(!glb_call_at(&f, 7, 8, 0), "an unknown callee (0) never matches");
	CHECK(glb_find_call(&f, 0, BASE + 24) == 24, "the CALL +0 found, offset after it");
	CHECK(glb_find_call(&f, 20, callee) == 0, "no CALL at or after 20 to the first callee");
	CHECK(!glb_call_at(&f, 20, 8, BASE + 24), "a CALL cut short by the function end is no CALL");
}

int main(void)
{
	test_forms();
	test_more_forms();
	test_data_filter();
	test_calls();
	TEST_EXIT();
}
