"""Fault cases for `petbook train`, `predict`, `visualize` and `demo`: killed while writing, disks that fill up,
two processes on one file, photos that change during training, and awkward names (see `tests/faults.py`)."""
import os, sys, re, time, json, shutil, signal, errno, subprocess, unicodedata
from pathlib import Path
from faults import (case, run, start, finish, wait_for, kill_at_write, kill_at_rename, fail_at_write, fired, temps, loads,
                    first_problem, one_line_refusal, small_fs, BASE, TIMEOUT)
from hostile import toy, is_model, sha, TINY, _last_line, totals, write_image
from fastai.callback.core import Callback

def _out(d):
    "A case's --out: a copy of the base model (the user's good old model)."
    return Path(shutil.copy(BASE['model'], d/'m.safetensors'))

def _train(d, out, *extra): return ['train', '--data', BASE['data'], '--out', out, '--epochs', '1', *TINY, *extra]

def _next_run_cleans(d, out, folder=None):
    "(ok, why): a second `train` to `out` works, and afterwards no temporary file is left in `out`'s folder."
    r = run(_train(d, out), d)
    if (p := first_problem(r)): return False, 'the next run ' + p[1]
    if r.rc != 0: return False, f'the next run failed (exit {r.rc}): ' + _last_line(r.err)
    if not is_model(out): return False, 'the next run left no model'
    if left := temps(folder or out.parent): return False, f'temporary files left after the next run: {left}'
    return True, ''

def _old_intact(out, before):
    return (True, '') if out.exists() and sha(out) == before else ('lost', 'the old model was destroyed')

# ---------------------------------------------------------------- killed or interrupted while writing
class SignalAt(Callback):
    "Send this process `sig` before batch `batch` of epoch `epoch` (a kill at a known point of training)."
    def __init__(self, sig, epoch=0, batch=1, mark=None): self.sig, self.e, self.b, self.mark = sig, epoch, batch, mark
    def before_batch(self):
        if self.training and self.epoch == self.e and self.iter == self.b:
            Path(self.mark, '.fault-fired').touch(); os.kill(os.getpid(), self.sig)

def _killed_case(name, sig=signal.SIGKILL, after=None, at=None, epoch=None, expect='old'):
    """train with --out an existing good model, stopped by `sig`: sent from outside once the output matches `after`
    (then the old model must be intact or the new one complete), sent by the child to itself at batch 1 of `epoch`,
    or at `at(d, sig)` (a fault injected while it writes the model)."""
    @case('interrupted', name)
    def f(d):
        out = _out(d); before = sha(out)
        if at is not None or epoch is not None:
            kw = dict(inject=at(d, sig)) if at is not None else dict(cbs=[SignalAt(sig, epoch, mark=d)])
            r = run(_train(d, out, '--epochs', '2'), d, **kw)
            if not fired(d): return 'wrong', 'the fault was never injected: ' + _last_line(r.text)
        else:
            child = start(_train(d, out, '--epochs', '2'), d)
            if not wait_for(child, after): return 'wrong', 'the run ended before the point where it was to be stopped'
            time.sleep(0.3); os.kill(child.pid, sig); r = finish(child)
        if (p := first_problem(r, None if sig == signal.SIGINT else -sig)): return p
        if sig == signal.SIGINT:
            if r.rc != 130 or 'interrupted' not in r.err: return 'wrong', f'exit {r.rc} after an interrupt: ' + _last_line(r.err)
            if left := temps(d): return 'wrong', f'an interrupted run left temporary files: {left}'
        want = 'new' if expect == 'new' or (expect == 'either' and sha(out) != before) else 'old'   # killed after the save: the new one must be whole
        if want == 'old':
            ok, why = _old_intact(out, before)
            if ok is not True: return ok, why
        elif not (is_model(out) and loads(out, d)): return 'lost', 'the new model is not complete'
        ok, why = _next_run_cleans(d, out)
        return ('clean', f'exit {r.rc}; {"old model intact" if want == "old" else "new model complete"}; next run clean') if ok else ('wrong', why)

_killed_case('SIGKILL from outside, soon after training starts', after=r'petbook train: \d+ training', expect='either')
_killed_case('SIGKILL during the first epoch', epoch=0)
_killed_case('SIGKILL during the second epoch', epoch=1)
_killed_case('SIGINT during training', signal.SIGINT, epoch=0)
_killed_case('SIGINT from outside, soon after training starts', signal.SIGINT, after=r'petbook train: \d+ training', expect='either')
_killed_case('SIGTERM during the second epoch', signal.SIGTERM, epoch=1)
_killed_case('SIGKILL half-way through writing the model', at=lambda d, sig: kill_at_write(d, sig=sig, mark=d))
_killed_case('SIGKILL at the fifth write of the model', at=lambda d, sig: kill_at_write(d, nth=5, sig=sig, mark=d))
_killed_case('SIGKILL just before the rename', at=lambda d, sig: kill_at_rename(d, sig=sig, mark=d))
_killed_case('SIGKILL just after the rename', at=lambda d, sig: kill_at_rename(d, after=True, sig=sig, mark=d), expect='new')
_killed_case('SIGINT while writing the model', signal.SIGINT, at=lambda d, sig: kill_at_write(d, sig=sig, mark=d))

@case('interrupted', 'SIGKILL during the demo report, after the model was saved')
def _(d):
    child = start(['demo', '--data', BASE['data'], '--out', d/'demo', '--max-images', '0', *TINY], d)
    if not wait_for(child, r'petbook train: saved'): return 'wrong', 'the demo never saved its model: ' + _last_line(finish(child).text)
    time.sleep(0.5); os.kill(child.pid, signal.SIGKILL); r = finish(child)
    if (p := first_problem(r, -signal.SIGKILL)): return p
    model = d/'demo'/'model.safetensors'
    if not (is_model(model) and loads(model, d)): return 'lost', 'the model the demo saved is not complete'
    r2 = run(['demo', '--data', BASE['data'], '--out', d/'demo', '--max-images', '0', *TINY], d)
    if (p := first_problem(r2)): return p
    if r2.rc != 0 or not (d/'demo'/'report.html').exists(): return 'wrong', f'the next demo failed (exit {r2.rc}): ' + _last_line(r2.err)
    if left := temps(d/'demo'): return 'wrong', f'temporary files left: {left}'
    return 'clean', 'model complete after the kill; the next demo wrote its report'

# ---------------------------------------------------------------- disk full and write errors
def _refused_before_training(r, out, before, *words):
    "Judge a run that must stop before training with one line naming `words`, the old model untouched."
    if (p := first_problem(r)): return p
    if 'epoch 0' in r.out: return 'wrong', 'it trained first, then failed'
    ok, why = one_line_refusal(r, *words)
    if not ok: return 'wrong', why
    if before is not None and (not out.exists() or sha(out) != before): return 'lost', 'the old model was destroyed'
    if left := temps(out.parent): return 'wrong', f'temporary files left: {left}'
    return 'clean', why

@case('disk', 'a file-size limit smaller than the model (ulimit -f)')
def _(d):
    out = _out(d); before = sha(out)
    import resource
    r = run(_train(d, out), d, inject=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20)))
    return _refused_before_training(r, out, before, out.name, 'MB', 'file-size limit')

@case('disk', 'a disk too small for the model (--out on a 2 MB file system)', needs=('mount',))
def _(d):
    with small_fs(d/'small', 2 << 20) as small:
        r = run(_train(d, small/'m.safetensors'), d)
        return _refused_before_training(r, small/'m.safetensors', None, 'm.safetensors', 'MB', 'No space left')

@case('disk', 'the disk fills up during training (the room was set aside)', needs=('mount',))
def _(d):
    with small_fs(d/'small', 24 << 20) as small:
        out = small/'m.safetensors'
        from fastai.callback.core import Callback
        class Fill(Callback):
            def after_epoch(self):
                try:
                    with open(small/'filler', 'wb') as f:
                        while True: f.write(b'\0' * (1 << 20))
                except OSError: Path(d, '.fault-fired').touch()
        r = run(_train(d, out), d, cbs=[Fill()])
        if (p := first_problem(r)): return p
        if not fired(d): return 'wrong', 'the disk never filled up'
        if r.rc != 0: return 'wrong', f'exit {r.rc}: ' + _last_line(r.err)
        if not (is_model(out) and loads(out, d)): return 'lost', 'exit 0 but the model is not complete'
        if left := temps(small): return 'wrong', f'temporary files left: {left}'
        return 'clean', 'the model was saved into the room set aside before training'

def _write_fails_case(name, err):
    @case('disk', name)
    def f(d):
        out = _out(d); before = sha(out)
        r = run(_train(d, out), d, inject=fail_at_write(d, err, mark=d))
        if (p := first_problem(r)): return p
        if not fired(d): return 'wrong', 'the write never failed'
        if 'epoch 0' not in r.out: return 'wrong', 'it did not train'
        ok, why = one_line_refusal(r, out.name)
        if not ok: return 'wrong', why
        if sha(out) != before: return 'lost', 'the old model was destroyed'
        m = re.search(r'the trained model is saved in (\S+):', r.err)
        if not m: return 'lost', 'the trained model was not saved anywhere: ' + _last_line(r.err)
        kept = Path(m[1])
        try:
            if not (is_model(kept) and loads(kept, d)): return 'lost', f'the rescued model {kept} is not complete'
        finally: kept.unlink(missing_ok=True)
        if left := temps(d): return 'wrong', f'temporary files left: {left}'
        return 'clean', why

_write_fails_case('the model write fails with an I/O error after training', errno.EIO)
_write_fails_case('the model write fails with disk full after training', errno.ENOSPC)

@case('disk', 'a 252-byte --out name (the longest legal)')
def _(d):
    out = d/('m' * 240 + '.safetensors')
    r = run(_train(d, out), d)
    if (p := first_problem(r)): return p
    if r.rc != 0 or not is_model(out): return 'wrong', f'exit {r.rc}: ' + _last_line(r.err)
    if left := temps(d): return 'wrong', f'temporary files left: {left}'
    return 'clean', 'saved under its 252-byte name'

@case('disk', 'a --out name longer than the file system allows')
def _(d):
    r = run(_train(d, d/('m' * 250 + '.safetensors')), d)
    return _refused_before_training(r, d/'x', None, 'bytes long')

def _open_to_all(d):
    "Let another user into case folder `d` (and the suite's folder above it), as a user's home would."
    for p in (d.parent, d): os.chmod(p, 0o755)

@case('disk', "another user's model in a shared (sticky) folder", needs=('root',))
def _(d):
    shared = d/'shared'; shared.mkdir(); os.chmod(shared, 0o1777); _open_to_all(d)
    out = Path(shutil.copy(BASE['model'], shared/'theirs.safetensors')); os.chown(out, 1234, 1234); before = sha(out)
    data = Path(shutil.copytree(BASE['data'], d/'data')); os.chmod(data, 0o755)
    r = run(['train', '--data', data, '--out', out, '--epochs', '1', *TINY], d, user=65534)
    return _refused_before_training(r, out, before, 'theirs.safetensors', 'another user')

@case('disk', 'a read-only folder for --out', needs=('root',))
def _(d):
    ro = d/'ro'; ro.mkdir(); _open_to_all(d); os.chmod(ro, 0o555)
    data = Path(shutil.copytree(BASE['data'], d/'data')); os.chmod(data, 0o755)
    r = run(['train', '--data', data, '--out', ro/'m.safetensors', '--epochs', '1', *TINY], d, user=65534)
    return _refused_before_training(r, ro/'m.safetensors', None, 'not writable')

@case('disk', 'a FIFO as --out')
def _(d):
    fifo = d/'m.safetensors'; os.mkfifo(fifo)
    r = run(_train(d, fifo), d, timeout=60)
    res = _refused_before_training(r, fifo, None, 'not a regular file')
    return res if fifo.exists() and not fifo.is_file() else ('lost', 'the FIFO was replaced')

@case('disk', 'visualize --out on a full disk: each figure old or new, never half', needs=('mount',))
def _(d):
    from PIL import Image
    with small_fs(d/'small', 256 << 10) as small:
        names = ['filters.png', 'layer1_top.png', 'layer3_top.png', 'layer5_top.png', 'occlusion_1.png']
        old = {n: f'my old {n}'.encode() for n in names}
        for n, b in old.items(): (small/n).write_bytes(b)
        r = run(['visualize', BASE['model'], '--data', BASE['data'], '--out', small, '--n', '4', '--device', 'cpu'], d)
        if (p := first_problem(r)): return p
        ok, why = one_line_refusal(r, 'MB')
        if not ok: return 'wrong', why
        for n in names:
            if (b := (small/n).read_bytes()) == old[n]: continue
            try: Image.open(small/n).verify()
            except Exception: return 'lost', f'{n} was overwritten with part of a new figure'
        if left := temps(small): return 'wrong', f'temporary files left: {left}'
        return 'clean', why

# ---------------------------------------------------------------- two at once
@case('concurrent', 'two trains with the same --out')
def _(d):
    out = _out(d)
    kids = [start(_train(d, out, '--seed', str(s)), d, name=str(s)) for s in (1, 2)]
    runs = [finish(k) for k in kids]
    for r in runs:
        if (p := first_problem(r)): return p
        if r.rc != 0: return 'wrong', f'exit {r.rc}: ' + _last_line(r.err)
    if not (is_model(out) and loads(out, d)): return 'lost', 'the model left is not complete'
    if left := temps(d): return 'wrong', f'temporary files left: {left}'
    return 'clean', 'both saved; the last one is whole'

def _reference(d, model, imgs):
    "The lines `petbook predict` prints for `imgs` with `model` alone."
    r = run(['predict', model, *imgs, '--device', 'cpu'], d)
    return r.out.splitlines()

@case('concurrent', 'predict while the model file is being replaced, again and again')
def _(d):
    # two models with the same number of classes but different classes: a header from one with the weights of the
    # other would label photos silently wrong
    a, b = d/'a.safetensors', d/'b.safetensors'
    for m, breeds in ((a, ('Toycat_Disc', 'toydog_square')), (b, ('Toycat_Ring', 'toydog_cross'))):
        data = toy(d/f'data_{m.stem}', n=6, breeds=breeds)
        r = run(['train', '--data', data, '--out', m, '--label', 'breed', '--epochs', '1', *TINY], d)
        if r.rc != 0: return 'wrong', 'could not train the two models: ' + _last_line(r.err)
    imgs = [write_image(d/f'Bengal_{i}.jpg', seed=i) for i in range(3)]
    refs = {tuple(_reference(d, m, imgs)) for m in (a, b)}
    target = d/'model.safetensors'; shutil.copy(a, target)
    stop = d/'.stop'
    pid = os.fork()
    if pid == 0:                                   # the swapper: replaces the model with one or the other, without pause
        try:
            i = 0
            while not stop.exists() and i < 200000:
                tmp = d/f'.swap{i % 2}'; shutil.copy(a if i % 2 else b, tmp); os.replace(tmp, target); i += 1
        finally: os._exit(0)
    try:
        seen, n_torn, n_refused = set(), 0, 0
        for i in range(6):
            r = run(['predict', target, *imgs, '--device', 'cpu'], d)
            if (p := first_problem(r)): return p
            if r.rc != 0: n_refused += 1; continue
            got = tuple(r.out.splitlines())
            if got in refs: seen.add(got)
            else: n_torn += 1
    finally: stop.touch(); os.waitpid(pid, 0)
    if n_torn: return 'wrong', f'{n_torn} of 6 runs printed labels that neither model gives (a torn read)'
    return 'clean', f'6 runs: each answer is one whole model\'s ({len(seen)} different), {n_refused} refused'

# ---------------------------------------------------------------- files that change under a running command
class Damage(Callback):
    "Damage some of the training photos at a point of training: `how(path)` for the first `n` of the training files."
    order = -100
    def __init__(self, how, n=3, when='before_fit', mark=None): self.how, self.n, self.when, self.mark = how, n, when, mark
    def _do(self):
        files = list(self.dls.train.items)[:self.n] if self.n else list(self.dls.train.items) + list(self.dls.valid.items)
        for f in files: self.how(Path(f))
        Path(self.mark, '.fault-fired').touch(); self.names = [Path(f).name for f in files]
    def before_fit(self):
        if self.when == 'before_fit': self._do()
    def after_batch(self):
        if self.when == 'after_batch' and self.training and self.iter == 0 and self.epoch == 0: self._do()

def _truncate(p): p.write_bytes(p.read_bytes()[:100])
def _to_text(p): p.write_bytes(b'<html>not a photo any more</html>')
def _bigger(p):
    from PIL import Image
    Image.new('RGB', (300, 200), (200, 10, 10)).save(p, format='JPEG')

def _changing_case(name, how, when='before_fit', n=3, extra=(), expect='skipped'):
    @case('changing', name)
    def f(d):
        data = Path(shutil.copytree(BASE['data'], d/'data'))
        out = _out(d); before = sha(out)
        cb = Damage(how, n, when, mark=d)
        r = run(['train', '--data', data, '--out', out, '--epochs', '2', *TINY, *extra], d, cbs=[cb])
        if (p := first_problem(r)): return p
        if not fired(d): return 'wrong', 'the photos were never changed'
        if expect == 'refused':
            ok, why = one_line_refusal(r)
            if not ok: return 'wrong', why
            return ('clean', why) if sha(out) == before else ('lost', 'the old model was destroyed')
        if r.rc != 0: return 'wrong', f'exit {r.rc}: ' + _last_line(r.err)
        if how is not _bigger:
            m = re.search(r'(\d+) photo\(s\) changed on disk during training', r.out)
            if not m or int(m[1]) != n: return 'wrong', f'{m and m[1]} photos counted as changed, {n} were: ' + _last_line(r.text)
            named = sum(1 for l in r.err.splitlines() if 'changed on disk during training' in l)
            if named != n: return 'wrong', f'{named} changed photos named, {n} changed'
        if not (is_model(out) and loads(out, d)): return 'lost', 'no complete model after training'
        return 'clean', _last_line(r.out)

_changing_case('photos deleted after the scan, before training', lambda p: p.unlink())
_changing_case('photos truncated after the scan, before training', _truncate)
_changing_case('photos replaced by a web page during the first epoch', _to_text, when='after_batch')
_changing_case('photos deleted during the first epoch, 2 loader processes', lambda p: p.unlink(), when='after_batch',
               extra=('--num-workers', '2'))
_changing_case('photos replaced by a bigger photo during training', _bigger, when='after_batch')
_changing_case('every photo deleted after the scan', lambda p: p.unlink(), n=0, expect='refused')

@case('changing', 'predict: a photo deleted between its check and its prediction')
def _(d):
    imgs = [write_image(d/f'Bengal_{i}.jpg', seed=i) for i in range(3)]
    def inject():
        import petbook.cli as cli
        real = cli.check_image
        def check_then_delete(p):
            why = real(p)
            if Path(p).name == 'Bengal_1.jpg': Path(p).unlink(); Path(d, '.fault-fired').touch()
            return why
        cli.check_image = check_then_delete
    r = run(['predict', BASE['model'], *imgs, '--device', 'cpu'], d, inject=inject)
    if (p := first_problem(r)): return p
    if not fired(d): return 'wrong', 'the photo was never deleted'
    if r.rc != 1: return 'wrong', f'exit {r.rc}, expected 1 (one photo skipped)'
    if len(r.out.splitlines()) != 2 or 'Bengal_1.jpg' not in r.err: return 'wrong', 'the deleted photo is not named, or the others not predicted'
    return 'clean', 'skipped and named: ' + _last_line(r.err)

# ---------------------------------------------------------------- names and paths
def _names_case(name, make, n_good=24, timeout=TIMEOUT, user=None, needs=()):
    "train on the toy photos plus files made by `make(data)` -> the odd names that must be left out and named."
    @case('names', name, needs=needs)
    def f(d):
        data = Path(shutil.copytree(BASE['data'], d/'data'))
        odd = make(data)
        if user is not None: _open_to_all(d); os.chmod(data, 0o755)
        t0 = time.time()
        out = d/'out'; out.mkdir(mode=0o777); os.chmod(out, 0o777)
        r = run(['train', '--data', data, '--out', out/'m.safetensors', '--epochs', '1', *TINY], d, timeout=timeout, user=user)
        if (p := first_problem(r)): return p
        if r.rc != 0: return 'wrong', f'exit {r.rc}: ' + _last_line(r.err)
        t = totals(r)
        if t is None or sum(t) != n_good: return 'wrong', f'{t and sum(t)} photos used, {n_good} follow the convention'
        shown = r.err
        unnamed = [o for o in odd if not any(v in shown for v in (o, repr(o)[1:-1], unicodedata.normalize('NFC', o)))]
        if unnamed and len(odd) <= 50: return 'wrong', f'left out but not named: {unnamed[:3]}'
        return 'clean', f'{sum(t)} used, {len(odd)} left out and named, {time.time()-t0:.0f} s'
    return f

def _writes(data, names, seed=0):
    for i, n in enumerate(names): write_image(data/n, seed=seed + i)
    return names

_names_case('accented breed names in NFC and NFD, emoji, spaces, a newline', lambda data: _writes(data, [
    unicodedata.normalize('NFC', 'Égyptian_Mau_1.jpg'), unicodedata.normalize('NFD', 'Égyptian_Mau_2.jpg'),
    '🐱_1.jpg', 'Bengal cat_1.jpg', 'Bengal_1 copy.jpg', 'beagle\n_2.jpg']))
_names_case('250-byte names that follow the convention', lambda data: [] if _writes(data, ['beagle_' + '1' * 239 + '.jpg',
            'Bengal_' + '2' * 239 + '.jpg']) else [], n_good=26)

def _unreadable(data):
    names = _writes(data, ['Bengal_71.jpg', 'beagle_72.jpg'])
    for n in names: os.chmod(data/n, 0)
    return names
_names_case('photos the user may not read (as another user)', _unreadable, user=65534, needs=('root',))

def _many_other(data):
    for i in range(20_000): (data/f'notes_{i}.txt').write_bytes(b'x')
    return []     # not images: ignored, as a README beside photos is
_names_case('20,000 other files beside the photos', _many_other, timeout=180)

def _off_convention(data):
    src = (data/'Toycat_Disc_1.jpg').read_bytes()
    for i in range(3_000): (data/f'IMG_{i:05d}.jpg').write_bytes(src)
    return ['IMG_00000.jpg']
_names_case('3,000 photos with camera names beside 24 Pets-named ones', _off_convention, timeout=180)

@case('names', '--data is a file')
def _(d):
    f = d/'photos.zip'; f.write_bytes(b'PK\x03\x04 not a folder')
    r = run(['train', '--data', f, '--out', d/'m.safetensors', *TINY], d)
    if (p := first_problem(r)): return p
    ok, why = one_line_refusal(r, 'photos.zip')
    return ('clean', why) if ok else ('wrong', why)

@case('changing', 'visualize: a photo deleted after the scan, before the figures')
def _(d):
    data = Path(shutil.copytree(BASE['data'], d/'data'))
    def inject():
        import petbook.cli as cli
        real = cli.pick_subset
        def pick_then_delete(files, n, seed):
            got = real(files, n, seed); Path(got[0]).unlink(); Path(d, '.fault-fired').touch(); return got
        cli.pick_subset = pick_then_delete
    r = run(['visualize', BASE['model'], '--data', data, '--out', d/'figs', '--n', '4', '--device', 'cpu'], d, inject=inject)
    if (p := first_problem(r)): return p
    if not fired(d): return 'wrong', 'the photo was never deleted'
    ok, why = one_line_refusal(r, 'changed on disk')
    return ('clean', why) if ok else ('wrong', why)

@case('disk', 'the disk fills up before the demo writes its figures and report', needs=('mount',))
def _(d):
    with small_fs(d/'small', 48 << 20) as small:
        class Fill(Callback):
            def after_fit(self):
                try:
                    with open(small/'filler', 'wb') as f:
                        while True: f.write(b'\0' * (1 << 20))
                except OSError: Path(d, '.fault-fired').touch()
        r = run(['demo', '--data', BASE['data'], '--out', small/'demo', '--max-images', '0', *TINY], d, cbs=[Fill()])
        if (p := first_problem(r)): return p
        if not fired(d): return 'wrong', 'the disk never filled up'
        ok, why = one_line_refusal(r, 'MB')
        if not ok: return 'wrong', why
        model = small/'demo'/'model.safetensors'
        if not (is_model(model) and loads(model, d)): return 'lost', 'the trained model was not kept whole'
        if (small/'demo'/'report.html').exists(): return 'wrong', 'a report was written on a full disk'
        if left := temps(small/'demo'): return 'wrong', f'temporary files left: {left}'
        return 'clean', 'model kept; ' + why
