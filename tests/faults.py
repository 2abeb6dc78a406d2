"""The fault suite: petbook's commands while something goes wrong *during* the work, not before it.

The hostile suite (`tests/hostile.py`) hands petbook bad inputs that are there before a command starts. This suite
makes the faults happen while it runs, the way SQLite is tested: the process is killed or interrupted at chosen
points (during training, in the middle of writing the model, just before and just after the rename), the disk
fills up or refuses a write, two processes write the same file, the download server misbehaves, and photos change
on disk after the folder was scanned. Each case then checks what a user would find:

- **clean**: the command did its work, or refused with one clear line and a non-zero exit status; nothing good was
  destroyed; no temporary file is left once the next command has run.
- **crashed**: a traceback, or killed by a signal the case did not send.
- **wrong**: a silent wrong result (exit status 0 on a failure, a torn file read as good, a wrong count).
- **lost**: a file the user had (an old model, a trained model, a complete download) was destroyed.
- **hung**: the command did not finish within the case's time limit.

Each case runs its commands in forked children under a memory cap and a time limit (`hostile.start_fork`).
Faults are injected in the child before the command starts (`kill_at_write`, `fail_at_write`, a callback passed to
`petbook.cli.main`), or from outside (signals, a second process, a small file system).

    python tests/faults.py --out petbook/results/faults.json    # all cases; writes the results
    python tests/faults.py --only disk                          # the cases whose class or name contains 'disk'
    pytest -n 2 tests/test_faults.py                            # each case its own test
"""
import os, sys, re, json, time, shutil, signal, errno, subprocess, argparse, tempfile
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
if __name__ == '__main__': sys.modules['faults'] = sys.modules[__name__]   # the case files import this module as `faults`
import hostile
from hostile import Run, Case, start_fork, finish, toy, is_model, sha, TINY, ENV, _last_line, case_id

OUTCOMES = ('clean', 'crashed', 'wrong', 'lost', 'hung')
CLASSES = {    # class (a case's `kind`) -> what it is, in the order the reliability page shows them
    'interrupted': 'killed or interrupted while writing',
    'disk': 'disk full and write errors',
    'concurrent': 'two at once',
    'network': 'network faults on the download',
    'changing': 'files that change under a running command',
    'names': 'names and paths',
}
TIMEOUT = 120    # seconds a case's command may take before it counts as hung

CASES = []
def case(kind, name=None, needs=()):
    "Register `f(d) -> (outcome, detail)` as a case of class `kind`; `needs`: 'root' and/or 'mount' (skipped without them)."
    assert kind in CLASSES, kind
    def reg(f):
        def run(d):
            if why := missing(needs): return 'skipped', why
            return f(d)
        CASES.append(Case(name or f.__name__, kind, run)); return f
    return reg

def missing(needs) -> str|None:
    "Why this machine can not run a case that needs `needs`, or None."
    if ('root' in needs or 'mount' in needs) and os.geteuid() != 0: return 'needs root (to act as another user or mount a file system)'
    if 'mount' in needs and not _can_mount(): return 'cannot mount a small tmpfs here'

_MOUNT = {}
def _can_mount() -> bool:
    if 'ok' not in _MOUNT:
        d = Path(tempfile.mkdtemp())
        try: _MOUNT['ok'] = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', str(d)], capture_output=True).returncode == 0
        except OSError: _MOUNT['ok'] = False
        if _MOUNT['ok']: subprocess.run(['umount', str(d)])
        d.rmdir()
    return _MOUNT['ok']

class small_fs:
    "A tmpfs of `size` bytes mounted on `path` for the `with` block (a disk that fills up for real)."
    def __init__(self, path, size): self.path, self.size = Path(path), int(size)
    def __enter__(self):
        self.path.mkdir(parents=True, exist_ok=True)
        subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={self.size},mode=0777', 'tmpfs', str(self.path)], check=True)
        return self.path
    def __exit__(self, *a): subprocess.run(['umount', '-l', str(self.path)])

# ---------------------------------------------------------------- running commands with faults
def _as_user(uid):
    """Become `uid`, as a user with an install of their own would run: the offline body's package is imported and its
    weights converted first (the suite's install may sit in a folder only its owner can read, as a CI's temp folder does)."""
    from petbook.learner import lite_weights_path, choose_body
    cache = Path('user-cache').absolute(); cache.mkdir(mode=0o755, exist_ok=True)   # in the case's folder (the cwd)
    os.environ['PETBOOK_CACHE'] = str(cache)
    os.chmod(lite_weights_path(choose_body()[0], cache_dir=cache), 0o644)
    os.setgid(uid); os.setuid(uid)

def cli_target(argv, inject=None, user=None, **kwargs):
    "A child's target: run `inject()` (the fault, in the child), maybe become `user` (uid), then `petbook ARGV`."
    argv = [str(a) for a in argv]
    def target():
        os.environ.update(ENV); os.environ.pop('PETBOOK_DEBUG', None)
        from petbook.cli import main
        if inject: inject()
        if user is not None: _as_user(user)
        return main(argv, **kwargs)
    return target

def start(argv, d, name='', **kw):
    "Start `petbook ARGV` in a forked child (see `cli_target`); returns the child."
    return start_fork(cli_target(argv, **kw), d, name)

def run(argv, d, timeout=TIMEOUT, **kw) -> Run:
    "Run `petbook ARGV` in a forked child with the fault `inject` (see `cli_target`) and wait for it."
    return finish(start(argv, d, **kw), timeout)

def wait_for(child, pattern, timeout=TIMEOUT) -> bool:
    "Wait until the child's stdout or stderr matches `pattern` (True) or it ends or `timeout` passes (False)."
    rx = re.compile(pattern)
    while time.time() - child.t0 < timeout:
        text = ''.join(f.read_text(errors='replace') for f in (child.out, child.err) if f.exists())
        if rx.search(text): return True
        if os.waitpid(child.pid, os.WNOHANG)[0]: return False
        time.sleep(0.05)
    return False

def _fd_path(fd) -> str:
    try: return os.readlink(f'/proc/self/fd/{fd}')
    except OSError: return ''

def fired(d) -> bool:
    "Did the fault injected in a child of case folder `d` fire? (`kill_at_write` and `fail_at_write` leave a mark.)"
    return (Path(d)/'.fault-fired').exists()

def _mark(d): Path(d, '.fault-fired').touch()

def kill_at_write(folder, nth:int=1, sig=signal.SIGKILL, mark=None):
    "In the child: on its `nth` `os.write` into a file under `folder`, write half of that chunk, then send itself `sig`."
    folder, real, n = str(Path(folder).resolve()), os.write, [0]
    def write(fd, data):
        if _fd_path(fd).startswith(folder):
            n[0] += 1
            if n[0] == nth:
                _mark(mark or folder); k = real(fd, bytes(data[:max(len(data)//2, 1)])); os.kill(os.getpid(), sig); return k
        return real(fd, data)
    return lambda: setattr(os, 'write', write)

def kill_at_rename(folder, after:bool=False, sig=signal.SIGKILL, mark=None):
    "In the child: send itself `sig` just before (or just after) its first `os.replace` into `folder`."
    folder, real = str(Path(folder).resolve()), os.replace
    def replace(src, dst, **kw):
        if not str(Path(dst).resolve()).startswith(folder): return real(src, dst, **kw)
        _mark(mark or folder)
        if after: real(src, dst, **kw)
        os.kill(os.getpid(), sig)
        if not after: return real(src, dst, **kw)
    return lambda: setattr(os, 'replace', replace)

def fail_at_write(folder, err=errno.EIO, nth:int=1, mark=None):
    "In the child: make its `nth` (and every later) `os.write` into a file under `folder` fail with `err`."
    folder, real, n = str(Path(folder).resolve()), os.write, [0]
    def write(fd, data):
        if _fd_path(fd).startswith(folder):
            n[0] += 1
            if n[0] >= nth: _mark(mark or folder); raise OSError(err, os.strerror(err))
        return real(fd, data)
    return lambda: setattr(os, 'write', write)

def temps(folder) -> list:
    "Temporary files petbook (or anything) left in `folder`: names starting with '.petbook-' or ending in .tmp/.part/.partial."
    return sorted(p.name for p in Path(folder).iterdir()
                  if p.name.startswith('.petbook-') or p.suffix in ('.tmp', '.part', '.partial'))

def loads(model, d) -> bool:
    "Does `petbook predict` load `model` and label a photo with it?"
    img = d/'Toycat_Disc_check.jpg'
    if not img.exists(): hostile.write_image(img)
    r = run(['predict', model, img, '--device', 'cpu'], d)
    return r.rc == 0 and len(r.out.splitlines()) == 1

def first_problem(r:Run, expect_rc=None):
    "('hung'|'crashed', why) when run `r` hung or crashed, else None; `expect_rc`: the exit status the case itself caused."
    if r.timed_out: return 'hung', f'did not finish in {TIMEOUT} s'
    if r.rc is not None and r.rc < 0 and r.rc != expect_rc: return 'crashed', f'killed by signal {-r.rc}'
    if 'Traceback (most recent call last)' in r.err: return 'crashed', 'traceback: ' + _last_line(r.err)

def one_line_refusal(r:Run, *words):
    "(ok, why): `r` refused with a non-zero status and one stderr line holding each of `words`."
    if r.rc == 0: return False, 'exit status 0 on a failure: ' + _last_line(r.text)
    lines = [l for l in r.err.splitlines() if 'error' in l]
    if not lines: return False, f'exit {r.rc} with no error line: ' + _last_line(r.err)
    if missing := [w for w in words if not any(str(w) in l for l in lines)]:
        return False, f'the error does not name {missing}: {lines[-1][:200]}'
    return True, f'exit {r.rc}: {lines[-1][:200]}'

# ---------------------------------------------------------------- the run
BASE = hostile._BASE     # the photos and the model most cases start from: {'data': folder, 'model': file}
def prepare(root:Path):
    "The toy photos (6 per breed) and a model trained on them, which most cases start from."
    hostile.prepare(root, n=6)

def summarise(res:dict) -> dict:
    "The per-class counts of a `hostile.run_suite` result: {class: {tried, clean, crashed, wrong, lost, hung, skipped}}."
    per = {}
    for k in CLASSES:
        cs = [c for c in res['cases'] if c['kind'] == k]
        per[k] = dict(what=CLASSES[k], tried=sum(c['outcome'] != 'skipped' for c in cs),
                      **{o: sum(c['outcome'] == o for c in cs) for o in OUTCOMES + ('skipped',)})
    return per

def summary(r:dict) -> str:
    return '\n'.join(f"{k:12} tried {v['tried']:3}, clean {v['clean']:3}, crashed {v['crashed']}, silently wrong {v['wrong']}, "
                     f"lost {v['lost']}, hung {v['hung']}" + (f", skipped {v['skipped']}" if v['skipped'] else '')
                     for k, v in r['classes'].items())

# the cases, by class, in their own files
import faults_train  # noqa: E402,F401
import faults_download  # noqa: E402,F401
import faults_fastdata  # noqa: E402,F401

if __name__ == '__main__': hostile.main(__doc__, CASES, prepare, OUTCOMES + ('skipped',), summarise, summary)
