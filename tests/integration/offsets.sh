#!/usr/bin/env bash
# Runtime struct offsets and constants (src/goffsets.c, src/dwarf.c) on real binaries:
#  (a) for every fixture with DWARF, the version table row of its release equals what
#      our DWARF reader finds, entry by entry; stripped fixtures resolve from the table;
#  (b) our DWARF reader agrees with llvm-dwarfdump (a reader nobody here wrote) on
#      every entry, including nested paths (g.sched.bp) and constants, and on every
#      member of the runtime types the tracers read (and gcc's C types in cgo binaries);
#      every unit of every binary, Go's and gcc's, parses;
#  (c) OFFSETS_ALL_RELEASES=1 also builds the basic fixture with the releases the
#      manifest lacks (OFFSETS_RELEASES, default go1.20.14 go1.21.13 go1.23.12
#      go1.25.5) and for arm64, so every table column 1.19-1.26 is checked. Slow:
#      toolchains come through the module proxy.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh

DUMP=$OUTPUT/tests/drivers/offsets-dump
TYPES=(runtime.g runtime.gobuf runtime.stack runtime.m runtime.mcache runtime.special
	runtime.specialprofile runtime.bucket runtime.mstats runtime.consistentHeapStats
	runtime.heapStatsDelta runtime.gcControllerState runtime.moduledata)
# libcgo.h structs: gcc's DWARF 5 units of externally linked cgo binaries.
CTYPES=(ThreadStart G)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Compares offsets-dump output with llvm-dwarfdump's view of the same binary.
cat > "$tmp/llvm_cmp.py" << 'EOF'
import json, re, subprocess, sys

dump, binary = sys.argv[1], sys.argv[2]
entries, members, sizes, resolved, js = [], {}, {}, {}, None
for line in open(dump):
    f = line.rstrip("\n").split("\t")
    if f[0] == "entry":
        entries.append(f[1:])
        resolved[f[1]] = f[6]
    elif f[0] == "member":
        members.setdefault(f[1], []).append((f[2], int(f[3])))
    elif f[0] == "size":
        sizes[f[1]] = int(f[2])
    elif f[0] == "json":
        js = json.loads(f[1])

DIE = re.compile(r"^0x[0-9a-f]+:(\s+)(DW_TAG_\w+|NULL)")
ATTR = re.compile(r"^\s+(DW_AT_\w+)\s+\((.*)\)$")
structs, consts, asked = {}, {}, set()

def fetch(names):
    """Reads the named DIEs and their children from llvm-dwarfdump."""
    asked.update(names)
    out = subprocess.run(["llvm-dwarfdump", "--show-children"] +
                         ["--name=" + n for n in sorted(names)] + [binary],
                         capture_output=True, text=True, check=True).stdout
    base = top = cur = None
    tops = []
    for line in out.splitlines():
        m = DIE.match(line)
        if m:
            ind = len(m.group(1))
            base = ind if base is None else base
            cur = {"tag": m.group(2), "at": {}, "kids": []}
            if ind == base:
                top = cur
                tops.append(cur)
            elif ind == base + 2 and top is not None:
                top["kids"].append(cur)
            continue
        m = ATTR.match(line)
        if m and cur is not None:
            cur["at"][m.group(1)] = m.group(2)
    for d in tops:
        name = unquote(d["at"].get("DW_AT_name", '""'))
        if d["tag"] in ("DW_TAG_structure_type", "DW_TAG_union_type") and \
                "DW_AT_declaration" not in d["at"] and name not in structs:
            structs[name] = d
        if d["tag"] == "DW_TAG_constant" and name not in consts:
            consts[name] = int(d["at"]["DW_AT_const_value"], 0)

def unquote(v):
    m = re.search(r'"(.*)"', v)
    return m.group(1) if m else v

def member(sname, mname):
    for k in structs[sname]["kids"]:
        if k["tag"] == "DW_TAG_member" and unquote(k["at"].get("DW_AT_name", "")) == mname:
            return k
    return None

def expect(etype, path, need):
    """What llvm-dwarfdump says an entry is: a number, "-" (absent) or "?" (unknown)."""
    if etype == "-":
        if path not in asked:
            need.add(path)
        return str(consts[path]) if path in consts else "?"
    total, sname = 0, etype
    for i, comp in enumerate([] if path == "-" else path.split(".")):
        if sname not in structs:
            if sname not in asked:
                need.add(sname)
            return "?"
        k = member(sname, comp)
        if k is None:
            return "-" if i == 0 else "?"
        total += int(k["at"]["DW_AT_data_member_location"], 0)
        sname = unquote(k["at"]["DW_AT_type"])
    if path == "-":
        if sname not in structs:
            if sname not in asked:
                need.add(sname)
            return "?"
        return str(int(structs[sname]["at"]["DW_AT_byte_size"], 0))
    return str(total)

bad = []
fetch(set(members) | {e[1] for e in entries if e[1] != "-"} |
      {e[2] for e in entries if e[1] == "-"})
for _ in range(4):  # nested member types, fetched in rounds
    need = set()
    for e in entries:
        expect(e[1], e[2], need)
    if not need:
        break
    fetch(need)
for name, etype, path, dwarf, table, res in entries:
    want = expect(etype, path, set())
    if want == "?" or dwarf != want:
        bad.append("%s: ours %s, llvm-dwarfdump %s" % (name, dwarf, want))
nmembers = 0
for sname, ours in members.items():
    if sname not in structs:
        bad.append("%s: llvm-dwarfdump has no such struct" % sname)
        continue
    theirs = [(unquote(k["at"].get("DW_AT_name", '""')),
               int(k["at"]["DW_AT_data_member_location"], 0))
              for k in structs[sname]["kids"] if k["tag"] == "DW_TAG_member"]
    if ours != theirs:
        bad.append("%s members: ours %s, llvm-dwarfdump %s" % (sname, ours, theirs))
    if sizes.get(sname) != int(structs[sname]["at"]["DW_AT_byte_size"], 0):
        bad.append("%s size: ours %s, llvm-dwarfdump %s" % (sname, sizes.get(sname),
                   structs[sname]["at"]["DW_AT_byte_size"]))
    nmembers += len(ours)
if js is None or js.get("offsets_source") is None:
    bad.append("no JSON from goffsets__to_json")
else:
    for k, v in js["offsets"].items():
        if ("-" if v is None else str(v)) != resolved.get(k):
            bad.append("json %s=%s, resolved %s" % (k, v, resolved.get(k)))
for b in bad:
    print("  " + b)
print("  %d entries, %d members of %d types compared" % (len(entries), nmembers, len(members)))
sys.exit(1 if bad else 0)
EOF

has_dwarf() { readelf -S -W "$1" 2> /dev/null | grep -c ' \.debug_info ' > /dev/null; }
minor_of() { local t=${1#go1.}; echo "${t%%.*}"; }

# Entries where DWARF is unknown ("?") or differs from the table row.
table_mismatches() {
	awk -F'\t' '$1 == "entry" && ($5 == "?" || $5 != $6) {
		printf "  %s: dwarf %s, table %s\n", $2, $5, $6 }' "$1"
}

# offsets-dump of one binary into $tmp/dump; fails the check when it cannot run.
dump() { # what binary [type...]
	local what=$1
	shift
	"$DUMP" "$@" > "$tmp/dump" 2> "$tmp/err" && return 0
	fail "$what: offsets-dump failed: $(cat "$tmp/err")"
	return 1
}

# Every unit walked, none malformed; Go's units v4 up to 1.24 and v5 from 1.25
# (internal/buildcfg/exp.go@1.25); gcc's C units v5.
check_units() { # dump release variant
	local line minor v4 v5
	line=$(grep '^dwarf' "$1")
	minor=$(minor_of "$2")
	local re='units=([0-9]+) walked=([0-9]+) bad=0 v4=([0-9]+) v5=([0-9]+) headers_bad=0'
	[[ $line =~ $re ]] || { echo "  $line"; return 1; }
	[ "${BASH_REMATCH[1]}" -gt 0 ] && [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ] ||
		{ echo "  $line"; return 1; }
	v4=${BASH_REMATCH[3]} v5=${BASH_REMATCH[4]}
	if [ "$minor" -le 24 ]; then
		[ "$v4" -gt 0 ] || { echo "  $line: no DWARF 4 Go units"; return 1; }
		case $3 in
		cgo* | ext | pprof-ext) [ "$v5" -gt 0 ] || { echo "  $line: no gcc units"; return 1; } ;;
		*) [ "$v5" -eq 0 ] || { echo "  $line: unexpected v5 units"; return 1; } ;;
		esac
	elif [ "$v4" -ne 0 ] || [ "$v5" -eq 0 ]; then
		echo "  $line: expected DWARF 5 only"
		return 1
	fi
}

check_dwarf_fixture() { # binary release variant arch
	local bin=$1 rel=$2 variant=$3 arch=$4 what="$2 $3${4:+ $4}" d="$tmp/dump" types
	types=("${TYPES[@]}")
	case $variant in cgo* | ext | pprof-ext) types+=("${CTYPES[@]}") ;; esac
	dump "$what" "$bin" "${types[@]}" || return
	# The row is the one of the release that built it (buildinfo agrees with `go env`).
	if grep -q "^version	$rel\$" "$d" && grep -q '^rc	dwarf=0	table=0	resolve=0$' "$d" &&
		grep -q '^source	dwarf$' "$d" && [ -z "$(table_mismatches "$d")" ]; then
		pass "$what: table row equals DWARF ($(grep -c '^entry' "$d") entries)"
	else
		fail "$what: table row differs from DWARF"
		grep '^version\|^rc\|^source' "$d"
		table_mismatches "$d"
	fi
	check "$what: every DWARF unit parses" check_units "$d" "$rel" "$variant"
	if python3 "$tmp/llvm_cmp.py" "$d" "$bin" > "$tmp/cmp" 2>&1; then
		pass "$what: DWARF reader agrees with llvm-dwarfdump:$(tail -1 "$tmp/cmp")"
	else
		fail "$what: DWARF reader disagrees with llvm-dwarfdump"
		cat "$tmp/cmp"
	fi
}

check_stripped_fixture() { # binary release variant
	local bin=$1 what="$2 $3" d="$tmp/dump" tag
	tag="go1.$(minor_of "$2")"
	dump "$what" "$bin" || return
	# No DWARF: -ENOENT from the reader, every resolved entry from the table.
	if grep -q '^rc	dwarf=-2	table=0	resolve=0$' "$d" &&
		grep -q "^source	table $tag\$" "$d" &&
		[ -z "$(awk -F'\t' '$1 == "entry" && $6 != $7' "$d")" ]; then
		pass "$what: no DWARF, resolved from table $tag"
	else
		fail "$what: stripped binary not resolved from the table"
		grep '^rc\|^source' "$d"
	fi
}

check_fixture() { # binary release variant [arch]
	if has_dwarf "$1"; then
		check_dwarf_fixture "$@"
	else
		check_stripped_fixture "$@"
	fi
}

# DWARF wins where it has the type, the table fills in the rest: a stripped fixture
# with grafted DWARF that has only runtime.g (4096 bytes) and its goid at 999.
check_grafted() { # stripped-binary release
	local what="$2 stripped + grafted DWARF" d="$tmp/dump" tag
	tag="go1.$(minor_of "$2")"
	python3 - "$tmp" << 'PY'
import struct, sys
def uleb(v):
    out = b""
    while True:
        b, v = v & 0x7f, v >> 7
        if not v:
            return out + bytes([b])
        out += bytes([b | 0x80])
# abbrevs: 1 compile_unit; 2 structure_type (name string, byte_size udata);
# 3 member (name string, data_member_location udata)
ab = uleb(1) + uleb(0x11) + b"\x01\x00\x00"
ab += uleb(2) + uleb(0x13) + b"\x01" + uleb(0x03) + uleb(0x08) + uleb(0x0b) + uleb(0x0f) + b"\0\0"
ab += uleb(3) + uleb(0x0d) + b"\x00" + uleb(0x03) + uleb(0x08) + uleb(0x38) + uleb(0x0f) + b"\0\0"
ab += b"\x00"
body = uleb(1) + uleb(2) + b"runtime.g\0" + uleb(4096) + uleb(3) + b"goid\0" + uleb(999)
body += b"\0\0"
hdr = struct.pack("<HIB", 4, 0, 8)
open(sys.argv[1] + "/abbrev.bin", "wb").write(ab)
open(sys.argv[1] + "/info.bin", "wb").write(struct.pack("<I", len(hdr) + len(body)) + hdr + body)
PY
	objcopy --add-section .debug_info="$tmp/info.bin" --add-section .debug_abbrev="$tmp/abbrev.bin" \
		"$1" "$tmp/grafted" || { fail "$what: objcopy failed"; return; }
	dump "$what" "$tmp/grafted" || return
	# goid from DWARF; g.m absent (DWARF has g, without m); m.curg from the table.
	if grep -q "^source	dwarf+table $tag\$" "$d" &&
		awk -F'\t' '$1 != "entry" { next }
			$2 == "runtime.g.goid" && $7 != 999 { bad = 1 }
			$2 == "sizeof(runtime.g)" && $7 != 4096 { bad = 1 }
			$2 == "runtime.g.m" && $7 != "-" { bad = 1 }
			$2 == "runtime.m.curg" && ($5 != "?" || $7 != $6) { bad = 1 }
			END { exit bad }' "$d"; then
		pass "$what: DWARF where it has the type, table for the rest"
	else
		fail "$what: DWARF and table not merged as expected"
		grep '^source\|runtime.g.goid\|sizeof(runtime.g)\|runtime.g.m	\|runtime.m.curg' "$d"
	fi
}

# The go command of a manifest release (tab-separated: the command has spaces), else
# the release through GOTOOLCHAIN.
gocmd_for() {
	local cmd
	cmd=$(awk -F'\t' -v t="$1" '$1 == t { print $2; exit }' "$FIXTURES/toolchains.tsv" \
		2> /dev/null)
	echo "${cmd:-env GOTOOLCHAIN=$1 /usr/local/go/bin/go}"
}

build_basic() { # gocmd arch dest
	(cd tests/fixtures/basic &&
		CGO_ENABLED=0 GOARCH=$2 GOFLAGS=-mod=mod $1 build -o "$3" .) > "$tmp/build" 2>&1
}

# Slow part: one basic build per extra release and per arch, cached under OUTPUT.
all_releases() {
	local dir rel gocmd arch dest tag
	dir=$(mkdir -p "$OUTPUT/fixtures-offsets" && cd "$OUTPUT/fixtures-offsets" && pwd) || return
	local rels=(${OFFSETS_RELEASES:-go1.20.14 go1.21.13 go1.23.12 go1.25.5})
	for rel in $(fixtures | cut -f2 | sort -u); do rels+=("$rel"); done
	for rel in $(printf '%s\n' "${rels[@]}" | sort -u); do
		gocmd=$(gocmd_for "$rel")
		for arch in amd64 arm64; do
			dest="$dir/$rel-$arch/basic"
			mkdir -p "$(dirname "$dest")"
			if [ ! -x "$dest" ] && ! build_basic "$gocmd" "$arch" "$dest"; then
				fail "$rel $arch: cannot build the basic fixture"
				tail -3 "$tmp/build"
				continue
			fi
			tag=$($gocmd env GOVERSION)
			check_fixture "$dest" "$tag" default "$arch"
		done
	done
}

if [ ! -x "$DUMP" ]; then
	fail "offsets: $DUMP is not built (make test-integration builds it)"
	finish
fi
if ! command -v llvm-dwarfdump > /dev/null || ! command -v python3 > /dev/null; then
	fail "offsets: llvm-dwarfdump and python3 are needed (make deps)"
	finish
fi
n=0
while IFS=$'\t' read -r path rel fixture variant; do
	[ -x "$path" ] || { fail "$rel $variant: fixture $path missing"; continue; }
	check_fixture "$path" "$rel" "$variant" ""
	n=$((n + 1))
done < <(fixtures)
[ "$n" -gt 0 ] || fail "offsets: no fixtures in $FIXTURES/manifest.tsv"
read -r path rel < <(fixtures | awk -F'\t' '$4 == "stripped" { print $1, $2; exit }')
[ -n "${path:-}" ] && check_grafted "$path" "$rel"
if [ "${OFFSETS_ALL_RELEASES:-0}" = 1 ]; then
	all_releases
else
	skip "offsets: other releases and arm64 (OFFSETS_ALL_RELEASES=1)"
fi
finish
