#!/usr/bin/env python3
"""Static checks of the uprobe sites hooks__resolve() chooses, against tools
nobody here wrote: objdump (instruction boundaries, mnemonic, branch target,
the called function), nm (function entries) and the file's own bytes.

usage: hooks_check.py HOOKS_DUMP BINARY [SIBLING]
SIBLING: the same build with symbols, for stripped binaries (same text).
Prints PASS/FAIL lines for tests/run.sh.
"""
import json
import re
import subprocess
import sys

# hooks whose sites must be emulated (DESIGN.md §3): allocation, free, goroutine
# creation and exit, GC cycle; that is all of them.
failures = 0


def check(ok, what, detail=""):
    global failures
    print(("PASS " if ok else "FAIL ") + what + (": " + detail if detail and not ok else ""))
    failures += 0 if ok else 1


def dump(tool, binary):
    out = subprocess.run([tool, "--json", binary], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit("FAIL hooks_dump %s: %s" % (binary, out.stderr.strip()))
    return json.loads(out.stdout)


def nm_symbols(binary):
    out = subprocess.run(["nm", binary], capture_output=True, text=True)
    syms = {}
    for line in out.stdout.splitlines():
        p = line.split()
        if len(p) == 3 and p[1] in "tT":
            syms[p[2]] = int(p[0], 16)
    return syms


def objdump_at(binary, addr, length=24):
    """objdump's instructions from addr: {address: text}."""
    out = subprocess.run(["objdump", "-d", "-M", "intel", "--no-show-raw-insn",
                          "--start-address=%#x" % addr, "--stop-address=%#x" % (addr + length),
                          binary], capture_output=True, text=True).stdout
    insns = {}
    for line in out.splitlines():
        m = re.match(r"^\s+([0-9a-f]+):\t(.*)$", line)
        if m:
            insns[int(m.group(1), 16)] = m.group(2)
    return insns


def file_bytes(binary, off, n):
    with open(binary, "rb") as f:
        f.seek(off)
        return f.read(n)


def check_site(binary, h, entry_syms):
    name = h["name"]
    addr, entry = int(h["address"], 16), int(h["entry"], 16)
    problems = []
    # objdump, started at the entry, must have an instruction at the site
    insns = objdump_at(binary, entry, addr - entry + 16)
    text = insns.get(addr)
    if text is None:
        problems.append("site %#x is not an instruction boundary in objdump" % addr)
    else:
        mnem, target = h["instruction"].split()[0], h["instruction"].split()[1:]
        words = text.split()
        if words[0] != mnem:
            problems.append("objdump says '%s', we say '%s'" % (text, h["instruction"]))
        elif target and int(words[1], 16) != int(target[0], 16):
            problems.append("target: objdump '%s', we '%s'" % (text, h["instruction"]))
        if name == "newg_visible" and entry_syms and "<runtime.runqput>" not in text:
            problems.append("site is not the call to runtime.runqput: '%s'" % text)
    want = bytes(int(b, 16) for b in h["bytes"].split())
    if file_bytes(binary, int(h["file_offset"], 16), len(want)) != want:
        problems.append("file bytes at %s differ from %s" % (h["file_offset"], h["bytes"]))
    if not h["emulated"]:
        problems.append("site is single-stepped (%s)" % h["instruction"])
    if entry_syms and entry_syms.get(h["symbol"]) != entry:
        problems.append("entry %s, nm says %s" % (h["entry"], hex(entry_syms.get(h["symbol"], 0))))
    return problems


def main():
    tool, binary = sys.argv[1], sys.argv[2]
    sibling = sys.argv[3] if len(sys.argv) > 3 else None
    d = dump(tool, binary)
    syms = nm_symbols(binary)
    label = "%s %s" % (d["go_version"], binary.rsplit("/", 1)[-1])
    expected = [h for h in d["hooks"] if h["expected"]]
    missing = ["%s (%s)" % (h["name"], h["error"]) for h in expected
               if not h["present"] or "address" not in h or h["error"]]
    check(not missing and len(expected) >= 12,
          "%s: all %d hooks of this release have a site" % (label, len(expected)),
          ", ".join(missing))
    for h in expected:
        if "address" not in h:
            continue
        problems = check_site(binary, h, syms)
        check(not problems, "%s: %s at %s+%d (%s) agrees with objdump, nm and the file"
              % (label, h["name"], h["symbol"], h["offset"], h["instruction"]),
              "; ".join(problems))
    if sibling:
        s = {h["name"]: h.get("address") for h in dump(tool, sibling)["hooks"]}
        diff = [h["name"] for h in d["hooks"] if h.get("address") != s.get(h["name"])]
        check(not diff, "%s: same sites as the build with symbols" % label, ", ".join(diff))
    rets = [h for h in d["hooks"] if h["name"] == "newproc1"][0].get("rets", [])
    ok = bool(rets) and all(objdump_at(binary, int(r["address"], 16), 1)
                            .get(int(r["address"], 16), "").split()[:1] == ["ret"] for r in rets)
    check(ok, "%s: newproc1's %d RET sites are RETs in objdump" % (label, len(rets)))
    sys.exit(1 if failures else 0)


main()
