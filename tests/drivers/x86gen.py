#!/usr/bin/env python3
"""Random x86-64 encodings for differential testing against objdump.

usage: x86gen.py COUNT SEED > cases.s
Each case is 15 bytes at its own label: random legacy prefixes, maybe a REX,
an opcode from one of the maps (or a VEX/EVEX payload), then random bytes.
objdump restarts at every label, so each case is decoded independently.
"""
import random
import sys

PREFIXES = [0x66, 0x67, 0xF0, 0xF2, 0xF3, 0x2E, 0x3E, 0x26, 0x64, 0x65, 0x36]


def case(rnd):
    b = []
    for _ in range(rnd.choice([0, 0, 0, 1, 1, 2, 3])):
        b.append(rnd.choice(PREFIXES))
    if rnd.random() < 0.4:
        b.append(0x40 | rnd.randrange(16))
    r = rnd.random()
    if r < 0.45:
        b.append(rnd.randrange(256))
    elif r < 0.75:
        b += [0x0F, rnd.randrange(256)]
    elif r < 0.85:
        b += [0x0F, rnd.choice([0x38, 0x3A]), rnd.randrange(256)]
    elif r < 0.92:
        b += [rnd.choice([0xC4, 0xC5]), rnd.randrange(256), rnd.randrange(256)]
    else:
        b += [0x62, rnd.randrange(256), rnd.randrange(256) | 0x04, rnd.randrange(256)]
    while len(b) < 15:
        b.append(rnd.randrange(256))
    return b[:15]


def main():
    count, seed = int(sys.argv[1]), int(sys.argv[2])
    rnd = random.Random(seed)
    out = [".text", ".globl _start", "_start:"]
    for i in range(count):
        out.append("c%d: .byte %s" % (i, ",".join(str(x) for x in case(rnd))))
    out.append("cend: ret")
    print("\n".join(out))


main()
