#!/usr/bin/env python3
"""Raw-socket checks of the daemon's HTTP server (src/http.c) for tests/integration/http.sh,
against a running tests/drivers/httpd-test. Prints PASS/FAIL lines; exits 1 on a failure.
usage: http_raw.py all|refuse HOST PORT READ_TIMEOUT_MS WRITE_TIMEOUT_MS MAX_CONNS
  all     everything but refuse, against a server with these settings
  refuse  a server with MAX_CONNS busy answering: one more client gets 503
"""
import socket
import sys
import threading
import time

mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
read_timeout = int(sys.argv[4]) / 1000
write_timeout = int(sys.argv[5]) / 1000
max_conns = int(sys.argv[6])
fails = 0
lock = threading.Lock()


def check(what, ok, detail=''):
    global fails
    with lock:
        print(('PASS' if ok else 'FAIL') + ' http: ' + what + ('' if ok else ' (%s)' % detail),
              flush=True)
        fails += not ok


def connect():
    s = socket.create_connection((host, port), timeout=15)
    return s


def read_all(s, limit=1 << 26):
    data = b''
    try:
        while len(data) < limit:
            b = s.recv(65536)
            if not b:
                break
            data += b
    except (ConnectionResetError, socket.timeout):
        pass
    return data


def parse(data):
    """(status, {lowercase header: value}, body) of a whole response, status 0 if none."""
    head, sep, body = data.partition(b'\r\n\r\n')
    if not sep:
        return 0, {}, data
    lines = head.decode('latin-1').split('\r\n')
    parts = lines[0].split(' ', 2)
    hdrs = {}
    for l in lines[1:]:
        k, _, v = l.partition(':')
        hdrs[k.strip().lower()] = v.strip()
    try:
        return int(parts[1]), hdrs, body
    except (IndexError, ValueError):
        return 0, hdrs, data


def request(raw):
    s = connect()
    try:
        s.sendall(raw)
        return parse(read_all(s))
    finally:
        s.close()


def get(path, extra=b''):
    return request(b'GET ' + path + b' HTTP/1.1\r\nHost: t\r\n' + extra + b'\r\n')


def expect(what, raw, status, body_has=None):
    st, hdrs, body = request(raw)
    ok = st == status and (body_has is None or body_has in body)
    ok = ok and hdrs.get('content-length') == str(len(body)) and body.endswith(b'\n')
    check('%s -> %d' % (what, status), ok, 'got %d %r' % (st, body[:200]))
    return st, hdrs, body


def test_parsing():
    H = b'Host: t\r\n'
    expect('GET /hello', b'GET /hello HTTP/1.1\r\n' + H + b'\r\n', 200, b'hello\n')
    expect('HTTP/1.0 without Host', b'GET /hello HTTP/1.0\r\n\r\n', 200, b'hello')
    expect('bare LF line ends', b'GET /hello HTTP/1.1\nHost: t\n\n', 200, b'hello')
    expect('leading empty line', b'\r\nGET /hello HTTP/1.1\r\n' + H + b'\r\n', 200)
    st, hdrs, body = request(b'HEAD /hello HTTP/1.1\r\n' + H + b'\r\n')
    check('HEAD: 200, Content-Length of the GET body, no body bytes',
          st == 200 and hdrs.get('content-length') == '6' and body == b'', (st, hdrs, body))
    expect('unknown path', b'GET /nope HTTP/1.1\r\n' + H + b'\r\n', 404)
    for m in (b'POST', b'PUT', b'DELETE', b'OPTIONS', b'BREW'):
        st, hdrs, _ = expect(m.decode(), m + b' /hello HTTP/1.1\r\n' + H + b'\r\n', 405)
        check('405 says Allow: GET, HEAD', hdrs.get('allow') == 'GET, HEAD', hdrs)
    expect('query decoded', b'GET /hello?a=1&b=x%20y+z&c=%C3%A9&d=%26%3D&&e HTTP/1.1\r\n' + H +
           b'\r\n', 200, 'hello\na=1\nb=x y z\nc=\u00e9\nd=&=\ne=\n'.encode())
    expect('percent-encoded path', b'GET /%68ello HTTP/1.1\r\n' + H + b'\r\n', 200, b'hello')
    expect('"//" and "/./" collapse', b'GET //./hello HTTP/1.1\r\n' + H + b'\r\n', 200)
    expect('prefix route', b'GET /api/v1/targets?pid=7 HTTP/1.1\r\n' + H + b'\r\n', 200,
           b'{"params":{"pid":"7"},"path":"/api/v1/targets"}')
    for what, target in (('".." segment', b'/api/../hello'), ('"%2e%2e" segment', b'/x/%2e%2e/hello'),
                         ('"%2F" in path', b'/api%2Fv1'), ('NUL in path', b'/hel%00lo'),
                         ('control byte in path', b'/hel%0alo'), ('bad escape in path', b'/%zz'),
                         ('bad escape in query', b'/hello?a=%4'), ('NUL in query', b'/hello?a=%00'),
                         ('absolute-form target', b'http://t/hello'), ('fragment', b'/hello#x'),
                         ('too many query parameters', b'/hello?' + b'&'.join([b'a'] * 33))):
        expect(what, b'GET ' + target + b' HTTP/1.1\r\n' + H + b'\r\n', 400)
    for what, raw in (('garbage request line', b'GARBAGE\r\n\r\n'),
                      ('two spaces in the request line', b'GET  /hello HTTP/1.1\r\n' + H + b'\r\n'),
                      ('no Host on HTTP/1.1', b'GET /hello HTTP/1.1\r\n\r\n'),
                      ('two Host headers', b'GET /hello HTTP/1.1\r\n' + H + H + b'\r\n'),
                      ('space before the colon', b'GET /hello HTTP/1.1\r\n' + H + b'X-A : 1\r\n\r\n'),
                      ('folded header', b'GET /hello HTTP/1.1\r\n' + H + b'X-A: 1\r\n  2\r\n\r\n'),
                      ('NUL in a header', b'GET /hello HTTP/1.1\r\n' + H + b'X-A: a\0b\r\n\r\n'),
                      ('bare CR in a header', b'GET /hello HTTP/1.1\r\n' + H + b'X-A: a\rb\r\n\r\n'),
                      ('malformed Content-Length', b'GET /hello HTTP/1.1\r\n' + H +
                       b'Content-Length: 1x\r\n\r\n'),
                      ('malformed version', b'GET /hello HTTPS/1.1\r\n' + H + b'\r\n'),
                      ('request cut by the client', None)):
        if raw is None:
            s = connect()
            s.sendall(b'GET /hello HTTP/1.1\r\n')
            s.shutdown(socket.SHUT_WR)
            st, _, body = parse(read_all(s))
            s.close()
            check(what + ' -> 400', st == 400, (st, body))
            continue
        expect(what, raw, 400)
    expect('HTTP/2.0', b'GET /hello HTTP/2.0\r\n' + H + b'\r\n', 505)
    expect('Content-Length: 5', b'GET /hello HTTP/1.1\r\n' + H + b'Content-Length: 5\r\n\r\nabcde',
           413)
    expect('Transfer-Encoding', b'GET /hello HTTP/1.1\r\n' + H +
           b'Transfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\r\n\r\n', 413)
    expect('Content-Length: 0 is fine', b'GET /hello HTTP/1.1\r\n' + H +
           b'Content-Length: 0\r\n\r\n', 200)
    expect('huge header', b'GET /hello HTTP/1.1\r\n' + H + b'X-Big: ' + b'a' * 9000 + b'\r\n\r\n',
           431)
    expect('huge request line', b'GET /hello?' + b'a' * 9000 + b' HTTP/1.1\r\n' + H + b'\r\n',
           431)
    expect('101 header lines', b'GET /hello HTTP/1.1\r\n' + H + b'X-A: 1\r\n' * 100 + b'\r\n', 431)
    expect('integer parameter', b'GET /num?n=4194304 HTTP/1.1\r\n' + H + b'\r\n', 200, b'4194304\n')
    expect('integer parameter, leading zeros', b'GET /num?n=007 HTTP/1.1\r\n' + H + b'\r\n', 200,
           b'7\n')
    for v in (b'', b'abc', b'12x', b'+5', b'%2012', b'-1', b'4194305', b'99999999999999999999999',
              b'-', b'0x10'):
        expect('integer parameter n=%s' % v.decode(), b'GET /num?n=' + v + b' HTTP/1.1\r\n' + H +
               b'\r\n', 400, b'n= must be')
    expect('integer parameter missing', b'GET /num?m=1 HTTP/1.1\r\n' + H + b'\r\n', 400,
           b'n= is required')
    st, hdrs, body = expect('failing handler', b'GET /fail HTTP/1.1\r\n' + H + b'\r\n', 500)
    check('a failing handler\'s partial output is not sent', b'partial' not in body, body)
    st, hdrs, body = get(b'/')
    check('HTML page: text/html, the handler\'s Cache-Control',
          st == 200 and hdrs.get('content-type', '').startswith('text/html') and
          hdrs.get('cache-control') == 'no-store' and b'<h1>leakhound</h1>' in body, (st, hdrs))


def pending(s):
    """True if the server has neither answered nor closed s yet."""
    s.setblocking(False)
    try:
        return s.recv(1, socket.MSG_PEEK) is None
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        s.setblocking(True)


def test_slow_clients():
    """An unfinished request and a byte-a-second sender get 408 once read_timeout is
    over; while they wait, other clients are answered."""
    t0 = time.monotonic()
    stuck = connect()
    stuck.sendall(b'GET /hello HTTP/1.1\r\nHost: t\r\n')
    trickle = connect()
    stop = threading.Event()

    def dribble():
        for b in b'GET /hello HTTP/1.1\r\nHost: t\r\nX-Slow: ' + b'a' * 1000:
            if stop.is_set():
                return
            try:
                trickle.send(bytes([b]))
            except OSError:
                return
            time.sleep(0.1)
    th = threading.Thread(target=dribble)
    th.start()
    time.sleep(0.2)
    served = [get(b'/hello')[0] for _ in range(5)]
    check('5 requests answered while two slow clients are still reading',
          served == [200] * 5 and pending(stuck) and pending(trickle), served)
    st, _, body = parse(read_all(stuck))
    t_stuck = time.monotonic() - t0
    st2, _, _ = parse(read_all(trickle))
    stop.set()
    th.join()
    check('unfinished request -> 408', st == 408 and b'in time' in body, (st, body))
    check('byte-a-0.1s sender -> 408 (the deadline is for the whole request)', st2 == 408, st2)
    # not before the deadline (the server counts from accept, after our connect, in
    # whole milliseconds)
    check('408 came after %.2f s, not before the read timeout (%.1f s)' %
          (t_stuck, read_timeout), t_stuck >= read_timeout - 0.002, t_stuck)
    stuck.close()
    trickle.close()


def test_parallel(n=200):
    results = []

    def one():
        try:
            st, _, body = get(b'/hello?x=1')
            ok = (st == 200 and body == b'hello\nx=1\n') or st == 503
            with lock:
                results.append(st if ok else -st)
        except OSError as e:
            with lock:
                results.append(str(e))
    ths = [threading.Thread(target=one) for _ in range(n)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    ok200 = results.count(200)
    check('%d parallel connections: %d answered 200, %d refused 503, nothing else' %
          (n, ok200, results.count(503)), len(results) == n and
          ok200 + results.count(503) == n and ok200 > 0, [r for r in results if r not in (200, 503)][:5])


def test_eviction():
    """max_conns idle connections, then one more: the oldest idle one goes (408), the new
    one is served."""
    idle = [connect() for _ in range(max_conns)]
    time.sleep(1.3)
    st, _, _ = get(b'/hello')
    first = parse(read_all(idle[0]))[0]
    check('at %d idle connections a new client is served (%d), the oldest idle one is '
          'dropped with 408 (%d)' % (max_conns, st, first), st == 200 and first == 408)
    check('the other idle connections are still open', all(pending(s) for s in idle[2:]))
    for s in idle:
        s.close()


def test_never_reads():
    """A client that never reads a 16 MiB response: others are served meanwhile, and the
    server drops it at the write deadline."""
    s = connect()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(b'GET /big HTTP/1.1\r\nHost: t\r\n\r\n')
    time.sleep(0.3)
    served = [get(b'/hello')[0] for _ in range(3)]
    check('requests answered while a client does not read its response', served == [200] * 3,
          served)
    time.sleep(write_timeout + 1)
    data = read_all(s)
    st, hdrs, body = parse(data)
    check('a response not taken within the write timeout is cut (%d of %s bytes)' %
          (len(body), hdrs.get('content-length')), st == 200 and len(body) < 16 << 20)
    s.close()


def test_refuse():
    """max_conns clients not reading 16 MiB answers (none of them evictable): a new
    client gets 503 and a Retry-After."""
    busy = []
    for _ in range(max_conns):
        s = connect()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b'GET /big HTTP/1.1\r\nHost: t\r\n\r\n')
        busy.append(s)
    time.sleep(0.5)
    s = connect()
    st, hdrs, body = parse(read_all(s))
    check('%d connections busy writing: one more gets 503 (%d %r)' % (max_conns, st, body),
          st == 503 and hdrs.get('retry-after') == '1' and body == b'too many connections\n')
    s.close()
    for s in busy:
        s.close()
    time.sleep(0.3)
    check('served again once they are gone', get(b'/hello')[0] == 200)


def main():
    if mode == 'refuse':
        test_refuse()
    else:
        test_parsing()
        test_parallel()
        threads = [threading.Thread(target=f) for f in (test_slow_clients, test_never_reads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        time.sleep(0.5)
        test_eviction()
    sys.exit(1 if fails else 0)


main()
