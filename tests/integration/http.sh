#!/usr/bin/env bash
# The daemon's HTTP server (src/http.c) and Prometheus text writer (src/promtext.c),
# through tests/drivers/httpd-test (the server in a loop shaped like the daemon's, with
# demo handlers), over real sockets, judged by clients nobody here wrote:
#  - curl: GET, HEAD, 404, bearer token right/wrong/missing (401 + WWW-Authenticate), the
#    token as a Basic password (go tool pprof with user:TOKEN@ in the URL), IPv6 loopback;
#  - http_raw.py (raw sockets): request parsing and every error status, percent-decoding,
#    path normalisation, 431, slow clients (408 while others are served), 200 parallel
#    connections, a client that never reads, eviction at max_conns, 503 when full;
#  - promtool check metrics, and a real Prometheus server scraping /metrics and giving
#    back the escaped label values and the special values through its query API;
#  - go tool pprof -top on /debug/pprof/heap serving a heap profile a Go program wrote
#    with runtime/pprof: the same output as from the file itself.
# Bad --listen values: one error line, exit 1. With SAN=1 builds: no sanitizer report.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh

DRIVER=$OUTPUT/tests/drivers/httpd-test
GO=${GO:-/usr/local/go/bin/go}
[ -x "$GO" ] || GO=/usr/lib/go-1.19/bin/go
READ_MS=3000
WRITE_MS=2000

if [ ! -x "$DRIVER" ]; then
	fail "http: $DRIVER not built (make test builds it)"
	finish
fi
for c in python3 curl; do
	if ! command -v $c > /dev/null; then
		skip "http: needs $c (scripts/deps.sh)"
		finish
	fi
done
setup_tmp

# Starts the driver with the given options; sets srv_pid and srv_port (empty if it did
# not come up). Its stderr goes to $tmp/NAME.log.
start() { # NAME OPTIONS...
	local name=$1
	shift
	srv_port=
	"$DRIVER" "$@" > "$tmp/$name.out" 2> "$tmp/$name.log" &
	srv_pid=$!
	pids+=("$srv_pid")
	for _ in $(seq 100); do
		srv_port=$(awk '$1 == "listening" { print $3 }' "$tmp/$name.out")
		[ -n "$srv_port" ] && return 0
		kill -0 "$srv_pid" 2> /dev/null || break
		sleep 0.05
	done
	fail "http: $name: the driver did not start: $(head -3 "$tmp/$name.log")"
	return 1
}

# SIGTERM, a clean exit, and no sanitizer report in its log.
stop() { # NAME PID
	kill -TERM "$2"
	wait "$2"
	local rc=$?
	check "http: $1: exits 0 on SIGTERM (status $rc)" [ "$rc" = 0 ]
	if grep -q 'Sanitizer' "$tmp/$1.log"; then
		fail "http: $1: sanitizer report: $(grep -m3 -A6 'ERROR' "$tmp/$1.log")"
	fi
}

status() { # URL [curl options...]
	curl -s -o /dev/null -w '%{http_code}' "$@"
}

# A heap profile written by the Go runtime itself (runtime/pprof, MemProfileRate 1),
# leaking from main.leakHTTPTest.
heap_profile() {
	mkdir -p "$tmp/heapgen"
	cat > "$tmp/heapgen/main.go" << 'GO'
package main

import (
	"os"
	"runtime"
	"runtime/pprof"
)

var keep [][]byte

//go:noinline
func leakHTTPTest(n int) {
	for i := 0; i < n; i++ {
		keep = append(keep, make([]byte, 4096))
	}
}

func main() {
	runtime.MemProfileRate = 1
	leakHTTPTest(1000)
	runtime.GC()
	f, err := os.Create(os.Args[1])
	if err != nil {
		panic(err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		panic(err)
	}
	f.Close()
}
GO
	(cd "$tmp/heapgen" && GOFLAGS= GO111MODULE=off "$GO" run main.go "$tmp/heap.pb.gz") \
		> "$tmp/heapgen.log" 2>&1
}

have_go=
if [ -x "$GO" ] && heap_profile; then
	have_go=1
else
	skip "http: go tool pprof checks: no Go toolchain or the profile was not written: $(head -3 "$tmp/heapgen.log" 2> /dev/null)"
fi

# ---- the main instance ----
start main -v --read-timeout $READ_MS --write-timeout $WRITE_MS --max-conns 64 \
	--profile "$tmp/heap.pb.gz" || finish
main_pid=$srv_pid
url=http://127.0.0.1:$srv_port
check "http: curl GET /hello: 200 hello" [ "$(curl -sf "$url/hello")" = hello ]
check "http: curl HEAD /hello: 200, Content-Length: 6" \
	grep -qi '^content-length: 6' <(curl -sfI "$url/hello")
check "http: curl GET /nope: 404" [ "$(status "$url/nope")" = 404 ]

python3 tests/integration/http_raw.py all 127.0.0.1 "$srv_port" $READ_MS $WRITE_MS 64 ||
	failures=$((failures + 1))

# /metrics: promtool, then a Prometheus server reading the values back
curl -sf -D "$tmp/metrics.hdr" "$url/metrics" > "$tmp/metrics.txt"
check "http: /metrics Content-Type text/plain; version=0.0.4" \
	grep -qi '^content-type: text/plain; version=0.0.4' "$tmp/metrics.hdr"
if command -v promtool > /dev/null; then
	if promtool check metrics < "$tmp/metrics.txt" > "$tmp/promtool.out" 2>&1; then
		pass "http: promtool check metrics accepts /metrics"
	else
		fail "http: promtool check metrics: $(head -5 "$tmp/promtool.out")"
	fi
	printf '# TYPE x gauge\nx{a="\\q"} 1\n' > "$tmp/bad.txt"
	check "http: promtool check metrics refuses a bad escape (the check can fail)" \
		bash -c "! promtool check metrics < '$tmp/bad.txt' > /dev/null 2>&1"
else
	skip "http: promtool not installed (scripts/deps.sh)"
fi

if command -v prometheus > /dev/null; then
	cat > "$tmp/prom.yml" << YML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: httpd
    static_configs:
      - targets: ['127.0.0.1:$srv_port']
YML
	# a free port for it (the kernel's pick, released just before)
	prom_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	prometheus --config.file="$tmp/prom.yml" --storage.tsdb.path="$tmp/tsdb" \
		--web.listen-address="127.0.0.1:$prom_port" > "$tmp/prom.log" 2>&1 &
	prom_pid=$!
	pids+=("$prom_pid")
	got=
	for _ in $(seq 100); do
		got=$(curl -sf "http://127.0.0.1:$prom_port/api/v1/query" \
			--data-urlencode 'query={__name__=~"lh_demo_heap_inuse_bytes|lh_demo_values"}' \
			2> /dev/null)
		python3 -c 'import json,sys; sys.exit(len(json.load(sys.stdin)["data"]["result"]) < 7)' \
			<<< "${got:-{\}}" 2> /dev/null && break
		sleep 0.2
	done
	python3 - "$got" << 'PY' || failures=$((failures + 1))
import json, math, sys
fails = 0
def check(what, ok, detail=''):
    global fails
    print(('PASS' if ok else 'FAIL') + ' http: prometheus scrape: ' + what + ('' if ok else ' (%s)' % detail))
    fails += not ok
try:
    res = json.loads(sys.argv[1])['data']['result']
except Exception as e:
    check('query answered', False, '%s: %r' % (e, sys.argv[1][:300]))
    sys.exit(1)
by = {}
for r in res:
    m = r['metric']
    by[(m['__name__'], m.get('v') or m.get('pid') or m.get('exe'))] = (m, r['value'][1])
m, v = by.get(('lh_demo_heap_inuse_bytes', 'a "quoted" back\\slash\nnewline'), ({}, None))
check('label with quote, backslash, newline read back', v == '0.1', sorted(by))
check('invalid UTF-8 read back as U+FFFD', m.get('bad_utf8') == 'caf\u00e9 \ufffd\ufffd end', m)
check('empty label value is no label', 'container' not in by.get(('lh_demo_heap_inuse_bytes', '42'), ({'container': 1}, 0))[0])
check('123456789', by.get(('lh_demo_heap_inuse_bytes', '42'), ({}, None))[1] == '123456789')
want = {'inf': '+Inf', '-inf': '-Inf', 'nan': 'NaN', 'big': '1e+300', 'tiny': '-5e-324'}
got = {k: by.get(('lh_demo_values', k), ({}, None))[1] for k in want}
check('+Inf, -Inf, NaN, 1e+300, -5e-324', got == want, got)
sys.exit(fails > 0)
PY
	kill "$prom_pid" 2> /dev/null
	wait "$prom_pid" 2> /dev/null
else
	skip "http: prometheus not installed (scripts/deps.sh)"
fi

# /debug/pprof/heap: the bytes of the file, net/http/pprof's headers, go tool pprof
if [ -n "$have_go" ]; then
	curl -sf -D "$tmp/heap.hdr" "$url/debug/pprof/heap" > "$tmp/heap.got"
	check "http: /debug/pprof/heap serves the profile's bytes" cmp -s "$tmp/heap.got" "$tmp/heap.pb.gz"
	check "http: /debug/pprof/heap: application/octet-stream, attachment; filename=\"profile\"" \
		bash -c "grep -qi '^content-type: application/octet-stream' '$tmp/heap.hdr' &&
			grep -qi '^content-disposition: attachment; filename=\"profile\"' '$tmp/heap.hdr'"
	PPROF_TMPDIR=$tmp "$GO" tool pprof -top -sample_index=inuse_space "$url/debug/pprof/heap" \
		> "$tmp/top.url" 2> "$tmp/top.url.err"
	"$GO" tool pprof -top -sample_index=inuse_space "$tmp/heap.pb.gz" > "$tmp/top.file" 2>&1
	if grep -q 'main.leakHTTPTest' "$tmp/top.url" &&
		diff <(grep -v '^File:\|^Type:\|^Time:' "$tmp/top.url") \
			<(grep -v '^File:\|^Type:\|^Time:' "$tmp/top.file") > "$tmp/top.diff"; then
		pass "http: go tool pprof -top through HTTP shows main.leakHTTPTest, as from the file"
	else
		fail "http: go tool pprof -top through HTTP: $(head -5 "$tmp/top.url.err" "$tmp/top.diff")"
	fi
fi
stop main "$main_pid"

# ---- bearer token ----
if start token --token 's3cret-T0ken' --profile "$tmp/heap.pb.gz"; then
	url=http://127.0.0.1:$srv_port
	check "http: token missing: 401" [ "$(status "$url/hello")" = 401 ]
	check "http: token missing: WWW-Authenticate: Bearer realm" \
		grep -qi '^www-authenticate: bearer realm="leakhound"' <(curl -s -D - -o /dev/null "$url/hello")
	check "http: token wrong: 401, error=\"invalid_token\"" \
		grep -qi '^www-authenticate: bearer realm="leakhound", error="invalid_token"' \
		<(curl -s -D - -o /dev/null -H 'Authorization: Bearer s3cret-T0kem' "$url/hello")
	check "http: a prefix of the token: 401" \
		[ "$(status "$url/hello" -H 'Authorization: Bearer s3cret-T0ke')" = 401 ]
	check "http: the token and more: 401" \
		[ "$(status "$url/hello" -H 'Authorization: Bearer s3cret-T0ken0')" = 401 ]
	check "http: the bare token as Basic credentials (not base64 of user:token): 401" \
		[ "$(status "$url/hello" -H 'Authorization: Basic s3cret-T0ken')" = 401 ]
	check "http: unknown path without token: 401, not 404" [ "$(status "$url/nope")" = 401 ]
	check "http: token right: 200" \
		[ "$(status "$url/hello" -H 'Authorization: Bearer s3cret-T0ken')" = 200 ]
	check "http: token right, scheme in lower case (RFC 9110: case-insensitive): 200" \
		[ "$(status "$url/hello" -H 'Authorization: bearer s3cret-T0ken')" = 200 ]
	check "http: curl --oauth2-bearer: 200" \
		[ "$(status "$url/hello" --oauth2-bearer 's3cret-T0ken')" = 200 ]
	check "http: the token as Basic password (curl -u any:TOKEN): 200" \
		[ "$(status "$url/hello" -u 'any:s3cret-T0ken')" = 200 ]
	check "http: a wrong Basic password: 401, Basic offered too" \
		grep -qi '^www-authenticate: basic realm="leakhound"' \
		<(curl -s -D - -o /dev/null -u 'any:s3cret-T0ke' "$url/hello")
	if [ -n "$have_go" ]; then
		PPROF_TMPDIR=$tmp "$GO" tool pprof -top "http://x:s3cret-T0ken@127.0.0.1:$srv_port/debug/pprof/heap" \
			> "$tmp/top.tok" 2>&1
		check "http: go tool pprof with the token in the URL (user:TOKEN@) reads the profile" \
			grep -q 'main.leakHTTPTest' "$tmp/top.tok"
		PPROF_TMPDIR=$tmp "$GO" tool pprof -top "$url/debug/pprof/heap" > "$tmp/top.notok" 2>&1
		check "http: go tool pprof without the token is refused" \
			bash -c "! grep -q 'main.leakHTTPTest' '$tmp/top.notok'"
	fi
	stop token "$srv_pid"
fi

# ---- IPv6 loopback ----
if grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6 2> /dev/null; then
	if start ipv6 --listen '[::1]:0'; then
		check "http: [::1]: says [::1]:PORT" grep -q "^listening \[::1\]:$srv_port $srv_port" "$tmp/ipv6.out"
		check "http: [::1]: curl GET /hello: 200" \
			[ "$(curl -sfg "http://[::1]:$srv_port/hello")" = hello ]
		check "http: [::1]: nothing on 127.0.0.1 at that port" \
			[ "$(status "http://127.0.0.1:$srv_port/hello")" = 000 ]
		stop ipv6 "$srv_pid"
	fi
else
	skip "http: no IPv6 loopback"
fi

# ---- full: every connection busy writing, one more gets 503 ----
if start full --max-conns 4 --write-timeout 20000; then
	python3 tests/integration/http_raw.py refuse 127.0.0.1 "$srv_port" 5000 20000 4 ||
		failures=$((failures + 1))
	stop full "$srv_pid"
fi

# ---- bad listen addresses ----
for a in localhost:80 ::1:80 '[::1]' '[::1]80' 127.0.0.1:65536 127.0.0.1: :80 1.2.3:80 \
	'127.0.0.1:8x' '[127.0.0.1]:80'; do
	"$DRIVER" --listen "$a" > /dev/null 2> "$tmp/bad.log"
	rc=$?
	check "http: --listen '$a': exit 1, one error line" \
		[ "$rc" = 1 -a "$(grep -c . "$tmp/bad.log")" = 1 ]
done
if start busy; then
	"$DRIVER" --listen "127.0.0.1:$srv_port" > /dev/null 2> "$tmp/bad.log"
	rc=$?
	check "http: a port in use: exit 1, 'Address already in use'" \
		[ "$rc" = 1 ] && grep -q 'Address already in use' "$tmp/bad.log"
	stop busy "$srv_pid"
fi
finish
