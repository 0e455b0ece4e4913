#!/usr/bin/env bash
# Regenerates the vendored vmlinux.h from this kernel's BTF. The BPF objects are
# compiled against the vendored copy (CO-RE relocates them on other kernels), so
# run this only to pick up new kernel types.
# usage: scripts/gen-vmlinux.sh [OUT]   (default vmlinux/<arch>/vmlinux.h)
set -euo pipefail
arch=$(uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
out=${1:-vmlinux/$arch/vmlinux.h}
btf=${BTF:-/sys/kernel/btf/vmlinux}
[ -r "$btf" ] || { echo "gen-vmlinux.sh: $btf not readable: this kernel has no BTF" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
bpftool btf dump file "$btf" format c > "$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out from $btf"
