#!/usr/bin/env bash
# leakhound symbolize against tools nobody here wrote:
#  - go tool nm: the function list (entries and names);
#  - go tool addr2line of the release that built each binary: outermost function and
#    innermost file:line of every function entry and ~3000 sampled instruction starts;
#  - llvm-symbolizer --inlining on builds with DWARF: the whole inline chain;
# on every fixture, on extra cgo PIE builds (GNU ld and lld, stripped and not: the
# scan paths), and on the big toolchain binaries. Then the command's behaviour, and
# malformed input. Known, systematic differences from DWARF are counted and named
# (see docs/PERFORMANCE.md "Symbolizer accuracy"), never silently accepted.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh

SAMPLE=${SYMBOLIZE_SAMPLE:-3000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ ! -x "$LEAKHOUND" ]; then
	fail "symbolize: $LEAKHOUND not built"
	finish
fi
if ! command -v python3 > /dev/null || ! command -v objdump > /dev/null; then
	skip "symbolize: needs python3 and binutils objdump (scripts/deps.sh)"
	finish
fi
have_llvm=0
command -v llvm-symbolizer > /dev/null && have_llvm=1
[ $have_llvm = 1 ] || skip "symbolize: no llvm-symbolizer, inline chains not checked against DWARF"

# The comparisons: prints PASS/FAIL/SKIP lines, exits with the number of failures.
cat > "$work/cmp.py" << 'EOF'
import random, re, sys

def lh_frames(path):
    """leakhound text output -> {pc: [(func, file:line)]}, innermost first"""
    out = {}
    for l in open(path):
        a, rest = l.rstrip('\n').split(' ', 1)
        if rest.endswith(' (inlined)'):
            rest = rest[:-len(' (inlined)')]
        fn, pos = rest.rsplit(' ', 1)
        out.setdefault(int(a, 16), []).append((fn, pos))
    return out

def funcs_of(path):
    out = []
    for l in open(path):
        e, end, name = l.rstrip('\n').split(' ', 2)
        out.append((int(e, 16), int(end, 16), name))
    return out

def nm_of(path):
    """go tool nm -size: {addr: (size, {names})} of text symbols"""
    syms = {}
    for l in open(path):
        f = l.strip('\n').lstrip().split(None, 3)
        if len(f) == 4 and f[2] in 'Tt':
            size, names = syms.get(int(f[0], 16), (0, set()))
            names.add(sym_name(f[3]))
            syms[int(f[0], 16)] = (max(size, int(f[1])), names)
    return syms

def absent(path):
    """the shell writes '-' into a file for a tool that did not run"""
    with open(path) as f:
        return f.read(2) in ('-\n', '-', '')

def pcs_of(path):
    return [int(l, 16) for l in open(path) if l.strip()]

def no_pos(pos):
    # addr2line prints ":-1" (or another negative line) or "?:0" for a function
    # without a line table, DWARF "go.go:0" or "??:0": no position
    return int(pos.rsplit(':', 1)[1]) <= 0

def elided(n):
    """(1.18-1.20) pclntab writes '[...]' for array lengths and for the type
    arguments of generic instantiations: every outermost bracket group becomes
    '[...]', on both sides."""
    out, depth = [], 0
    for c in n:
        if c == '[':
            if depth == 0:
                out.append('[...]')
            depth += 1
        elif c == ']' and depth:
            depth -= 1
        elif depth == 0:
            out.append(c)
    return ''.join(out)

def sym_name(n):
    """A symbol-table or DWARF name as pclntab spells it: symbols and DWARF name
    assembly functions with their ABI0 suffix, write the middle dot of generated
    names as '.', and (1.18-1.20) elide array lengths and shape type arguments."""
    return elided(re.sub(r'\.abi0$', '', n).replace('\u00b7', '.'))

def lh_name(n):
    return elided(n.replace('\u00b7', '.'))

def dwarf_pos(p):
    p = re.sub(r':\d+$', '', p)  # column
    while p.startswith('./'):  # DW_AT_comp_dir "." joined to the name
        p = p[2:]
    return p

def same(m, e):
    return m[0] == e[0] and (m[1] == e[1] or (no_pos(m[1]) and no_pos(e[1])))

def same_chain(mine, exp):
    return len(mine) == len(exp) and all(same(m, e) for m, e in zip(mine, exp))

class Report:
    def __init__(self, label):
        self.label, self.failed = label, 0

    def verdict(self, ok, msg, details=()):
        print('%s symbolize %s: %s' % ('PASS' if ok else 'FAIL', self.label, msg))
        for d in list(details)[:8]:
            print('    ' + d)
        self.failed += not ok

def check_nm(r, funcs, nm):
    bad = []
    for e, _, name in funcs:
        names = nm.get(e, (0, set()))[1]
        if lh_name(name) not in names:
            bad.append('0x%x %s: go tool nm has %s' % (e, name, sorted(names) or 'nothing'))
    chained = all(funcs[i][1] == funcs[i + 1][0] for i in range(len(funcs) - 1))
    r.verdict(not bad and chained, 'function list vs go tool nm: %d functions, %d not there, '
              'ends chained: %s' % (len(funcs), len(bad), chained), bad)

def prep(r, funcs_path, twin_path, nm_path, insns_path, n, out):
    """nm check, then every entry + n instruction starts + a few outside addresses"""
    funcs = funcs_of(funcs_path)
    if twin_path != '-' and funcs_of(twin_path) != funcs:
        print('SKIP symbolize %s: functions differ from the unstripped twin, and go tool '
              'addr2line takes .text for runtime.text on this stripped external link' % r.label)
        return 'skip'
    if not absent(nm_path):
        check_nm(r, funcs, nm_of(nm_path))
    lo, hi = funcs[0][0], funcs[-1][1]
    rnd = random.Random(1)
    cand = [a for a in pcs_of(insns_path) if lo <= a < hi]
    if not cand:  # no disassembly: byte offsets (both decoders are range-based)
        cand = [rnd.randrange(e, end) for e, end, _ in funcs for _ in range(2) if end > e]
    pcs = {e for e, _, _ in funcs}
    pcs.update(rnd.sample(cand, min(n, len(cand))))
    pcs.update([0x10, lo - 1, hi, hi + 0x1000])
    with open(out, 'w') as f:
        f.write(''.join('0x%x\n' % pc for pc in sorted(pcs)))

def a2l_lines(path, pcs):
    lines = open(path).read().split('\n')
    if len(lines) < 2 * len(pcs) or all(lines[2 * i] == '?' for i in range(len(pcs))):
        return None
    return lines

def check_a2l(r, lh, lines, pcs, markers, who):
    bad, skipped = [], 0
    for i, pc in enumerate(pcs):
        fn, pos = lines[2 * i], lines[2 * i + 1]
        fr = lh.get(pc)
        if fn == '?':
            mine = fr[0] if fr else None
            ok = mine == ('??', '??:0')
        else:
            mine = (fr[-1][0], fr[0][1]) if fr else None
            ok = mine is not None and mine[0] == fn and (
                mine[1] == pos or (no_pos(pos) and no_pos(mine[1])))
            if not ok and mine and mine[0] == fn and no_pos(mine[1]) and fn in markers:
                # a zero-size linker marker (go:textfipsstart) has no line table:
                # addr2line decodes pctab offset 0 and prints whatever it finds
                skipped += 1
                continue
        if not ok:
            bad.append('0x%x: leakhound %s, expected %s' % (pc, mine, (fn, pos)))
    r.verdict(not bad, '%d pcs, %d disagree with %s%s' % (
        len(pcs), len(bad), who, ', %d in zero-size markers skipped' % skipped if skipped else ''),
        bad)

def check_llvm(r, lh, llvm, pcs, quirks, a2l=None):
    blocks = open(llvm).read().split('\n\n')
    bad, known, frames = [], {}, 0
    for i, pc in enumerate(pcs):
        ls = blocks[i].strip().split('\n')
        exp = [(sym_name(ls[j]), dwarf_pos(ls[j + 1])) for j in range(0, len(ls) - 1, 2)]
        mine = [(lh_name(f), p) for f, p in lh.get(pc, [])]
        frames += len(mine)
        kind = None
        if same_chain(mine, exp):
            continue
        if mine == [('??', '??:0')]:
            # outside Go's pclntab: DWARF may still know C code (crt, cgo)
            kind = 'C code'
        elif exp == [('??', '??:0')] and len(mine) == 1 and no_pos(mine[0][1]):
            # padding between functions: inside pclntab's [entry, next entry) but
            # past both the pcln table and DW_AT_high_pc
            kind = 'padding'
        elif len(mine) == len(exp) and all(
                same(m, e) or (m[0] == e[0] and m[1] == '<autogenerated>:1' and no_pos(e[1]))
                for m, e in zip(mine, exp)):
            # DWARF has line 0 for the prologue of compiler-generated wrappers
            kind = 'wrapper prologue'
        elif (len(exp) == len(mine) - 1 and mine[-1][1] == '<autogenerated>:1' and
              exp[-1] == (mine[-1][0], mine[0][1]) and same_chain(mine[:-2], exp[:-1])):
            # a method inlined into its compiler-generated pointer wrapper (1.19):
            # DWARF has the wrapper alone, at the inlined method's line
            kind = 'inlined into wrapper'
        elif (len(mine) == len(exp) > 1 and same_chain(mine[:-1], exp[:-1]) and
              mine[-1][0] == exp[-1][0] and mine[-1][0].endswith('.init') and
              mine[-1][1] == '<autogenerated>:1'):
            # a call inlined into a package's init (a package-level var's initializer,
            # encoding/json: reflect.TypeFor[...]): pclntab's inline tree, which the
            # runtime's tracebacks read too, gives the call site as <autogenerated>:1;
            # DWARF gives the var's line
            kind = 'inlined into package init'
        elif ('cgo-call-line' in quirks and len(mine) == len(exp) and same(mine[0], exp[0]) and
              all(m[0] == e[0] and m[1].rsplit(':', 1)[0] == e[1].rsplit(':', 1)[0]
                  for m, e in zip(mine, exp))):
            # Go 1.19 and 1.20 write DW_AT_call_line in files that cgo rewrote
            # without their //line directives; pclntab agrees with the runtime's own
            # tracebacks, and 1.21+ DWARF agrees with both
            kind = 'call line in a cgo file'
        elif (a2l and len(mine) == len(exp) and mine[0][0] == exp[0][0] and
              same_chain(mine[1:], exp[1:]) and mine[0][1] == a2l[2 * i + 1]):
            # DWARF's line table has no row at this pc and stretches the previous
            # one over it (1.19: the alignment NOP before a loop head); pclntab,
            # go tool addr2line and leakhound agree on the line
            kind = 'no DWARF line row'
        if kind:
            known[kind] = known.get(kind, 0) + 1
        else:
            bad.append('0x%x: leakhound %s, expected %s' % (pc, mine, exp))
    r.verdict(not bad, '%d pcs (%d frames), %d disagree with llvm-symbolizer --inlining; '
              'known DWARF differences: %s' % (len(pcs), frames, len(bad), ', '.join(
                  '%s %d' % kv for kv in sorted(known.items())) or 'none'), bad)

def check(r, lh_path, pcs_path, a2l, a2l_fallback, nm_path, llvm, quirks):
    pcs, lh = pcs_of(pcs_path), lh_frames(lh_path)
    markers = set()
    if not absent(nm_path):
        markers = {n for size, names in nm_of(nm_path).values() if size == 0 for n in names}
    lines, who = a2l_lines(a2l, pcs), 'go tool addr2line'
    if lines is None and not absent(a2l_fallback):
        # 1.19's addr2line cannot read PIE (.data.rel.ro.gopclntab): a newer one can
        lines, who = a2l_lines(a2l_fallback, pcs), 'go tool addr2line of a newer release'
    if lines is None:
        print('SKIP symbolize %s: go tool addr2line knows no address of this binary' % r.label)
    else:
        check_a2l(r, lh, lines, pcs, markers, who)
    if not absent(llvm):
        check_llvm(r, lh, llvm, pcs, quirks, lines)

def check_json(r, json_path, text_path, pcs_path):
    import json
    doc, lh = json.load(open(json_path)), lh_frames(text_path)
    got = {int(a['address'], 16): [(f['function'], '%s:%d' % (f['file'], f['line']))
                                   for f in a['frames']] or [('??', '??:0')]
           for a in doc['addresses']}
    inl = all(f['inlined'] == (k < len(a['frames']) - 1)
              for a in doc['addresses'] for k, f in enumerate(a['frames']))
    r.verdict(got == lh and inl and len(doc['addresses']) == len(pcs_of(pcs_path)),
              '--json: one document, the same frames as the text output')

def mutate(path, off, size, seed):
    rnd = random.Random(seed)
    with open(path, 'r+b') as f:
        # header fields first, then anywhere in the table
        for _ in range(rnd.choice([1, 4, 64, 1024])):
            pos = off + (rnd.randrange(72) if rnd.random() < 0.3 else rnd.randrange(size))
            f.seek(pos)
            f.write(bytes([rnd.randrange(256)]))

mode, label, args = sys.argv[1], sys.argv[2], sys.argv[3:]
r = Report(label)
if mode == 'prep':
    r.failed = 3 if prep(r, args[0], args[1], args[2], args[3], int(args[4]), args[5]) else r.failed
elif mode == 'check':
    check(r, *args[:6], args[6:])
elif mode == 'json':
    check_json(r, *args)
elif mode == 'mutate':
    mutate(args[0], int(args[1], 16), int(args[2], 16), int(args[3]))
sys.exit(min(r.failed, 3))
EOF
compare() {
	python3 "$work/cmp.py" "$@"
}

# One binary: label, binary, go command of its release, and the binary whose
# symbols stand for it (itself, or the unstripped twin of an externally linked
# stripped build: go tool addr2line takes .text for runtime.text there).
check_binary() {
	local label=$1 bin=$2 gocmd=$3 truth=${4:-$2} quirks="" rc
	local d="$work/$label"
	mkdir -p "$d"
	if ! "$LEAKHOUND" symbolize --list-funcs "$bin" > "$d/funcs" 2> "$d/err"; then
		fail "symbolize $label: $(cat "$d/err")"
		return
	fi
	echo - > "$d/twin.path"
	if [ "$truth" != "$bin" ]; then
		"$LEAKHOUND" symbolize --list-funcs "$truth" > "$d/twin" 2> /dev/null
		echo "$d/twin" > "$d/twin.path"
	fi
	$gocmd tool nm -size "$truth" > "$d/nm" 2> /dev/null || echo - > "$d/nm"
	: > "$d/insns"
	# instruction starts; the toolchain binaries take seconds: byte offsets there
	[ "${label%%/*}" = toolchain ] ||
		objdump -d --no-show-raw-insn -j .text "$bin" 2> /dev/null |
		awk '/^ *[0-9a-f]+:\t/ { sub(":", "", $1); print $1 }' > "$d/insns"
	compare prep "$label" "$d/funcs" "$(cat "$d/twin.path")" "$d/nm" \
		"$d/insns" "$SAMPLE" "$d/pcs"
	rc=$?
	[ $rc -eq 3 ] && return
	failures=$((failures + rc))
	if ! "$LEAKHOUND" symbolize "$bin" < "$d/pcs" > "$d/lh" 2> "$d/err"; then
		fail "symbolize $label: exit status $?: $(cat "$d/err")"
		return
	fi
	$gocmd tool addr2line "$truth" < "$d/pcs" > "$d/a2l" 2> /dev/null
	echo - > "$d/a2l-new"
	if [ "$gocmd" != /usr/local/go/bin/go ] && [ -x /usr/local/go/bin/go ]; then
		/usr/local/go/bin/go tool addr2line "$truth" < "$d/pcs" > "$d/a2l-new" 2> /dev/null
	fi
	echo - > "$d/llvm"
	if [ $have_llvm = 1 ] && grep -q '\.debug_info' <(readelf -SW "$bin"); then
		llvm-symbolizer --inlining --obj="$bin" < "$d/pcs" > "$d/llvm" 2> /dev/null
	fi
	case $label in go1.19*/cgo* | go1.20*/cgo*) quirks=cgo-call-line ;; esac
	compare check "$label" "$d/lh" "$d/pcs" "$d/a2l" "$d/a2l-new" "$d/nm" "$d/llvm" $quirks
	failures=$((failures + $?))
}

# Every fixture of the manifest; stripped external links checked against their twin.
fixtures_checked=0
while read -r path rel fixture variant; do
	[ -x "$path" ] || continue
	truth=$path
	case $variant in cgo-stripped | ext-stripped | pprof-ext-stripped) truth=${path%-stripped} ;; esac
	check_binary "$rel/$fixture-$variant" "$path" "$(go_for "$rel")" "$truth"
	fixtures_checked=$((fixtures_checked + 1))
done < <(fixtures)
[ $fixtures_checked -gt 0 ] || skip "symbolize: no fixtures built (tests/fixtures/build.sh)"

# Externally linked cgo PIE: the host linker merges pclntab into .data.rel.ro (no
# section: scan), and lld leaves relocated words zero in the file (moduledata only
# through R_X86_64_RELATIVE addends; 1.26 .go.module reads back text = 0 without
# them). Built once into $FIXTURES/gosym-extra.
build_extra() { # gocmd dest ldflags
	[ -x "$2" ] && [ "$2" -nt tests/fixtures/cgo/main.go ] && return 0
	rm -f "$2"
	(cd tests/fixtures/cgo && CGO_ENABLED=1 GOFLAGS=-mod=mod $1 build -buildmode=pie \
		-ldflags="$3" -o "$2" .) > "$work/build.log" 2>&1
}
mkdir -p "$FIXTURES/gosym-extra"
extra=$(cd "$FIXTURES/gosym-extra" && pwd)
for spec in go1.19.8:lld go1.22.12:bfd go1.26.8:lld; do
	rel=${spec%%:*}
	ld=${spec#*:}
	gocmd=$(go_for "$rel")
	[ -n "$gocmd" ] || continue
	ext=""
	if [ "$ld" = lld ]; then
		command -v ld.lld > /dev/null || { skip "symbolize: no ld.lld for $rel"; continue; }
		ext="-extldflags=-fuse-ld=lld"
	fi
	b="$extra/$rel-cgo-pie-$ld"
	if ! build_extra "$gocmd" "$b" "$ext" || ! build_extra "$gocmd" "$b-stripped" "-s -w $ext"; then
		skip "symbolize: could not build $rel cgo PIE with $ld: $(tail -1 "$work/build.log")"
		continue
	fi
	check_binary "$rel/cgo-pie-$ld" "$b" "$gocmd"
	check_binary "$rel/cgo-pie-$ld-stripped" "$b-stripped" "$gocmd" "$b"
done

# The biggest Go binaries at hand, built by the release they ship with.
localgo=/usr/local/go/bin/go
if [ -x $localgo ]; then
	tooldir=$($localgo env GOTOOLDIR)
	for b in /usr/local/go/bin/go /usr/local/go/bin/gofmt "$tooldir/compile" "$tooldir/link"; do
		[ -x "$b" ] && check_binary "toolchain/$(basename "$b")" "$b" $localgo
	done
fi

# Command behaviour: JSON, stdin vs arguments, errors, exit codes.
b=$(fixtures | awk '$4 == "default" { print $1; exit }')
if [ -n "$b" ]; then
	d="$work/cli"
	mkdir -p "$d"
	"$LEAKHOUND" symbolize --list-funcs "$b" > "$d/funcs"
	awk 'NR % 97 == 1 { print $1 }' "$d/funcs" > "$d/pcs"
	objdump -d --no-show-raw-insn -j .text "$b" |
		awk '/^ *[0-9a-f]+:\t/ { sub(":", "", $1); print $1 }' > "$d/all"
	"$LEAKHOUND" symbolize "$b" < "$d/all" > "$d/all.out"
	# pcs with inlined frames, and one outside every function
	grep ' (inlined)$' "$d/all.out" | awk 'NR % 50 == 1 { print $1 }' >> "$d/pcs"
	echo 0x10 >> "$d/pcs"
	"$LEAKHOUND" symbolize "$b" < "$d/pcs" > "$d/stdin"
	"$LEAKHOUND" symbolize "$b" $(sed 's/^0x//' "$d/pcs") > "$d/args"
	check "symbolize: addresses from stdin and from arguments (without 0x) agree" \
		cmp -s "$d/stdin" "$d/args"
	"$LEAKHOUND" symbolize --json "$b" < "$d/pcs" > "$d/json"
	compare json "json" "$d/json" "$d/stdin" "$d/pcs"
	failures=$((failures + $?))
	main=$(awk '$3 == "main.main" { print $1 }' "$d/funcs")
	check "symbolize: main.main's entry is main.main in main.go" \
		grep -q "^$main main.main .*/main.go:[0-9]*\$" <("$LEAKHOUND" symbolize "$b" "$main")
	check "symbolize: the inlined main.scratch shows as a frame marked (inlined)" \
		grep -q ' main.scratch .*/main.go:[0-9]* (inlined)$' "$d/all.out"
	check "symbolize: an address outside every function prints ?? ??:0" \
		[ "$("$LEAKHOUND" symbolize "$b" 10)" = "0x10 ?? ??:0" ]
fi
expect_exit() { # want what command...
	local want=$1 what=$2
	shift 2
	"$@" > "$work/out" 2> "$work/err"
	local rc=$?
	check "symbolize: $what exits $want (got $rc)" [ $rc -eq "$want" ]
}
expect_exit 0 "--help" "$LEAKHOUND" symbolize --help
expect_exit 2 "no BINARY" "$LEAKHOUND" symbolize
expect_exit 2 "an unknown option" "$LEAKHOUND" symbolize --bogus /bin/true
expect_exit 1 "a missing file" "$LEAKHOUND" symbolize /nonexistent 0x1
expect_exit 1 "a text file" "$LEAKHOUND" symbolize /etc/passwd 0x1
expect_exit 1 "a C binary" "$LEAKHOUND" symbolize /bin/true 0x1
check "symbolize: a C binary is reported as not a Go binary, on one line" \
	[ "$(grep -c 'not a Go binary' "$work/err")" = 1 ] && [ "$(wc -l < "$work/err")" = 1 ]
if [ -n "$b" ]; then
	expect_exit 2 "a bad address" "$LEAKHOUND" symbolize "$b" 0xzz
	expect_exit 2 "a bad address on stdin" sh -c "echo nothex | '$LEAKHOUND' symbolize '$b'"
fi

# Malformed input: truncated files and bytes flipped inside the pclntab must end in
# an answer or a clean error, never a signal or a hang.
if [ -n "$b" ]; then
	size=$(stat -c %s "$b")
	read -r tab tabsize < <(readelf -SW "$b" | sed 's/^ *\[ *[0-9]*\] *//' |
		awk '$1 == ".gopclntab" { print $4, $5 }')
	awk 'NR % 13 == 1 { print $1 }' "$work/cli/funcs" > "$work/fpcs"
	crashes=0
	runs=0
	for i in $(seq 1 30); do
		cp "$b" "$work/mut"
		if [ $i -le 6 ]; then
			truncate -s $((size * i / 7)) "$work/mut"
		else
			compare mutate - "$work/mut" "$tab" "$tabsize" "$i"
		fi
		timeout 20 "$LEAKHOUND" symbolize "$work/mut" < "$work/fpcs" > /dev/null 2>&1
		rc=$?
		runs=$((runs + 1))
		if [ $rc -gt 2 ]; then
			crashes=$((crashes + 1))
			cp "$work/mut" "$OUTPUT/symbolize-crash-$i"
			echo "  mutant $i: exit status $rc, kept as $OUTPUT/symbolize-crash-$i"
		fi
	done
	check "symbolize: $runs truncated or corrupted binaries, $crashes crashes or hangs" \
		[ $crashes -eq 0 ]
fi
finish
