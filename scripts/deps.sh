#!/usr/bin/env bash
# Installs everything leakhound needs to build and test, from Debian packages.
# Idempotent and non-interactive; run as root (make deps).
set -euo pipefail

pkgs=(
	make gcc clang clang-format llvm lld pkg-config
	libbpf-dev bpftool libelf-dev zlib1g-dev libcjson-dev
	libclang-rt-14-dev	# libFuzzer, ASan, UBSan runtimes
	binutils file python3 jq procps util-linux
	golang-1.19-go		# the oldest supported Go release, and the fallback toolchain
	libcap2-bin		# capsh: tests run check without CAP_SYS_ADMIN
	prometheus curl		# a stripped, externally linked Go service (go1.19) for tests
	musl-tools		# musl-gcc: the static musl build of the cgoleak fixture
	chromium		# the daemon's HTML page, headless (tests/integration/daemon.sh)
	python3-yaml systemd	# the DaemonSet manifest parsed, systemd-analyze verify of the unit
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" -eq 0 ] || { echo "deps.sh: installing ${missing[*]} needs root" >&2; exit 1; }
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [ -x /usr/local/go/bin/go ]; then
	echo "deps: Go $(/usr/local/go/bin/go env GOVERSION) at /usr/local/go"
else
	echo "deps: no /usr/local/go; using Debian's $(/usr/lib/go-1.19/bin/go env GOVERSION)"
fi
