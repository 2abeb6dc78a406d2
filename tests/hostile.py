"""The hostile suite: `petbook train/predict/visualize/demo`, model files and archives, used as a hostile user would.

Each case builds its inputs in a fresh folder, runs one command in a child process under a memory cap
(`RLIMIT_AS`), a file-size cap (`RLIMIT_FSIZE`, so an archive bomb cannot fill the disk) and a timeout, then
judges what happened:

- **crashed**: a traceback, killed (a signal, memory), or out of time;
- **lost**: a user's file was overwritten, or a model was trained and then not saved;
- **wrong**: a silent wrong result: exit status 0 on a failure, wrong counts or labels, a refused model written anyway;
- **clean**: everything else (a right result, or a clear refusal with a non-zero exit status).

Commands run as `petbook.cli.main(argv)` in a process forked from this one after `petbook.cli` is imported (the
import costs 10 s or more on a small CPU; paid once, not once per case). Each child is reseeded from the OS,
like a fresh interpreter. Cases marked `fresh` run the `petbook` command itself, a new interpreter per run.
Archives go through `petbook.data.safe_extract` directly.

    python tests/hostile.py --out petbook/results/hostile.json    # all cases; writes the results
    python tests/hostile.py --only model                       # the cases whose kind or name contains 'model'
    pytest tests/test_hostile.py -n 2                          # each case its own test, on two workers

The parent process never runs a torch operation (forking after one can hang OpenMP in the child): its
fixtures are made with PIL, numpy, tarfile and the safetensors file format read and written as bytes.
"""
import os, sys, re, json, time, gzip, shutil, signal, struct, tarfile, pickle, random, resource, hashlib
import argparse, tempfile, traceback, warnings, ast
from pathlib import Path
from dataclasses import dataclass
from petbook.testing import write_image, read_safetensors, write_safetensors, with_header, DELETE, write_tar

MEM_CAP = 6 << 30        # bytes of address space per case (importing torch and fastai alone maps about 4 GB)
FILE_CAP = 1 << 30       # largest file a case may write
TIMEOUT = 90             # seconds per case
TINY = ['--size', '32', '--bs', '4', '--num-workers', '0', '--device', 'cpu']
OUTCOMES = ('clean', 'crashed', 'wrong', 'lost')
CLI = ['petbook'] if shutil.which('petbook') else [sys.executable, '-m', 'petbook.cli']
ENV = {'MPLBACKEND': 'Agg', 'PYTHONWARNINGS': 'ignore', 'OMP_NUM_THREADS': '1', 'PETBOOK_DATA': ''}

# ---------------------------------------------------------------- running one command
@dataclass
class Run:
    "What one command did."
    rc: int = None          # exit status (negative: killed by that signal)
    out: str = ''           # stdout
    err: str = ''           # stderr
    timed_out: bool = False
    secs: float = 0.

    @property
    def text(self): return self.out + self.err
    def crash(self):
        "Why this run counts as a crash, or None."
        if self.timed_out: return f'timed out ({TIMEOUT} s)'
        if self.rc is not None and self.rc < 0: return f'killed by signal {-self.rc}'
        if 'Traceback (most recent call last)' in self.err: return 'traceback: ' + _last_line(self.err)
        if 'MemoryError' in self.err: return 'MemoryError'

def _last_line(s): return next((l.strip() for l in reversed(s.splitlines()) if l.strip()), '')[:200]

def _limits():
    "In the child: cap memory and file size."
    resource.setrlimit(resource.RLIMIT_AS, (MEM_CAP, MEM_CAP))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_CAP, FILE_CAP))

@dataclass
class Child:
    "A forked child started by `start_fork`: its pid, start time and output files."
    pid: int
    t0: float
    out: Path
    err: Path

def start_fork(target, cwd, name:str='') -> Child:
    "Start `target()` (returns an exit status) in a forked child under the caps; exceptions print a traceback, exit 1."
    cwd = Path(cwd); o, e = cwd/f'.stdout{name}', cwd/f'.stderr{name}'
    sys.stdout.flush(); sys.stderr.flush()
    t0 = time.time(); pid = os.fork()
    if pid == 0:   # the child
        code = 1
        try:
            fo, fe = os.open(o, os.O_WRONLY|os.O_CREAT|os.O_TRUNC), os.open(e, os.O_WRONLY|os.O_CREAT|os.O_TRUNC)
            os.dup2(fo, 1); os.dup2(fe, 2)
            os.chdir(cwd); _limits()
            random.seed(); import numpy as np; np.random.seed(int.from_bytes(os.urandom(4), 'little'))  # as a fresh interpreter
            warnings.simplefilter('ignore')
            try: code = target()
            except SystemExit as ex: code = ex.code if isinstance(ex.code, int) else (0 if ex.code is None else 1)
            except BaseException: traceback.print_exc(); code = 1
        finally:
            try: sys.stdout.flush(); sys.stderr.flush()
            finally: os._exit(code if isinstance(code, int) else 0)
    return Child(pid, t0, o, e)

def finish(c:Child, timeout=TIMEOUT) -> Run:
    "Wait for child `c` (killed when it outlives `timeout` seconds from its start); what it did."
    r = Run()
    while True:
        done, st = os.waitpid(c.pid, os.WNOHANG)
        if done: r.rc = os.waitstatus_to_exitcode(st); break
        if time.time() - c.t0 > timeout:
            os.kill(c.pid, signal.SIGKILL); os.waitpid(c.pid, 0); r.timed_out = True; break
        time.sleep(0.05)
    r.secs = time.time() - c.t0
    r.out, r.err = c.out.read_text(errors='replace'), c.err.read_text(errors='replace')
    return r

def run_fork(target, cwd, timeout=TIMEOUT) -> Run:
    "Run `target()` (returns an exit status) in a forked child under the caps, and wait for it."
    return finish(start_fork(target, cwd), timeout)

def run_cli(argv, cwd, fresh=False, timeout=TIMEOUT) -> Run:
    "`petbook ARGV`: forked from this process, or (`fresh`) as a new `petbook` process (which first imports torch and fastai)."
    argv = [str(a) for a in argv]
    if fresh: timeout *= 2
    if not fresh:
        def target():
            os.environ.update(ENV); os.environ.pop('PETBOOK_DEBUG', None)
            from petbook.cli import main
            return main(argv)
        return run_fork(target, cwd, timeout)
    env = {**os.environ, **ENV}; env.pop('PETBOOK_DEBUG', None)
    t0 = time.time()
    try: p = __import__('subprocess').run(CLI + argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                                         preexec_fn=_limits)
    except __import__('subprocess').TimeoutExpired as ex:
        return Run(None, (ex.stdout or b'').decode(errors='replace') if isinstance(ex.stdout, bytes) else (ex.stdout or ''),
                   '', True, time.time()-t0)
    return Run(p.returncode, p.stdout, p.stderr, False, time.time()-t0)

# ---------------------------------------------------------------- fixtures (no torch here)
def toy(d, n=5, size=32, breeds=None):
    "The toy Pets set (4 breeds × `n`, or only `breeds`) in `d`."
    from petbook.data import make_toy_pets
    d = make_toy_pets(d, n_per_breed=n, size=size)
    if breeds is not None:
        for f in list(d.iterdir()):
            if not any(f.name.startswith(b + '_') for b in breeds): f.unlink()
    return d

def _write(p, b:bytes|str):
    "Write `b` to `p`; `p`."
    p = Path(p); (p.write_bytes if isinstance(b, bytes) else p.write_text)(b); return p
def _mkdir(p): p.mkdir(parents=True); return p

def n_images(d): return sum(1 for f in Path(d).rglob('*') if f.is_file() and not f.is_symlink())

def sha(p): return hashlib.sha256(Path(p).read_bytes()).hexdigest()

def is_model(p):
    "Does `p` look like a petbook model file (safetensors with a petbook header)?"
    try: h, _ = read_safetensors(p); return 'petbook' in h.get('__metadata__', {})
    except (OSError, ValueError, struct.error, KeyError, AttributeError): return False

def trained(r): return bool(re.search(r'train_loss|valid_loss|epoch', r.out))

def totals(r):
    "(training, validation) image counts that `petbook train` printed, or None."
    m = re.search(r'(\d+) training and (\d+) validation images', r.text)
    return (int(m[1]), int(m[2])) if m else None

# ---------------------------------------------------------------- cases
@dataclass
class Case:
    name: str
    kind: str
    run: callable            # (folder) -> (outcome, detail)
    fresh: bool = False

CASES = []
def case(kind, name=None, fresh=False):
    "Register a case function `f(d) -> (outcome, detail)`."
    def reg(f): CASES.append(Case(name or f.__name__, kind, f, fresh)); return f
    return reg

def must_refuse(r, *also):
    "Judge a run that must refuse: non-zero exit status, a message, no traceback; `also`: (ok, detail) pairs."
    if (c := r.crash()): return 'crashed', c
    for ok, why in also:
        if ok is False or ok == 'lost': return ('lost' if ok == 'lost' else 'wrong'), why
    if r.rc == 0: return 'wrong', 'exit status 0 on a failure: ' + _last_line(r.text)
    if not r.err.strip(): return 'wrong', f'exit status {r.rc} with no message'
    return 'clean', f'exit {r.rc}: ' + _last_line(r.err)

def succeeded(r, *also):
    "Judge a run that must succeed (exit 0); `also`: (ok, detail) pairs that must hold."
    if (c := r.crash()): return 'crashed', c
    if r.rc != 0: return 'wrong', f'exit {r.rc} on a valid request: ' + _last_line(r.err)
    for ok, why in also:
        if ok is False or ok == 'lost': return ('lost' if ok == 'lost' else 'wrong'), why
    return 'clean', 'ok'

def train_ok_or_refused(r, model, n_expected=None):
    "Either trains a usable model (exit 0, finite losses, model written) or refuses without writing one."
    if (c := r.crash()): return 'crashed', c
    if r.rc == 0:
        if re.search(r'loss (nan|inf)', r.out.lower()): return 'wrong', 'exit 0, but a loss was nan (trained on nothing)'
        if not is_model(model): return 'wrong', 'exit 0, but no model file'
        if n_expected is not None and (t := totals(r)) and sum(t) != n_expected:
            return 'wrong', f'{sum(t)} images used, {n_expected} in the folder'
        return 'clean', 'trained: ' + _last_line(r.out)
    if model.exists(): return 'wrong', f'exit {r.rc}, but a model file was written'
    if not r.err.strip(): return 'wrong', f'exit {r.rc} with no message'
    return 'clean', f'refused, exit {r.rc}: ' + _last_line(r.err)

# --- 1. symbolic links in the data folder
def _links_case(name, make, max_images=None):
    @case('links', name)
    def f(d):
        data = toy(d/'data', n=5)          # 20 photos
        make(data, d)
        n = n_images(data)
        args = ['train', '--data', data, '--out', d/'m.safetensors', '--epochs', '1', *TINY]
        if max_images: args += ['--max-images', max_images]
        r = run_cli(args, d)
        if (c := r.crash()): return 'crashed', c
        if r.rc != 0: return 'wrong', f'exit {r.rc}: ' + _last_line(r.err)
        t = totals(r)
        if t is None: return 'wrong', 'no image count printed'
        want = min(n, max_images or n)
        if sum(t) != want: return 'wrong', f'{sum(t)} images used, {want} distinct photos asked for'
        return 'clean', f'{sum(t)} images, each once'

_links_case('self-link, --max-images 30', lambda data, d: (data/'loop').symlink_to('.'), 30)
_links_case('self-link, all images', lambda data, d: (data/'loop').symlink_to('.'))
_links_case('two links making a cycle, --max-images 30',
            lambda data, d: ((data/'loop').symlink_to('.'), (data/'up').symlink_to('../data/loop')), 30)
_links_case('sub-folder linking to its parent, --max-images 12',
            lambda data, d: ((data/'sub').mkdir(), (data/'sub'/'parent').symlink_to('..')), 12)
_links_case('a second name for a photo (file link)', lambda data, d: (data/'Toycat_Disc_99.jpg').symlink_to('Toycat_Disc_1.jpg'))
_links_case('dangling link named like a photo', lambda data, d: (data/'Toycat_Ring_98.jpg').symlink_to('gone.jpg'))

# --- 2. too few images for a batch
def _few_case(name, n_cat, n_dog, bs, cmd='train'):
    @case('batch', name)
    def f(d):
        data = d/'data'
        for i in range(n_cat): write_image(data/f'Bengal_{i+1}.jpg', seed=i)
        for i in range(n_dog): write_image(data/f'beagle_{i+1}.jpg', seed=100+i)
        if cmd == 'train':
            r = run_cli(['train', '--data', data, '--out', d/'m.safetensors', '--bs', bs, '--size', '32', '--num-workers', '0',
                         '--device', 'cpu'], d)
            return train_ok_or_refused(r, d/'m.safetensors', n_cat+n_dog)
        r = run_cli(['demo', '--data', data, '--out', d/'demo', '--bs', bs, '--size', '32', '--num-workers', '0',
                     '--device', 'cpu', '--max-images', '0'], d)
        if (c := r.crash()): return 'crashed', c
        if r.rc == 0:
            if re.search(r'loss (nan|inf)', r.out.lower()): return 'wrong', 'exit 0, but a loss was nan'
            return ('clean', 'report written') if (d/'demo'/'report.html').exists() else ('wrong', 'exit 0, no report')
        if (d/'demo'/'model.safetensors').exists() and not trained(r): return 'wrong', 'refused, but a model was written'
        return 'clean', f'refused, exit {r.rc}: ' + _last_line(r.err)

_few_case('60 photos at the default --bs 64', 30, 30, 64)
_few_case('12 photos at --bs 32', 6, 6, 32)
_few_case('5 photos at --bs 4', 3, 2, 4)
_few_case('2 photos (nothing to validate on)', 1, 1, 4)
_few_case('demo on 12 photos at --bs 64', 6, 6, 64, cmd='demo')

# --- 3. bad option values
def _arg_case(name, extra, cmd='train'):
    @case('arguments', name)
    def f(d):
        data = toy(d/'data', n=3)
        if cmd == 'train': args = ['train', '--data', data, '--out', d/'m.safetensors', '--size', '32', '--num-workers', '0', '--device', 'cpu']
        elif cmd == 'demo': args = ['demo', '--data', data, '--out', d/'demo', '--size', '32', '--num-workers', '0', '--device', 'cpu']
        else: args = ['visualize', _model(d), '--data', data, '--out', d/'figs', '--device', 'cpu']
        r = run_cli(args + extra, d)
        written = (d/'m.safetensors').exists() or (d/'demo'/'model.safetensors').exists()
        return must_refuse(r, (not written, 'a model was written anyway'))

for name, extra in [('--bs 0', ['--bs', '0']), ('--bs -1', ['--bs', '-1']), ('--size 0', ['--size', '0']),
                    ('--size -32', ['--size', '-32']), ('--epochs 0', ['--epochs', '0']), ('--epochs -2', ['--epochs', '-2']),
                    ('--max-images -5', ['--max-images', '-5']), ('--max-images 1', ['--max-images', '1']),
                    ('--num-workers -1', ['--num-workers', '-1'])]:
    _arg_case('train ' + name, extra)
_arg_case('demo --epochs 0', ['--epochs', '0'], 'demo')
_arg_case('demo --bs 0', ['--bs', '0'], 'demo')
_arg_case('visualize --n 0', ['--n', '0'], 'visualize')
_arg_case('visualize --n -3', ['--n', '-3'], 'visualize')

# --- 4. names that don't say cat or dog
def _names_case(name, odd, label='species'):
    @case('names', name)
    def f(d):
        data = toy(d/'data', n=4)                          # 16 Pets-named photos
        for i, o in enumerate(odd): write_image(data/o, seed=50+i)
        r = run_cli(['train', '--data', data, '--out', d/'m.safetensors', '--label', label, '--epochs', '1', *TINY], d)
        if (c := r.crash()): return 'crashed', c
        if r.rc != 0: return 'wrong', f'exit {r.rc}: ' + _last_line(r.err)
        t = totals(r)
        if t is None or sum(t) != 16: return 'wrong', f'{t and sum(t)} images labelled, 16 have Pets names: {", ".join(odd)} were labelled'
        missing = [o for o in odd if o not in r.text]
        if missing: return 'wrong', 'left out but not named: ' + ', '.join(missing)
        return 'clean', 'left out and named: ' + ', '.join(odd)

_names_case('camera names IMG_1234, DSC_0001', ['IMG_1234.jpg', 'DSC_0001.JPG'])
_names_case('species word in the wrong case Dog_5, cat_7', ['Dog_5.jpg', 'cat_7.jpg'])
_names_case('other words photo_3, Kitty_2, puppy_9', ['photo_3.jpg', 'Kitty_2.jpg', 'puppy_9.png'])
_names_case('non-breed names with --label breed', ['IMG_1234.jpg', 'photo_3.jpg'], label='breed')

# --- 5. one class
def _one_class_case(name, breeds, label='species', cmd='train'):
    @case('one class', name)
    def f(d):
        data = toy(d/'data', n=8, breeds=breeds)
        if cmd == 'train': r = run_cli(['train', '--data', data, '--out', d/'m.safetensors', '--label', label, '--epochs', '1', *TINY], d)
        else: r = run_cli(['demo', '--data', data, '--out', d/'demo', '--max-images', '0', *TINY], d)
        return must_refuse(r, (not (d/'m.safetensors').exists() and not (d/'demo'/'model.safetensors').exists(),
                           'a one-class model was saved'))

_one_class_case('cats only', ['Toycat_Disc', 'Toycat_Ring'])
_one_class_case('dogs only', ['toydog_square', 'toydog_cross'])
_one_class_case('one breed, --label breed', ['Toycat_Disc'], label='breed')
_one_class_case('cats only, demo', ['Toycat_Disc', 'Toycat_Ring'], cmd='demo')

@case('one class', 'a breed with one photo, --label breed')
def _(d):
    data = toy(d/'data', n=4, breeds=['Toycat_Disc', 'toydog_cross'])
    write_image(data/'Bengal_1.jpg')
    r = run_cli(['train', '--data', data, '--out', d/'m.safetensors', '--label', 'breed', '--epochs', '1', *TINY], d)
    return train_ok_or_refused(r, d/'m.safetensors')

# --- 6. the same --seed twice
def _seed_case(name, extra, fresh=False):
    @case('repeatability', name, fresh=fresh)
    def f(d):
        data = toy(d/'data', n=5)
        runs = [run_cli(['train', '--data', data, '--out', d/f'm{i}.safetensors', '--epochs', '1', '--seed', '7', *TINY, *extra],
                        d, fresh=fresh) for i in (0, 1)]
        for r in runs:
            if (c := r.crash()): return 'crashed', c
            if r.rc != 0: return 'wrong', f'exit {r.rc}: ' + _last_line(r.err)
        _, a = read_safetensors(d/'m0.safetensors'); _, b = read_safetensors(d/'m1.safetensors')
        return ('clean', 'identical weights') if a == b else ('wrong', 'same --seed, different weights')

_seed_case('species, --seed 7 twice', [])
_seed_case('breeds, --seed 7 twice', ['--label', 'breed'])
_seed_case('subset --max-images 14 with 2 loader processes, --seed 7 twice', ['--max-images', '14', '--num-workers', '2'])

# --- 7. model files
_BASE = {}
def _model(d):
    "A copy of the suite's trained model in `d`."
    return Path(shutil.copy(_BASE['model'], d/'good.safetensors'))

def _model_case(name, make, cmd='predict'):
    @case('model files', name)
    def f(d):
        m = make(d, _model(d))
        img = write_image(d/'Bengal_1.jpg')
        if cmd == 'predict': r = run_cli(['predict', m, img, '--device', 'cpu'], d)
        else: r = run_cli(['visualize', m, '--data', _BASE['data'], '--out', d/'figs', '--n', '1', '--device', 'cpu'], d)
        return must_refuse(r, (r.out.strip() == '', 'printed a prediction: ' + _last_line(r.out)))

def _bytes(b): return lambda d, good: _write(d/'bad.safetensors', b)
_model_case('zero bytes', _bytes(b''))
_model_case('truncated to half', lambda d, good: _write(d/'bad.safetensors', good.read_bytes()[:good.stat().st_size//2]))
_model_case('truncated inside the header', lambda d, good: _write(d/'bad.safetensors', good.read_bytes()[:100]))
_model_case('random bytes (1 KB)', _bytes(random.Random(1).randbytes(1024)))
_model_case('random bytes (3 MB)', _bytes(random.Random(2).randbytes(3 << 20)))
_model_case('header length says 2**60', _bytes(struct.pack('<Q', 1 << 60) + b'{}' * 8))
_model_case('a pickle renamed .safetensors', _bytes(pickle.dumps({'model': list(range(100))})))
_model_case('a zip archive renamed .safetensors', lambda d, good: Path(shutil.make_archive(str(d/'z'), 'zip', _mkdir(d/'z'))).rename(d/'bad.safetensors'))
_model_case('a directory', lambda d, good: _mkdir(d/'dir.safetensors'))
_model_case('a missing file', lambda d, good: d/'nowhere.safetensors')
_model_case('safetensors without a petbook header', lambda d, good: write_safetensors(d/'bad.safetensors', {k: v for k, v in read_safetensors(good)[0].items() if k != '__metadata__'}, read_safetensors(good)[1]))
_model_case('petbook header not JSON', lambda d, good: write_safetensors(d/'bad.safetensors', {**read_safetensors(good)[0], '__metadata__': {'petbook': '{not json'}}, read_safetensors(good)[1]))
for _name, _ch in [('vocab longer than n_out', dict(vocab=['False', 'True', 'maybe'])),
                   ('n_out and vocab 3, weights for 2', dict(vocab=['a', 'b', 'c'], n_out=3)),
                   ('3 breeds, weights for 2', dict(vocab=['Bengal', 'beagle', 'pug'], n_out=3, label='breed')),
                   ('species vocab of breeds', dict(vocab=['Bengal', 'beagle'])),
                   ('empty vocab', dict(vocab=[], n_out=0)), ('vocab not a list', dict(vocab='cat')),
                   ('size null', dict(size=None)), ('size [4000, 4000]', dict(size=[4000, 4000])),
                   ('size [30000, 30000]', dict(size=[30000, 30000])), ('size [0, 0]', dict(size=[0, 0])),
                   ('size a string', dict(size='big')), ('size of one number', dict(size=[32])),
                   ('arch unknown', dict(arch='vgg16')), ('arch missing', dict(arch=DELETE)),
                   ('format unknown', dict(format='petbook-weights-99')), ('label unknown', dict(label='colour')),
                   ('normalize of the wrong shape', dict(normalize=[[0.5], [0.5, 0.5]])), ('normalize std 0', dict(normalize=[[0.5]*3, [0.]*3]))]:
    _model_case('header: ' + _name, (lambda ch: lambda d, good: with_header(good, d/'bad.safetensors', **ch))(_ch))
_model_case('visualize: random bytes', _bytes(random.Random(3).randbytes(4096)), cmd='visualize')
_model_case('visualize: size [4000, 4000]', lambda d, good: with_header(good, d/'bad.safetensors', size=[4000, 4000]), cmd='visualize')

# --- 8. the output path
def _out_case(name, make, cmd='train'):
    @case('output path', name)
    def f(d):
        data = toy(d/'data', n=3)
        out, keep = make(d)                          # keep: files that must come through unchanged
        before = {p: sha(p) for p in keep}
        if cmd == 'train': r = run_cli(['train', '--data', data, '--out', out, '--epochs', '1', *TINY], d)
        elif cmd == 'demo': r = run_cli(['demo', '--data', data, '--out', out, '--max-images', '0', *TINY], d)
        else: r = run_cli(['visualize', _model(d), '--data', data, '--out', out, '--n', '1', '--device', 'cpu'], d)
        changed = [p.name for p, h in before.items() if not p.exists() or sha(p) != h]
        if changed: return 'lost', 'overwritten: ' + ', '.join(changed)
        if cmd == 'train' and r.rc != 0 and trained(r): return 'lost', 'trained, then not saved: ' + _last_line(r.err)
        return must_refuse(r)

def _same(p): return p, [p]   # --out `p`, and `p` must come through unchanged
_out_case('--out an existing photo', lambda d: _same(write_image(d/'holiday.jpg')))
_out_case('--out an existing photo named .safetensors', lambda d: _same(write_image(d/'cat.safetensors')))
_out_case('--out an existing text file', lambda d: _same(_write(d/'notes.txt', 'my notes\n')))
_out_case("--out someone else's safetensors file",
          lambda d: _same(write_safetensors(d/'other.safetensors', {'w': {'dtype': 'F32', 'shape': [2], 'data_offsets': [0, 8]}}, bytes(8))))
_out_case('--out a directory', lambda d: (_mkdir(d/'models'), []))
_out_case('--out inside a file (parent is a file)', lambda d: (d/'f.txt'/'m.safetensors', [_write(d/'f.txt', 'x')]))
_out_case('demo --out an existing file', lambda d: _same(_write(d/'report.txt', 'mine')), cmd='demo')
_out_case("demo folder holding someone else's model.safetensors",
          lambda d: (_mkdir(d/'demo'), [_write(d/'demo'/'model.safetensors', 'not a model')]), cmd='demo')
_out_case('visualize --out an existing file', lambda d: _same(_write(d/'figs.png', 'mine')), cmd='visualize')

@case('output path', '--out an existing petbook model is replaced')
def _(d):
    data = toy(d/'data', n=3); out = _model(d); old = sha(out)
    r = run_cli(['train', '--data', data, '--out', out, '--epochs', '1', *TINY], d)
    return succeeded(r, (is_model(out) and sha(out) != old, 'the old model was not replaced by a valid one'),
                     (not [p for p in d.iterdir() if p.name.startswith('.good') or 'tmp' in p.name], 'a temporary file was left'))

# --- 9. archives, through petbook.data.safe_extract
def _ti(name, type=tarfile.REGTYPE, size=0, linkname=''):
    ti = tarfile.TarInfo(name); ti.type, ti.size, ti.linkname, ti.mode = type, size, linkname, 0o644
    return ti

def _archive_case(name, make, kind='archives'):
    @case(kind, name)
    def f(d):
        arc = make(d)
        dest = d/'data'/'pets'
        def target():
            from petbook.data import safe_extract
            try: safe_extract(arc, dest)
            except ValueError as e: print(f'refused: {e}', file=sys.stderr); return 3
            return 0
        r = run_fork(target, d)
        if (c := r.crash()): return 'crashed', c
        outside = [p.name for p in (d/'data').iterdir() if p.name != 'pets' and not p.name.startswith('.')] if (d/'data').exists() else []
        if r.rc == 0:
            links = [str(p.relative_to(dest)) for p in dest.rglob('*') if p.is_symlink()] if dest.exists() else []
            return 'wrong', 'extracted' + (f'; links: {", ".join(links)}' if links else '')
        if dest.exists(): return 'wrong', 'refused, but left files in the destination'
        if outside: return 'wrong', 'refused, but left: ' + ', '.join(outside)
        return 'clean', _last_line(r.err)

_archive_case('symbolic link to an absolute path', lambda d: write_tar(d/'a.tgz', [(_ti('pets/images/a.jpg', tarfile.SYMTYPE, linkname='/etc/passwd'), None)]))
_archive_case('symbolic link to a sibling', lambda d: write_tar(d/'a.tgz', [(_ti('pets/images/b.jpg', size=3), b'abc'),
                                                                    (_ti('pets/images/a.jpg', tarfile.SYMTYPE, linkname='b.jpg'), None)]))
_archive_case('link inside the temporary folder that points outside once renamed',
              lambda d: write_tar(d/'a.tgz', [(_ti('pets/images/x.jpg', tarfile.SYMTYPE, linkname='../../secret'), None)]))
_archive_case('hard link', lambda d: write_tar(d/'a.tgz', [(_ti('pets/b.jpg', size=3), b'abc'), (_ti('pets/a.jpg', tarfile.LNKTYPE, linkname='pets/b.jpg'), None)]))
_archive_case('link to a folder, then a file through it',
              lambda d: write_tar(d/'a.tgz', [(_ti('pets/up', tarfile.SYMTYPE, linkname='..'), None), (_ti('pets/up/escaped.txt', size=2), b'hi')]))
_archive_case('path with ..', lambda d: write_tar(d/'a.tgz', [(_ti('pets/../../escaped.txt', size=2), b'hi')]))
_archive_case('absolute path', lambda d: write_tar(d/'a.tgz', [(_ti('/var/petbook-hostile-escaped.txt', size=2), b'hi')]))
_archive_case('a device file', lambda d: write_tar(d/'a.tgz', [(_ti('pets/null', tarfile.CHRTYPE), None)]))

def _many(d, n=100_000):
    "A .tar of `n` empty files (headers made once and renamed: fast)."
    hdr = bytearray(_ti('pets/f000000.txt').tobuf(tarfile.USTAR_FORMAT))
    with open(d/'many.tar', 'wb') as f:
        for i in range(n):
            hdr[6:12] = b'%06d' % i                                    # pets/fNNNNNN.txt, then the checksum again
            hdr[148:156] = b' ' * 8; hdr[148:156] = b'%06o\0 ' % sum(hdr)
            f.write(hdr)
        f.write(bytes(1024))
    return d/'many.tar'

def _bomb(d, size=2 << 30, chunk=16 << 20):
    "A .tgz holding one file of `size` zero bytes, a few MB big (gzip members of zeros, concatenated)."
    hdr = _ti('pets/zeros.jpg', size=size).tobuf(tarfile.GNU_FORMAT)
    z = gzip.compress(bytes(chunk), 9)
    with open(d/'bomb.tgz', 'wb') as f:
        f.write(gzip.compress(hdr))
        for _ in range(size // chunk): f.write(z)
        f.write(gzip.compress(bytes(1024)))
    return d/'bomb.tgz'

def _sparse(d, size=1 << 40):
    "An uncompressed .tar declaring one file of `size` bytes (a sparse file: nothing on disk)."
    p = d/'huge.tar'
    with open(p, 'wb') as f:
        f.write(_ti('pets/huge.jpg', size=size).tobuf(tarfile.GNU_FORMAT)); f.truncate(512 + size + 1024)
    return p

_archive_case('100,000 members', _many, 'archive limits')
_archive_case('2 GB of zeros from a 2 MB archive', _bomb, 'archive limits')
_archive_case('one member declaring 1 TB', _sparse, 'archive limits')

# --- 10. predict's output: file names, exit status
def _name_case(name, fname):
    @case('predict output', name)
    def f(d):
        good, odd = write_image(d/'Bengal_1.jpg'), write_image(d/fname, seed=3)
        r = run_cli(['predict', _model(d), good, odd, '--device', 'cpu'], d)
        if (c := r.crash()): return 'crashed', c
        if r.rc != 0: return 'wrong', f'exit {r.rc}: ' + _last_line(r.err)
        lines = r.out.splitlines()
        if len(lines) != 2: return 'wrong', f'{len(lines)} output lines for 2 images'
        names = []
        for l in lines:
            parts = l.split('\t')
            if len(parts) != 3: return 'wrong', f'a line with {len(parts)} tab-separated fields'
            n = parts[0]
            if n[:1] in '\'"':
                try: n = ast.literal_eval(n)
                except (ValueError, SyntaxError): return 'wrong', f'a quoted name that does not parse: {n}'
            names.append(n)
        if names != [str(good), str(odd)]: return 'wrong', 'names printed differ from the files given'
        return 'clean', 'one line per image, names recoverable'

_name_case('a file name with a newline', 'Bengal\n2.jpg')
_name_case('a file name with a tab', 'Bengal\t3.jpg')
_name_case('a file name with a carriage return', 'Bengal_4\r.jpg')
_name_case('a file name with a backslash and n', 'Bengal\\n5.jpg')
_name_case('a file name starting with a quote', "'Bengal_6.jpg")

@case('predict output', 'JSON with a newline in a name')
def _(d):
    good, odd = write_image(d/'Bengal_1.jpg'), write_image(d/'a\nb.jpg', seed=3)
    r = run_cli(['predict', _model(d), good, odd, '--json', '--device', 'cpu'], d)
    if (c := r.crash()): return 'crashed', c
    try: got = [p['image'] for p in json.loads(r.out)]
    except (ValueError, KeyError, TypeError): return 'wrong', 'stdout is not the JSON list'
    return ('clean', 'ok') if got == [str(good), str(odd)] and r.rc == 0 else ('wrong', f'exit {r.rc}, images {got}')

def _exit_case(name, make, want):
    @case('exit status', name)
    def f(d):
        paths = make(d)
        r = run_cli(['predict', _model(d), *paths, '--device', 'cpu'], d)
        if (c := r.crash()): return 'crashed', c
        n_ok = len(r.out.splitlines())
        if want == 0: return succeeded(r)
        if r.rc == 0: return 'wrong', f'exit 0 although {len(paths) - n_ok} of {len(paths)} inputs were skipped'
        unnamed = [p for p in paths if Path(p).name not in r.out and Path(p).name not in r.err]
        if unnamed: return 'wrong', 'skipped inputs not named on stderr'
        return 'clean', f'exit {r.rc}, {n_ok} predicted'

_exit_case('all inputs good', lambda d: [write_image(d/'Bengal_1.jpg'), write_image(d/'beagle_1.jpg', seed=2)], 0)
_exit_case('one input missing', lambda d: [write_image(d/'Bengal_1.jpg'), d/'missing.jpg'], 1)
_exit_case('one input corrupt', lambda d: [write_image(d/'Bengal_1.jpg'), _write(d/'bad.jpg', b'not an image')], 1)
_exit_case('one input a directory', lambda d: [write_image(d/'Bengal_1.jpg'), _mkdir(d/'folder.jpg')], 1)
_exit_case('every input bad', lambda d: [d/'missing.jpg', _write(d/'empty.jpg', b'')], 1)

@case('exit status', 'train names the unreadable files it left out')
def _(d):
    data = toy(d/'data', n=4)
    (data/'Toycat_Disc_90.jpg').write_bytes(b'not a jpeg'); (data/'toydog_cross_91.jpg').touch()
    r = run_cli(['train', '--data', data, '--out', d/'m.safetensors', '--epochs', '1', *TINY], d)
    return succeeded(r, (all(n in r.text for n in ('Toycat_Disc_90.jpg', 'toydog_cross_91.jpg')),
                         'left-out files not named: ' + _last_line(r.text)))

# --- controls: what must keep working
@case('controls', 'the petbook command itself (a new process): predict', fresh=True)
def _(d):
    img = write_image(d/'Bengal_1.jpg')
    r = run_cli(['predict', _model(d), img, '--device', 'cpu'], d, fresh=True)
    return succeeded(r, (len(r.out.splitlines()) == 1, 'no prediction line'))

# ---------------------------------------------------------------- the run
def prepare(root:Path, n:int=4):
    "Train the model the model-file cases start from, on the toy set with `n` photos per breed."
    d = root/'_base'; d.mkdir()
    _BASE['data'] = toy(d/'data', n=n)
    r = run_cli(['train', '--data', _BASE['data'], '--out', d/'base.safetensors', '--epochs', '1', *TINY], d)
    if not is_model(d/'base.safetensors'): sys.exit(f'hostile: could not train the base model:\n{r.out}\n{r.err}')
    _BASE['model'] = d/'base.safetensors'

def case_id(c:Case) -> str: return f'{c.kind}: {c.name}'

def run_case(c:Case, root:Path, i:int) -> dict:
    "Run one case in a fresh folder under `root`; its result (name, kind, outcome, detail, seconds), with paths masked."
    d = root/f'{i:03d}'; d.mkdir()
    t0 = time.time()
    try: outcome, detail = c.run(d)
    finally: shutil.rmtree(d, ignore_errors=True)
    detail = ' '.join(str(detail).replace(str(d), '<dir>').replace(str(root), '<tmp>').split())[:300]
    return dict(name=c.name, kind=c.kind, outcome=outcome, detail=detail, seconds=round(time.time() - t0, 1))

def run_suite(only:str=None, verbose:bool=True, cases=None, prepare=prepare, outcomes=OUTCOMES) -> dict:
    "Run every case (or those whose kind or name contains `only`); the results in the `hostile.json` format."
    import petbook.cli    # noqa: F401 -- imported once, before forking
    root = Path(tempfile.mkdtemp(prefix='petbook-hostile-'))
    try:
        prepare(root)
        res = []
        for i, c in enumerate(c for c in (CASES if cases is None else cases) if not only or only in c.kind or only in c.name):
            r = run_case(c, root, i); secs = r.pop('seconds'); res.append(r)
            if verbose: print(f"{r['outcome']:8} {secs:5.1f}s  [{c.kind}] {c.name}: {r['detail']}", flush=True)
    finally: shutil.rmtree(root, ignore_errors=True)
    counts = {o: sum(r['outcome'] == o for r in res) for o in outcomes}
    return dict(kinds=len(res), classes=len({r['kind'] for r in res}), **counts, cases=res)

def serve_cases(cases=None, prepare=prepare):
    "Answer case ids read from stdin, one per line, with one JSON result line each on stdout (`tests/test_hostile.py`)."
    import petbook.cli    # noqa: F401 -- imported once, before forking
    answers = os.fdopen(os.dup(1), 'w', buffering=1)
    os.dup2(2, 1)                     # whatever else prints goes to stderr, never into the answers
    root, by_id = Path(tempfile.mkdtemp(prefix='petbook-hostile-')), {case_id(c): c for c in (CASES if cases is None else cases)}
    try:
        prepare(root)
        print(json.dumps({'ready': len(by_id)}), file=answers)
        for i, line in enumerate(sys.stdin):
            c = by_id.get(line.strip())
            print(json.dumps(run_case(c, root, i) if c else {'outcome': 'unknown', 'detail': f'no case {line.strip()!r}'}), file=answers)
    finally: shutil.rmtree(root, ignore_errors=True)

def summary(r:dict) -> str:
    return (f"kinds tried: {r['kinds']} ({r['classes']} classes), handled cleanly: {r['clean']}, crashed: {r['crashed']}, "
            f"silently wrong: {r['wrong']}, lost: {r['lost']}")

def main(doc:str, cases=None, prepare=prepare, outcomes=OUTCOMES, summarise=None, summary=summary):
    "The command line of a case suite: run its cases (`--only` some), write the results (`--out`), or serve them (`--serve`)."
    p = argparse.ArgumentParser(description=doc.split('\n')[0])
    p.add_argument('--out', help='write the results (JSON) here')
    p.add_argument('--only', help='run only the cases whose kind or name contains this')
    p.add_argument('--serve', action='store_true', help='answer case ids on stdin with JSON lines (for pytest)')
    a = p.parse_args()
    os.environ.update(ENV)
    if a.serve: sys.exit(serve_cases(cases, prepare))
    t0 = time.time()
    r = run_suite(a.only, cases=cases, prepare=prepare, outcomes=outcomes)
    if summarise: r['classes'] = summarise(r)
    print(summary(r) + f' ({time.time()-t0:.0f} s)')
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(r, indent=1, ensure_ascii=False) + '\n')

if __name__ == '__main__': main(__doc__)
