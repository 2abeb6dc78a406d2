"""Fault cases for the Pets download (`get_pets()` → `download_pets`): a server that drops, stalls, loops or lies; the
process killed or interrupted while it downloads or extracts; two downloads into one FASTAI_HOME at once; a FASTAI_HOME
that fills up (see `tests/faults.py`).

Each case serves a small Pets-layout archive (30 noisy photos, about 2 MB, so that its first MB is not all of it) from
a server on 127.0.0.1 that misbehaves as the case says, points `PETBOOK_PETS_URL` and `PETBOOK_PETS_CHECKS` at it, and
calls `get_pets()` in a forked child with FASTAI_HOME inside the case folder. A case is clean when every run either
gives the complete images folder or refuses with one line from one of petbook's errors, within its time bound; when
the next run (from a good server) works with no manual cleanup; and when no temporary file is left after it.
"""
import os, sys, re, time, signal, hashlib, socket, struct, resource, tarfile, threading, contextlib
from pathlib import Path
from collections import Counter
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler

from faults import case, start_fork, finish, first_problem, temps, fired, kill_at_write, kill_at_rename, small_fs
from hostile import ENV, _last_line
from petbook.testing import pets_tgz, write_image, archive_checks

BOUND = 20       # seconds one run may take before it counts as hung
STALL = 15       # seconds a stalling server holds a connection, at most
TIMEOUT_S = 2    # DOWNLOAD_TIMEOUT in the children of the stall cases
N_PHOTOS = 30
NAME = 'oxford-iiit-pet.tgz'

# ---------------------------------------------------------------- a server that gets it wrong on purpose
class _Faulty(BaseHTTPRequestHandler):
    "Answers every GET as `server.mode` says: the archive whole, or one way of getting it wrong (bounded in time)."
    def log_message(self, *a): pass

    def _head(self, code, length, kind='application/x-gzip'):
        self.send_response(code); self.send_header('Content-Type', kind)
        if length is not None: self.send_header('Content-Length', str(length))
        self.end_headers()

    def _send(self, b, pace=0.):
        for i in range(0, len(b), 1 << 16):
            self.wfile.write(b[i:i + (1 << 16)]); self.wfile.flush()
            if pace and self.server.stop.wait(pace): return

    def do_GET(self):
        srv, body = self.server, self.server.body
        mode = srv.mode; srv.hits[mode] += 1
        page = b'<html><body><h1>Service unavailable</h1><p>Please try again later.</p></body></html>\n'
        if mode == 'good': self._head(200, len(body)); self._send(body, srv.pace)
        elif mode == 'corrupt': self._head(200, len(srv.bad)); self._send(srv.bad)
        elif mode == 'drop':                   # half the body, then a reset connection
            self._head(200, len(body)); self._send(body[:len(body)//2])
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            self.connection.close()
        elif mode == 'short': self._head(200, len(body)); self._send(body[:len(body)*3//5])   # then a clean close
        elif mode == 'stall': self._head(200, len(body)); self._send(body[:256 << 10]); srv.stop.wait(STALL)
        elif mode == 'silent': srv.stop.wait(STALL)                                          # the request read, no answer
        elif mode == 'trickle':
            self._head(200, len(body))
            for i in range(int(STALL/0.2)):
                self.wfile.write(body[i:i+1]); self.wfile.flush()
                if srv.stop.wait(0.2): break
        elif mode in ('404', '500'): self._head(int(mode), len(page), 'text/html'); self._send(page)
        elif mode == 'loop':
            self.send_response(302); self.send_header('Location', self.path); self.send_header('Content-Length', '0')
            self.end_headers()
        elif mode == 'html': self._head(200, len(page), 'text/html'); self._send(page)

class _Server(ThreadingHTTPServer):
    daemon_threads = True
    def handle_error(self, request, client_address): pass    # a client that gave up mid-body: expected here

@contextlib.contextmanager
def faulty(body:bytes, mode='good', bad:bytes=None, pace=0.):
    "Serve `body` as /oxford-iiit-pet.tgz on 127.0.0.1 as `mode` says (`.mode` can change between runs); `.url`, `.hits`."
    srv = _Server(('127.0.0.1', 0), _Faulty)
    srv.body, srv.mode, srv.bad, srv.pace, srv.hits, srv.stop = body, mode, bad, pace, Counter(), threading.Event()
    srv.url = f'http://127.0.0.1:{srv.server_address[1]}/{NAME}'
    t = threading.Thread(target=srv.serve_forever, name='petbook-fault-server', daemon=True); t.start()
    try: yield srv
    finally: srv.stop.set(); srv.shutdown(); srv.server_close(); t.join(5)

def _archive(d) -> Path:
    "The archive the cases serve: Pets layout, `N_PHOTOS` noisy 400×300 photos (about 2 MB)."
    ph = Path(d)/'photos'
    for i in range(1, N_PHOTOS//2 + 1):
        write_image(ph/f'Bengal_{i}.jpg', (400, 300), i); write_image(ph/f'beagle_{i}.jpg', (400, 300), 100 + i)
    return pets_tgz(Path(d)/'served', ph)

def _corrupt_halfway(good:bytes) -> bytes:
    "`good` with 16 bytes flipped two thirds in: the same size and the same first MB (fastai's checks pass), a wrong CRC."
    b = bytearray(good); at = len(b)*2//3
    assert at > 2**20 + 16
    b[at:at+16] = bytes(x ^ 0xff for x in b[at:at+16])
    return bytes(b)

# ---------------------------------------------------------------- the child, and judging what it did
def get_pets_target(home, url, checks, setup=None):
    "A child's target: `get_pets()` into FASTAI_HOME=`home` from `url`; prints the photo count, or the error on one line."
    def target():
        os.environ.update(ENV); os.environ.pop('PETBOOK_DATA', None)
        os.environ.update(FASTAI_HOME=str(home), PETBOOK_PETS_URL=url, PETBOOK_PETS_CHECKS=checks)
        from fastai.data.external import fastai_cfg
        fastai_cfg.cache_clear()
        import petbook.data as pd
        if setup: setup(pd)
        try: got = pd.get_pets()
        except KeyboardInterrupt: print('interrupted', file=sys.stderr); return 130
        except OSError as e:
            msg = str(e).strip(); lines = '' if '\n' not in msg else ' (on several lines)'
            print(f'error{lines}: {type(e).__module__}.{type(e).__name__}: ' + ' | '.join(msg.splitlines()), file=sys.stderr)
            return 1
        print(f'got {len(photos(got))} photos in {got} (digest {digest(got)})'); return 0
    return target

def photos(folder) -> list: return sorted(p for p in Path(folder).iterdir() if p.suffix == '.jpg')

def digest(folder) -> str:
    "A digest of the names and bytes of the photos in `folder`."
    h = hashlib.sha256()
    for p in photos(folder): h.update(p.name.encode() + b'\0' + p.read_bytes())
    return h.hexdigest()[:16]

def timeout_of(seconds):
    "A child's setup: lower `DOWNLOAD_TIMEOUT` (petbook.files, where the download is made) to `seconds`."
    return lambda pd: setattr(sys.modules['petbook.files'], 'DOWNLOAD_TIMEOUT', seconds)

def go(d, home, srv, checks=None, setup=None, name='', bound=BOUND, wait=True):
    "Run `get_pets()` in a child against `srv` (started; `wait`: and finished)."
    c = start_fork(get_pets_target(home, srv.url, checks or srv.checks, setup), d, name)
    return finish(c, bound) if wait else c

def leftovers(home) -> list:
    "Temporary files under FASTAI_HOME (in it, its archive and its data folder): petbook's, and any hidden name but the lock file."
    return [f'{p.name}/{t}' for p in (home, home/'archive', home/'data') if p.is_dir()
            for t in sorted(set(temps(p)) | {q.name for q in p.iterdir() if q.name.startswith('.') and not q.name.endswith('.lock')})]

def started(srv, n=1, timeout=BOUND) -> bool:
    "Wait until `srv` has had `n` requests for the archive (a download under way)."
    t = time.time()
    while srv.hits['good'] < n and time.time() - t < timeout: time.sleep(0.02)
    return srv.hits['good'] >= n

def got_all(r, d) -> bool:
    "Did the run give the complete images folder: every photo of the archive, byte for byte (case folder `d`)?"
    want = rf'got {N_PHOTOS} photos in \S+oxford-iiit-pet/images \(digest {digest(Path(d)/"photos")}\)$'
    return r.rc == 0 and re.search(want, r.out, re.M) is not None

def refused(r, *words, expect_rc=None):
    "(outcome, detail): clean for one line from one of petbook's errors naming each of `words`; else what went wrong."
    if p := first_problem(r, expect_rc): return p
    if r.rc == 0: return 'wrong', 'no error on a fault: ' + _last_line(r.out)
    m = re.search(r'^error(.*?): (\S+?): (.*)$', r.err, re.M)
    if not m: return 'crashed', f'exit {r.rc} with no error line: ' + _last_line(r.err)
    if m[1]: return 'wrong', 'a message on several lines: ' + m[3][:200]
    if not m[2].startswith('petbook.'): return 'wrong', f'a raw {m[2]} leaked: {m[3][:200]}'
    if missing := [w for w in words if str(w) not in m[3]]: return 'wrong', f'the message does not name {missing}: {m[3][:200]}'
    return 'clean', f'{m[2].split(".")[-1]}: {m[3]}'

def then_works(d, home, srv, hits=None) -> tuple:
    "(outcome, detail) of the next run from a good server: every photo, no temporary file left; `hits`: downloads expected."
    srv.mode, before = 'good', srv.hits['good']
    r = go(d, home, srv, name='-next')
    if p := first_problem(r): return p[0], 'the next run: ' + p[1]
    if not got_all(r, d): return 'wrong', 'the next run did not give every photo: ' + _last_line(r.text)
    if left := leftovers(home): return 'wrong', f'left after the next run: {left}'
    if hits is not None and srv.hits['good'] - before != hits:
        return 'wrong', f'the next run downloaded {srv.hits["good"] - before} times, {hits} expected'
    return 'clean', 'the next run got every photo, nothing left behind'

def both(first, then) -> tuple:
    "The first of two (outcome, detail) that is not clean, else both details."
    if first[0] != 'clean': return first
    if then[0] != 'clean': return then
    return 'clean', f'{first[1]}; {then[1]}'

def _setup(d, mode='good', **kw):
    "The archive, a server for it in `mode` (its `.checks` the archive's) and a FASTAI_HOME in `d`."
    arc = _archive(d)
    srv_cm = faulty(arc.read_bytes(), mode, **kw)
    return arc, srv_cm, d/'fastai'

def nothing_kept(home) -> list:
    "What a refused download must not leave: the archive under its name, the extracted folder, temporary files."
    bad = [f'archive/{NAME}'] if (home/'archive'/NAME).exists() else []
    bad += ['data/oxford-iiit-pet'] if (home/'data'/'oxford-iiit-pet').exists() else []
    return bad + leftovers(home)

def refused_then_works(d, home, srv, *words, mode_hits=1, setup=None):
    "A run against the faulty `srv` refuses in one line naming `words` and keeps nothing; the next run works."
    mode = srv.mode
    r = go(d, home, srv, setup=setup)
    if srv.hits[mode] < mode_hits: return 'wrong', f'the fault did not fire ({srv.hits[mode]} requests in mode {mode})'
    first = refused(r, *words)
    if first[0] == 'clean' and (kept := nothing_kept(home)): first = 'wrong', f'refused, but left {kept}'
    return both(first, then_works(d, home, srv, hits=1))

# ---------------------------------------------------------------- network
@case('network', 'download: connection reset halfway through the body')
def _(d):
    arc, cm, home = _setup(d, 'drop')
    with cm as srv:
        srv.checks = archive_checks(arc)
        return refused_then_works(d, home, srv, srv.url, 'run again')

@case('network', 'download: Content-Length longer than the body sent')
def _(d):
    arc, cm, home = _setup(d, 'short')
    with cm as srv:
        srv.checks = archive_checks(arc)
        return refused_then_works(d, home, srv, srv.url, 'closed after', 'run again')

@case('network', f'download: the server stalls mid-body (DOWNLOAD_TIMEOUT lowered to {TIMEOUT_S} s)')
def _(d):
    arc, cm, home = _setup(d, 'stall')
    with cm as srv:
        srv.checks = archive_checks(arc)
        t = time.time()
        res = refused_then_works(d, home, srv, srv.url, f'nothing arrived for {TIMEOUT_S} s', setup=timeout_of(TIMEOUT_S))
        if res[0] == 'clean' and (secs := time.time() - t) > 3*TIMEOUT_S + 8: return 'hung', f'{secs:.0f} s for a {TIMEOUT_S} s timeout'
        return res

@case('network', f'download: a server that never answers, then one that trickles a byte every 0.2 s ({TIMEOUT_S} s timeout)')
def _(d):
    arc, cm, home = _setup(d, 'silent')
    with cm as srv:
        srv.checks = archive_checks(arc)
        out = []
        for mode, words in (('silent', [f'no answer within {TIMEOUT_S} s']), ('trickle', ['stalled', 'less than 1 KB/s'])):
            srv.mode, t = mode, time.time()
            r = go(d, home, srv, setup=timeout_of(TIMEOUT_S))
            if not srv.hits[mode]: return 'wrong', f'the fault did not fire (no request in mode {mode})'
            if (res := refused(r, srv.url, *words))[0] != 'clean': return res
            if (secs := time.time() - t) > 2*TIMEOUT_S + 4: return 'hung', f'{mode}: gave up after {secs:.0f} s, not about {TIMEOUT_S} s'
            if kept := nothing_kept(home): return 'wrong', f'{mode}: refused, but left {kept}'
            out.append(f'{mode}: {secs:.1f} s')
        return both(('clean', ', '.join(out)), then_works(d, home, srv, hits=1))

@case('network', 'download: HTTP 404, then HTTP 500')
def _(d):
    arc, cm, home = _setup(d, '404')
    with cm as srv:
        srv.checks = archive_checks(arc)
        first = refused_then_works(d, home, srv, srv.url, 'HTTP 404')
        if first[0] != 'clean': return first
        srv.mode = '500'
        return both(first, refused_then_works(d, d/'fastai-2', srv, srv.url, 'HTTP 500'))

@case('network', 'download: a redirect loop')
def _(d):
    arc, cm, home = _setup(d, 'loop')
    with cm as srv:
        srv.checks = archive_checks(arc)
        return refused_then_works(d, home, srv, srv.url, 'redirect', mode_hits=3)

@case('network', 'download: an HTML error page with status 200, then the archive with other checks')
def _(d):
    arc, cm, home = _setup(d, 'html')
    with cm as srv:
        srv.checks = archive_checks(arc)
        first = refused_then_works(d, home, srv, srv.url, 'text/html', 'check the URL')
        if first[0] != 'clean': return first
        home, size = d/'fastai-2', arc.stat().st_size
        r = go(d, home, srv, checks=f'{size} {"0"*32}')
        if not srv.hits['good']: return 'wrong', 'the fault did not fire: the archive was not fetched'
        if (res := refused(r, srv.url, 'expected'))[0] != 'clean': return res
        if kept := nothing_kept(home): return 'wrong', f'wrong checks: refused, but left {kept}'
        return 'clean', f'{first[1]}; wrong checks: {res[1]}'

@case('network', 'download: gzip corrupt halfway, with the right size and first MB')
def _(d):
    arc, cm, home = _setup(d, 'corrupt')
    good = arc.read_bytes(); bad = _corrupt_halfway(good)
    with cm as srv:
        srv.bad, srv.checks = bad, archive_checks(arc)
        (d/'bad').mkdir(); (d/'bad'/NAME).write_bytes(bad)
        if archive_checks(d/'bad'/NAME) != srv.checks: return 'wrong', 'the corrupt archive does not pass fastai\'s checks: not this fault'
        return refused_then_works(d, home, srv, srv.url, 'corrupt')

@case('network', 'download: a corrupt archive with the right size and first MB left by an earlier run')
def _(d):
    arc, cm, home = _setup(d, 'good')
    with cm as srv:
        srv.checks = archive_checks(arc)
        good = arc.read_bytes()
        (home/'archive').mkdir(parents=True)
        (home/'archive'/NAME).write_bytes(good[:2**20] + bytes(len(good) - 2**20))   # a preallocating download, killed
        if archive_checks(home/'archive'/NAME) != srv.checks: return 'wrong', 'the left-over archive does not pass fastai\'s checks'
        return then_works(d, home, srv, hits=1)          # downloaded again, not refused forever

# ---------------------------------------------------------------- interrupted
def _kill_download(d, sig):
    arc, cm, home = _setup(d, 'good')
    with cm as srv:
        srv.checks = archive_checks(arc)
        r = go(d, home, srv, setup=lambda pd: kill_at_write(home/'archive', nth=8, sig=sig, mark=d)())
        if not fired(d): return 'wrong', 'the fault did not fire: ' + _last_line(r.text)
        if sig == signal.SIGKILL:
            if p := first_problem(r, expect_rc=-signal.SIGKILL): return p
            if r.rc != -signal.SIGKILL: return 'wrong', f'exit {r.rc}, not killed'
        else:
            if p := first_problem(r): return p
            if r.rc != 130 or 'interrupted' not in r.err: return 'wrong', f'exit {r.rc} on an interrupt: ' + _last_line(r.text)
            if left := leftovers(home): return 'wrong', f'left after the interrupt: {left}'
        if (home/'archive'/NAME).exists(): return 'wrong', 'a partial archive under the final name'
        if (home/'data'/'oxford-iiit-pet').exists(): return 'wrong', 'a data folder from a partial download'
        return both(('clean', f'{signal.Signals(sig).name} mid-download left no archive'), then_works(d, home, srv, hits=1))

@case('interrupted', 'download: SIGKILL halfway through the download')
def _(d): return _kill_download(d, signal.SIGKILL)

@case('interrupted', 'download: Ctrl-C (SIGINT) halfway through the download')
def _(d): return _kill_download(d, signal.SIGINT)

def kill_at_member(nth, mark):
    "In the child: SIGKILL itself when tarfile is about to write its `nth` file."
    real, n = tarfile.TarFile.makefile, [0]
    def makefile(self, tarinfo, targetpath):
        n[0] += 1
        if n[0] == nth: Path(mark, '.fault-fired').touch(); os.kill(os.getpid(), signal.SIGKILL)
        return real(self, tarinfo, targetpath)
    tarfile.TarFile.makefile = makefile

@case('interrupted', 'download: SIGKILL halfway through the extraction, then just before its rename')
def _(d):
    arc, cm, home = _setup(d, 'good')
    with cm as srv:
        srv.checks = archive_checks(arc)
        out = []
        for what, setup in (('mid-extraction', lambda pd: kill_at_member(N_PHOTOS//2, d)),
                            ('before the rename', lambda pd: kill_at_rename(home/'data', mark=d)())):
            (d/'.fault-fired').unlink(missing_ok=True)
            r = go(d, home, srv, setup=setup, name='-' + what.split()[0])
            if not fired(d): return 'wrong', f'{what}: the fault did not fire: ' + _last_line(r.text)
            if p := first_problem(r, expect_rc=-signal.SIGKILL): return p
            if r.rc != -signal.SIGKILL: return 'wrong', f'{what}: exit {r.rc}, not killed'
            if (home/'data'/'oxford-iiit-pet').exists(): return 'wrong', f'{what}: a half-extracted folder under the final name'
            if archive_checks(home/'archive'/NAME) != srv.checks: return 'lost', f'{what}: the complete archive was damaged'
            out.append(what)
        return both(('clean', 'killed ' + ' and '.join(out) + ': no half folder'), then_works(d, home, srv, hits=0))

# ---------------------------------------------------------------- concurrent
@case('concurrent', 'download: two processes download Pets into one FASTAI_HOME at once')
def _(d):
    arc, cm, home = _setup(d, 'good', pace=0.05)      # about 1.7 s: the second starts while the first downloads
    with cm as srv:
        srv.checks = archive_checks(arc)
        a = go(d, home, srv, name='-a', wait=False)
        if not started(srv): return 'wrong', 'the first download did not start'
        b = go(d, home, srv, name='-b', wait=False)
        ra, rb = finish(a, BOUND), finish(b, BOUND)
        for who, r in (('first', ra), ('second', rb)):
            if p := first_problem(r): return p[0], f'{who}: {p[1]}'
            if not got_all(r, d): return 'wrong', f'{who} did not give every photo: ' + _last_line(r.text)
        if 'waiting for another process' not in rb.err: return 'wrong', 'the second did not wait for the first: the two did not overlap'
        if srv.hits['good'] != 1: return 'wrong', f'downloaded {srv.hits["good"]} times: the second did not wait for the first'
        if left := leftovers(home): return 'wrong', f'left: {left}'
        return 'clean', 'one downloaded, the other waited and took its folder'

@case('concurrent', 'download: the first of two is killed mid-download while the second waits')
def _(d):
    arc, cm, home = _setup(d, 'good', pace=0.05)
    with cm as srv:
        srv.checks = archive_checks(arc)
        a = go(d, home, srv, name='-a', wait=False, setup=lambda pd: kill_at_write(home/'archive', nth=25, mark=d)())
        if not started(srv): return 'wrong', 'the first download did not start'
        b = go(d, home, srv, name='-b', wait=False)
        ra, rb = finish(a, BOUND), finish(b, BOUND)
        if not fired(d): return 'wrong', 'the first was not killed: ' + _last_line(ra.text)
        if p := first_problem(ra, expect_rc=-signal.SIGKILL): return p[0], 'first: ' + p[1]
        if p := first_problem(rb): return p[0], 'second: ' + p[1]
        if 'waiting for another process' not in rb.err: return 'wrong', 'the second did not wait: the two did not overlap'
        if not got_all(rb, d): return 'wrong', 'the second did not give every photo: ' + _last_line(rb.text)
        return both(('clean', 'the second took over once the first died'), then_works(d, home, srv, hits=0))

# ---------------------------------------------------------------- disk
@case('disk', 'download: the archive folder under FASTAI_HOME is too small for the archive', needs=('mount',))
def _(d):
    arc, cm, home = _setup(d, 'good')
    with cm as srv, small_fs(home/'archive', 1 << 20):
        srv.checks = archive_checks(arc)
        r = go(d, home, srv)
        res = refused(r, home/'archive', 'MB', 'free some space')
        if res[0] == 'clean' and (kept := nothing_kept(home)): res = 'wrong', f'refused, but left {kept}'
        if res[0] == 'clean' and (junk := [p.name for p in (home/'archive').iterdir() if not p.name.endswith('.lock')]):
            res = 'wrong', f'refused, but left {junk} in the archive folder'
        return res

def fill_at_member(nth, folder, mark):
    "In the child: when tarfile is about to write its `nth` file, fill the disk of `folder` (another program took the room)."
    real, n = tarfile.TarFile.makefile, [0]
    def makefile(self, tarinfo, targetpath):
        n[0] += 1
        if n[0] == nth:
            Path(mark, '.fault-fired').touch()
            fd = os.open(Path(folder)/'another-program.bin', os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                for chunk in (1 << 16, 1 << 12, 1):
                    try:
                        while True: os.write(fd, bytes(chunk))
                    except OSError: pass
            finally: os.close(fd)
        return real(self, tarinfo, targetpath)
    tarfile.TarFile.makefile = makefile

@case('disk', 'download: the data folder fills up during the extraction', needs=('mount',))
def _(d):
    arc, cm, home = _setup(d, 'good')
    with cm as srv, small_fs(home/'data', 8 << 20):
        srv.checks = archive_checks(arc)
        other = write_image(home/'data'/'mnist_tiny'/'7'/'1.png')       # another data set, already there
        r = go(d, home, srv, setup=lambda pd: fill_at_member(N_PHOTOS//2, home/'data', d))
        if not fired(d): return 'wrong', 'the disk was not filled: ' + _last_line(r.text)
        res = refused(r, home/'data'/'oxford-iiit-pet', 'MB', 'free some space')
        if res[0] != 'clean': return res
        if (home/'data'/'oxford-iiit-pet').exists(): return 'wrong', 'a half-extracted folder under the final name'
        if left := leftovers(home): return 'wrong', f'left: {left}'
        if not other.exists(): return 'lost', 'another data set in the folder was removed'
        if archive_checks(home/'archive'/NAME) != srv.checks: return 'lost', 'the complete archive was not kept'
        (home/'data'/'another-program.bin').unlink()                      # the room comes back
        return both(res, then_works(d, home, srv, hits=0))

@case('disk', 'download: a file-size limit (ulimit -f) smaller than the archive')
def _(d):
    arc, cm, home = _setup(d, 'good')
    with cm as srv:
        srv.checks = archive_checks(arc)
        lim = 1 << 20
        r = go(d, home, srv, setup=lambda pd: resource.setrlimit(resource.RLIMIT_FSIZE, (lim, lim)))
        res = refused(r, home/'archive'/NAME, 'file-size limit')
        if res[0] == 'clean' and (kept := nothing_kept(home)): res = 'wrong', f'refused, but left {kept}'
        return both(res, then_works(d, home, srv, hits=1))
