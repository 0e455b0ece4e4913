# Compares `leakhound symbolize -p PID` on a running cgo program with tools that
# read the files themselves: readelf (symbols, PT_LOADs), nm, go tool addr2line,
# /proc/PID/maps, and `go tool pprof` on the profile --pprof writes.
# usage: procsym_cmp.py LEAKHOUND GO PID BINARY LABEL TMPDIR [TWIN]
#   TWIN: the unstripped build of a stripped BINARY, for the C function's address
#   (used only where both files hold the same bytes there).
# Prints PASS/FAIL/SKIP lines; exits 1 on any FAIL.
import json, os, random, re, shlex, subprocess, sys

lh, gocmd, pid, binary, label, tmp = sys.argv[1:7]
# a release's go command can be several words ("env GOTOOLCHAIN=go1.22.12 go")
gocmd = shlex.split(gocmd)
# profiles are read by one go tool pprof whatever the release (PPROF_GO, /usr/local/go's
# in the tests): go1.25's shows cgo's _cgo_..._Cfunc_ names without their leading "_"
pprof_go = shlex.split(os.environ.get("PPROF_GO", "")) or gocmd
twin = sys.argv[7] if len(sys.argv) > 7 else None
root = "/proc/%s/root" % pid
bad = 0
random.seed(5)


def res(ok, msg, detail=()):
    global bad
    print(("PASS " if ok else "FAIL ") + label + ": " + msg)
    if not ok:
        bad += 1
        for l in list(detail)[:10]:
            print("  " + str(l))


def run(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, **kw)


def exec_maps():
    out = []
    for l in open("/proc/%s/maps" % pid):
        f = l.split(None, 5)
        if len(f) < 6 or "x" not in f[1]:
            continue
        s, e = (int(x, 16) for x in f[0].split("-"))
        out.append((s, e, int(f[2], 16), f[5].strip()))
    return out


def all_maps():
    out = []
    for l in open("/proc/%s/maps" % pid):
        f = l.split(None, 5)
        s, e = (int(x, 16) for x in f[0].split("-"))
        out.append((s, e, f[1], f[5].strip() if len(f) > 5 else ""))
    return out


def loads(host):
    segs = []
    for l in run("readelf", "-lW", host).stdout.splitlines():
        f = l.split()
        if f and f[0] == "LOAD":
            segs.append((int(f[1], 16), int(f[2], 16), int(f[4], 16), f[6:-1]))
    return segs


def bias_of(path):
    """runtime - link-time, from the executable mapping and readelf's PT_LOADs"""
    for s, e, off, p in exec_maps():
        if p != path:
            continue
        for foff, vaddr, filesz, flags in loads(root + path):
            if foff & ~0xFFF <= off < foff + filesz:
                return s - off - (vaddr - foff)
    return None


def funcs(host):
    """readelf -Ws --dyn-syms: {addr: (size, {names})} of defined FUNC/IFUNC"""
    out = {}
    for l in run("readelf", "-Ws", "--dyn-syms", host).stdout.splitlines():
        f = l.split()
        if len(f) < 8 or f[3] not in ("FUNC", "IFUNC") or f[6] == "UND":
            continue
        a = int(f[1], 16)
        if not a:
            continue
        size, names = out.get(a, (0, set()))
        out[a] = (max(size, int(f[2], 0)), names | {f[7].split("@")[0]})
    return out


def by_name(fs, name):
    for a, (size, names) in fs.items():
        if name in names:
            return a, size
    return None, None


maps = exec_maps()
exe_path = os.readlink("/proc/%s/exe" % pid)
libc = next((p for _, _, _, p in maps if re.search(r"/libc[.-][^/]*so", p)), None)
static = libc is None
exe_bias = bias_of(exe_path)
res(exe_bias is not None, "executable %s mapped, bias 0x%x" % (exe_path, exe_bias or 0))

# The queries: runtime address -> what the tools say.
queries = []  # (addr, kind, expect)


def add_c(module, mbias, fs, name, offsets, want_names=None):
    a, size = by_name(fs, name)
    if a is None:
        print("SKIP %s: no %s in %s" % (label, name, module))
        return None
    for off in offsets(size):
        queries.append((a + off + mbias, "c", dict(module=module, link=a + off, off=off,
                                                  names=want_names or fs[a][1], want=name)))
    return a


mid_offsets = lambda size: [0, 1, size // 2, size - 1] if size > 1 else [0]
if not static:
    lbias = bias_of(libc)
    lf = funcs(root + libc)
    malloc = add_c(libc, lbias, lf, "malloc", mid_offsets, {"malloc"})
    add_c(libc, lbias, lf, "free", mid_offsets, {"free"})
    # libc's own static functions only its debug file names (libc6-dbg), by build id
    bid = re.search(r"Build ID: ([0-9a-f]+)", run("readelf", "-n", root + libc).stdout)
    dbg = bid and "%s/usr/lib/debug/.build-id/%s/%s.debug" % (root, bid.group(1)[:2],
                                                             bid.group(1)[2:])
    if dbg and os.path.exists(dbg):
        df = funcs(dbg)
        name = "_int_malloc" if by_name(df, "_int_malloc")[0] else None
        if name and not by_name(lf, name)[0]:
            add_c(libc, lbias, df, name, mid_offsets)
        else:
            print("SKIP %s: no _int_malloc in the libc debug file only" % label)
    else:
        print("SKIP %s: libc debug file not installed (libc6-dbg)" % label)
else:
    lbias, lf = exe_bias, funcs(root + exe_path)
    malloc = add_c(exe_path, exe_bias, lf, "malloc", mid_offsets, {"malloc"})
    add_c(exe_path, exe_bias, lf, "free", mid_offsets, {"free"})
    libc = exe_path

# The cgo C function in the executable: from its own symbols, else from the twin's
# where the bytes agree (then there is no symbol to find: only the address).
ef = funcs(root + exe_path)
cfn = next(((a, s, n) for a, (s, ns) in ef.items() for n in ns if n.endswith("_Cfunc_keep_last")),
           None)
keep = None
if cfn:
    keep = add_c(exe_path, exe_bias, ef, cfn[2], mid_offsets)
    add_c(exe_path, exe_bias, ef, "x_cgo_init", mid_offsets)
elif twin:
    tf = funcs(twin)
    t = next(((a, s) for a, (s, ns) in tf.items() for n in ns if n.endswith("_Cfunc_keep_last")),
             None)

    def mnemonics(path, a, n):
        d = run("objdump", "-d", "--no-show-raw-insn", "--start-address=0x%x" % a,
                "--stop-address=0x%x" % (a + n), path).stdout
        return [l.split("\t")[1].split()[0] for l in d.splitlines()
                if re.match(r"\s+[0-9a-f]+:\t\S", l)]

    # the same instructions at the same address (displacements into data may differ)
    if t and t[1] and mnemonics(twin, t[0], t[1]) and \
            mnemonics(twin, t[0], t[1]) == mnemonics(binary, t[0], t[1]):
        keep = t[0]
        for off in mid_offsets(t[1]):
            queries.append((t[0] + off + exe_bias, "c",
                            dict(module=exe_path, link=t[0] + off, off=off, names=None,
                                 want=None)))
    elif t:
        print("SKIP %s: stripped build's C function differs from its twin's" % label)

# Go: functions of the pclntab (leakhound's list, checked against addr2line below)
lst = run(lh, "symbolize", "--list-funcs", binary).stdout.split("\n")
gofns = [(int(e, 16), int(n, 16), name) for e, n, name in
         (l.split(" ", 2) for l in lst if l)]
pick = [f for f in gofns if f[2] in ("main.main", "main.leakCString")]
pick += random.sample(gofns, min(150, len(gofns)))
main_main = next((f for f in gofns if f[2] == "main.main"), None)
golinks = []
for e, n, name in pick:
    for pc in (e, e + random.randrange(max(1, n - e))):
        golinks.append(pc)
# go tool addr2line takes .text for runtime.text on a stripped external link: ask the
# unstripped twin, when its functions are where the stripped build has them
truth = binary
if twin:
    if run(lh, "symbolize", "--list-funcs", twin).stdout.split("\n") == lst:
        truth = twin
    else:
        print("SKIP %s: Go functions differ from the twin's: addr2line on the build itself"
              % label)
a2l = run(*gocmd, "tool", "addr2line", truth,
          input="".join("0x%x\n" % pc for pc in golinks)).stdout.splitlines()
if len(a2l) != 2 * len(golinks):
    res(False, "go tool addr2line answered %d lines for %d pcs" % (len(a2l), len(golinks)))
else:
    for i, pc in enumerate(golinks):
        queries.append((pc + exe_bias, "go", dict(func=a2l[2 * i], pos=a2l[2 * i + 1], link=pc)))

# In no executable mapping: page zero, the first writable anonymous or heap mapping.
queries.append((0x10, "nomap", {}))
rw = next((s for s, e, perm, p in all_maps() if "w" in perm and "x" not in perm), None)
if rw:
    queries.append((rw + 8, "nomap", {}))

js = run(lh, "symbolize", "-p", pid, "--json", *["0x%x" % a for a, _, _ in queries])
try:
    doc = json.loads(js.stdout)
    got = doc["addresses"]
except Exception as e:
    res(False, "symbolize -p --json: %s; stderr %s" % (e, js.stderr.strip()))
    sys.exit(1)
res(len(got) == len(queries) and doc.get("pid") == int(pid),
    "one answer per address (%d)" % len(queries))


def check(kind, name, rows):
    bad_rows = [r for r in rows if r]
    n = len(rows)
    res(n > 0 and not bad_rows, "%s: %d/%d addresses agree" % (name, n - len(bad_rows), n),
        bad_rows)


rows = {"c": [], "go": [], "nomap": []}
want_seen = {}
for (addr, kind, ex), g in zip(queries, got):
    fr = g["frames"]
    why = None
    if kind == "nomap":
        if g["mapped"] or fr:
            why = "0x%x: mapped %s" % (addr, fr)
    elif not g["mapped"] or not fr:
        why = "0x%x: not mapped" % addr
    elif kind == "c":
        f = fr[0]
        if len(fr) != 1 or f["go"] or f["module"] != ex["module"] or \
                int(f["module_address"], 16) != ex["link"]:
            why = "0x%x: %s, want module %s+0x%x" % (addr, fr, ex["module"], ex["link"])
        elif ex["names"] is None and f["function"] is not None:
            why = "0x%x: %s, want no symbol (stripped)" % (addr, f["function"])
        elif ex["names"] is not None and (f["function"] not in ex["names"] or
                                          f["offset"] != ex["off"]):
            why = "0x%x: %s+%d, want %s+%d" % (addr, f["function"], f["offset"],
                                              sorted(ex["names"]), ex["off"])
        want_seen.setdefault(ex["want"], 0)
        want_seen[ex["want"]] += 1
    else:
        # addr2line: the physical function, the innermost file:line; ":-1" (or "?:0")
        # for a function without a line table, where leakhound says line 0
        pos = "%s:%d" % (fr[0]["file"], fr[0]["line"])
        no_pos = int(ex["pos"].rsplit(":", 1)[1]) <= 0 and fr[0]["line"] == 0
        if not all(f["go"] for f in fr) or fr[-1]["function"] != ex["func"] or \
                (pos != ex["pos"] and not no_pos) or \
                int(fr[0]["module_address"], 16) != ex["link"]:
            why = "0x%x (0x%x): %s, addr2line %s %s" % (addr, ex["link"], fr, ex["func"],
                                                       ex["pos"])
    rows[kind].append(why)
check("c", "C functions (%s) vs readelf/nm + maps" %
      ", ".join(sorted(str(k) if k else "stripped keep_last" for k in want_seen)), rows["c"])
check("go", "Go pcs vs go tool addr2line", rows["go"])
check("nomap", "addresses in no executable mapping say so", rows["nomap"])

# Text output of the same kinds.
if malloc is not None:
    txt = run(lh, "symbolize", "-p", pid, "0x%x" % (malloc + 4 + lbias), "0x10").stdout
    res(re.search(r"^0x[0-9a-f]+ malloc\+0x4 %s\+0x%x$" % (re.escape(libc), malloc + 4), txt,
                  re.M) is not None and "0x10 ?? (no mapping)" in txt,
        "text output: 'malloc+0x4 %s+0x%x', '?? (no mapping)'" % (libc, malloc + 4), [txt])

# A mixed stack as a profile: malloc, the C function (returned into), main.main.
if malloc is not None and keep is not None and main_main:
    e, n, _ = main_main
    stack = [malloc + 4 + lbias, keep + 0x11 + exe_bias, e + (n - e) // 2 + exe_bias]
    out = os.path.join(tmp, "stack-%s.pb.gz" % re.sub(r"\W", "_", label))
    w = run(lh, "symbolize", "-p", pid, "--pprof", out, *["0x%x" % a for a in stack])
    keep_name = cfn[2] if cfn else "%s+0x%x" % (os.path.basename(exe_path), keep + 0x11)
    tr = run(*pprof_go, "tool", "pprof", "-traces", out)
    names = [l.split()[-1] for l in tr.stdout.splitlines() if l.startswith(" ")]
    res(w.returncode == 0 and names == ["malloc", keep_name, "main.main"],
        "go tool pprof -traces: malloc, %s, main.main" % keep_name,
        [w.stderr, tr.stdout, tr.stderr])
    top = run(*pprof_go, "tool", "pprof", "-top", out).stdout
    res(re.search(r"100%.*\smalloc$", top, re.M) is not None and keep_name in top,
        "go tool pprof -top: malloc flat, %s cum" % keep_name, [top])
    raw = run(*pprof_go, "tool", "pprof", "-raw", out).stdout
    res(libc in raw and exe_path in raw and
        re.search(r"main\.main \S+main\.go:\d+", raw) is not None,
        "profile mappings name libc and the executable; main.main has file:line", [raw])
sys.exit(1 if bad else 0)
