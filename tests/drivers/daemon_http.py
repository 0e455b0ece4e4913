#!/usr/bin/env python3
"""Checks of a running `leakhound daemon` for tests/integration/daemon.sh. Prints
PASS/FAIL lines; exits 1 on a failure.

usage: daemon_http.py slow HOST PORT PID
  huge headers get 431; a client that sends half a request and stops gets 408 (the
  daemon's 5 s read deadline), and while it is held, other requests are answered and
  the reports of target PID keep coming (leakhound_reports_total grows): the loop is
  not stalled by the connection.
usage: daemon_http.py gortext OURS_D1 OURS_D2 RUNTIME_D1 RUNTIME_D2
  the daemon's /debug/pprof/goroutine debug=1 and debug=2 text against what the
  target's own runtime/pprof wrote: the same shape line by line, the largest group
  with the same count and stack, and every parked goroutine of both with the same
  state, stack functions and creator.
"""
import re
import socket
import sys
import time

fails = 0


def check(what, ok, detail=''):
    global fails
    print(('PASS' if ok else 'FAIL') + ' daemon: ' + what + ('' if ok else ' (%s)' % detail),
          flush=True)
    fails += not ok


def raw(host, port, data, timeout=15):
    s = socket.create_connection((host, port), timeout=timeout)
    s.sendall(data)
    out = b''
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    return out


def status(resp):
    m = re.match(rb'HTTP/1\.[01] (\d{3}) ', resp)
    return int(m.group(1)) if m else None


def reports(host, port, pid):
    body = raw(host, port, b'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n')
    m = re.search(rb'^leakhound_reports_total\{pid="%d",[^}]*\} (\d+)' % pid, body, re.M)
    return int(m.group(1)) if m else None


def slow(host, port, pid):
    r = raw(host, port, b'GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ' + b'a' * 9000 +
            b'\r\n\r\n')
    check('a 9000-byte header: 431', status(r) == 431, r[:80])
    lines = b''.join(b'X-H%d: v\r\n' % i for i in range(150))
    r = raw(host, port, b'GET / HTTP/1.1\r\nHost: x\r\n' + lines + b'\r\n')
    check('150 header lines: 431', status(r) == 431, r[:80])

    s = socket.create_connection((host, port), timeout=30)
    s.sendall(b'GET /api/v1/targets HTTP/1.1\r\nHost: x\r\nX-Slow: ')
    s.setblocking(False)
    t0 = time.monotonic()
    first = last = reports(host, port, pid)
    asked = answered = 0
    out = b''
    # other clients while the slow one holds its connection, until its answer comes
    while time.monotonic() - t0 < 30:
        try:
            b = s.recv(4096)
            if not b:
                break
            out += b
            continue
        except BlockingIOError:
            pass
        except ConnectionResetError:
            break
        r = raw(host, port, b'GET /api/v1/targets HTTP/1.1\r\nHost: x\r\n\r\n')
        asked += 1
        answered += status(r) == 200
        last = reports(host, port, pid) or last
        time.sleep(0.2)
    waited = time.monotonic() - t0
    s.close()
    check('all %d requests made while a slow client held a connection were answered' % asked,
          asked >= 1 and answered == asked, '%d of %d' % (answered, asked))
    check('reports of pid %d kept coming meanwhile (leakhound_reports_total %s -> %s)' %
          (pid, first, last), first is not None and last is not None and last > first)
    check('the slow client got 408 after %.1f s' % waited, status(out) == 408, out[:80])


def d1_groups(text):
    groups = []
    for block in text.split('\n\n'):
        m = re.search(r'^(\d+) @', block, re.M)
        if not m:
            continue
        fns = [re.split(r'\t+', l)[2].rsplit('+', 1)[0] for l in block.splitlines()
               if l.startswith('#\t0x') and len(re.split(r'\t+', l)) >= 4]
        groups.append((int(m.group(1)), fns))
    return groups


def d2_goroutines(text):
    out = {}
    for block in text.split('\n\n'):
        lines = block.strip().splitlines()
        m = lines and re.match(r'goroutine (\d+) \[([^\]]*)\]:', lines[0])
        if not m:
            continue
        state = re.sub(r', \d+ minutes?$', '', m.group(2))
        state = re.sub(r', locked to thread$', '', state)
        fns, creator = [], None
        for l in lines[1:]:
            if l.startswith('\t') or l.startswith('...'):
                continue
            cm = re.match(r'created by (\S+)', l)
            if cm:
                creator = cm.group(1)
                continue
            fns.append(re.sub(r'\(.*\)$', '', l))
        out[int(m.group(1))] = (state, fns, creator)
    return out


def visible(fns):
    return [f for f in fns if not (f.startswith('runtime.') and not re.match(r'runtime\.[A-Z]', f))]


# (the runtime pads the columns of the frame lines with more tabs, text/tabwriter)
D1_LINE = re.compile(r'^(goroutine profile: total \d+|\d+ @( 0x[0-9a-f]+)+|# .*|'
                     r'#\t+0x[0-9a-f]+\t+\S.*\+0x[0-9a-f]+\t+\S+:\d+|)$')
D2_LINE = re.compile(r'^(goroutine \d+ \[[^\]]+\]:|\S.*\(.*\)|\t\S+:\d+( \+0x[0-9a-f]+)?|'
                     r'created by \S+( in goroutine \d+)?|\.\.\.additional frames elided\.\.\.|)$')


def gortext(ours1, ours2, rt1, rt2):
    o1, o2, t1, t2 = (open(p).read() for p in (ours1, ours2, rt1, rt2))
    for name, text, rx in (('debug=1', o1, D1_LINE), ('debug=2', o2, D2_LINE)):
        for who, t in (('daemon', text), ('runtime', {'debug=1': t1, 'debug=2': t2}[name])):
            bad = [l for l in t.splitlines() if not rx.match(l)]
            check('%s text of the %s: every line has the runtime\'s shape' % (name, who),
                  t.strip() and not bad, bad[:3])
    go, gt = d1_groups(o1), d1_groups(t1)
    top_o = max(go) if go else None
    top_t = max(gt) if gt else None
    check('debug=1: the largest group (%s x%s) is the runtime\'s' %
          (top_o and top_o[1][:1], top_o and top_o[0]), top_o is not None and top_o == top_t,
          'runtime %s' % (top_t,))
    # the pcs of that group as the runtime records them (wrappers elided)
    def at_line(text, count, fns):
        for block in text.split('\n\n'):
            m = re.search(r'^(\d+) @((?: 0x[0-9a-f]+)+)$', block, re.M)
            if m and (int(m.group(1)), [re.split(r'\t+', l)[2].rsplit('+', 1)[0]
                                        for l in block.splitlines()
                                        if l.startswith('#\t0x')]) == (count, fns):
                return m.group(2)
        return None
    ao = top_o and at_line(o1, *top_o)
    at = top_t and at_line(t1, *top_t)
    check('debug=1: its "@" pcs are the runtime\'s (%s)' % ao, ao is not None and ao == at,
          'runtime %s' % at)
    do, dt = d2_goroutines(o2), d2_goroutines(t2)
    n, errs = 0, []
    for goid, (state, fns, creator) in sorted(dt.items()):
        if state in ('running', 'runnable', 'syscall') or goid not in do:
            continue
        n += 1
        ostate, ofns, ocreator = do[goid]
        if (ostate, visible(ofns), ocreator) != (state, visible(fns), creator):
            errs.append('goroutine %d: %s, runtime %s' %
                        (goid, (ostate, visible(ofns), ocreator), (state, visible(fns), creator)))
    check('debug=2: %d parked goroutines with the runtime\'s state, stack and creator' % n,
          n >= 10 and not errs, errs[:3])


if __name__ == '__main__':
    if sys.argv[1] == 'slow':
        slow(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif sys.argv[1] == 'gortext':
        gortext(*sys.argv[2:6])
    sys.exit(1 if fails else 0)
