"""Fault cases for the fast path's decoded-image cache (`petbook.fastdata.cached_images`): two runs filling one cache,
a run killed while writing it, a damaged cache left behind, a full disk or a file-size limit under it, and photos that
change between the folder scan and the decode (see `tests/faults.py`).

`petbook train --fast` keeps no cache of its own (it decodes every run), so the cases that need one run
`pets_dls_fast(..., cache=FOLDER)` in a forked child, or `petbook train --fast` with its `pets_dls_fast` given a cache
folder. Each child checks its own loaders against a fresh decode of the photos on disk (the parent runs no torch) and
prints `pixels right` or `pixels WRONG`."""
import os, re, json, time, shutil, signal, errno, resource
from pathlib import Path
from faults import case, first_problem, kill_at_write, kill_at_rename, fired, temps, small_fs, BASE, TIMEOUT
from hostile import start_fork, finish, is_model, totals, TINY, ENV, _last_line
from petbook.testing import image_bytes, noisy_image

SIZE = 32   # the side the cases decode at (as `TINY`)

# ---------------------------------------------------------------- in the child
def _check(dls, size=SIZE) -> str:
    "In the child: do the fast loaders hold each item's pixels (as decoded from disk now) and label?"
    import torch
    from petbook.fastdata import decode_images
    from petbook.labels import label_func
    for dl in (dls.train, dls.valid):
        want, ok = decode_images(list(dl.items), size, 'cpu', 'pil', n_workers=0)
        got = dl.images[dl.sub].cpu()
        bad = int((got != want).flatten(1).any(1).sum()) + int((~ok).sum())
        ys = [dls.vocab.o2i[label_func(dls.label)(f)] for f in dl.items]
        if bad or dl.labels.tolist() != ys:
            return f'pixels WRONG: {bad} of {len(dl.items)} images differ, labels {"right" if dl.labels.tolist() == ys else "wrong"}'
    return f'pixels right ({dls.train.n}+{dls.valid.n} images)'

def _fast(cache, check=True):
    "`pets_dls_fast` caching in `cache`, saying what it did and checking its pixels (in the child)."
    from petbook.fastdata import pets_dls_fast
    def f(*args, **kw):
        dls = pets_dls_fast(*args, **{**kw, 'cache': cache, 'verbose': True})
        if check: print(_check(dls, kw.get('size', SIZE)), flush=True)
        return dls
    return f

def loaders(data, cache, inject=None, fsize=None, fit=False, check=True, size=SIZE):
    "A child's target: the fault `inject`, maybe a file-size limit, then `pets_dls_fast` on `data` caching in `cache`; `fit`: one epoch on it."
    def target():
        os.environ.update(ENV)
        if inject: inject()
        if fsize: resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        dls = _fast(cache, check)(data, size=size, bs=4, device='cpu', num_workers=0)
        if fit:
            import math
            from petbook.learner import pets_learner
            learn = pets_learner(dls)
            with learn.no_bar(), learn.no_logging(): learn.fit(1)
            loss = float(learn.recorder.losses[-1])
            print(f'trained one epoch: loss {loss:.3f}' if math.isfinite(loss) else 'training failed: loss not finite')
        return 0
    return target

def train_fast(data, out, cache=None, inject=None):
    "A child's target: `petbook train --fast` after the fault `inject`, its `pets_dls_fast` caching in `cache` (and checked)."
    argv = [str(a) for a in ['train', '--data', data, '--out', out, '--epochs', '1', '--fast', *TINY]]
    def target():
        os.environ.update(ENV); os.environ.pop('PETBOOK_DEBUG', None)
        import petbook.cli
        if inject: inject()
        petbook.cli.pets_dls_fast = _fast(cache)
        return petbook.cli.main(argv)
    return target

def _mark(d, name): Path(d, f'.fault-{name}').touch()

def meet_at_rename(folder, d, name, other, wait=30):
    "In the child: before its first `os.replace` into `folder`, wait (up to `wait` s) until child `other` is there too."
    folder, real = str(Path(folder).resolve()), os.replace
    def replace(src, dst, **kw):
        if str(Path(dst).resolve()).startswith(folder):
            _mark(d, name); t0 = time.time()
            while not Path(d, f'.fault-{other}').exists() and time.time() - t0 < wait: time.sleep(0.02)
        return real(src, dst, **kw)
    return lambda: setattr(os, 'replace', replace)

def after_scan(d, change):
    "In the child: `change()` the photos once the folder was scanned and labelled, just before they are decoded."
    def inject():
        import petbook.fastdata
        real = petbook.fastdata.cached_images
        def cached_images(*args, **kw):
            change(); _mark(d, 'changed')
            return real(*args, **kw)
        petbook.fastdata.cached_images = cached_images
    return inject

def during_decode(d, change):
    "In the child: `change()` the photos just after they were decoded, before the cache is saved."
    def inject():
        import petbook.fastdata
        real = petbook.fastdata.decode_images
        def decode_images(*args, **kw):
            r = real(*args, **kw); change(); _mark(d, 'changed')
            return r
        petbook.fastdata.decode_images = decode_images
    return inject

# ---------------------------------------------------------------- in the parent
def _data(d):
    "A copy of the base photos the case may change."
    return Path(shutil.copytree(BASE['data'], d/'data'))

def _caches(cache) -> list: return sorted(p.name for p in Path(cache).glob('*.safetensors')) if Path(cache).is_dir() else []

def _said(r, what) -> bool: return bool(re.search(rf'petbook fast path: {what} \d+ decoded images', r.out))

def _notes(r) -> list: return [l for l in r.err.splitlines() if l.startswith('petbook fast path:')]

def good_run(r, *also, rc=0):
    "(outcome, detail) of a run that must succeed with right pixels; `also`: (ok, why) pairs that must hold."
    if p := first_problem(r): return p
    if r.rc != rc: return 'wrong', f'exit {r.rc}: ' + _last_line(r.err or r.out)
    if 'pixels right' not in r.out: return 'wrong', next((l for l in r.out.splitlines() if 'pixels' in l), 'no pixel check: ' + _last_line(r.text))
    for ok, why in also:
        if not ok: return 'wrong', why
    return None

def _run(target, d, name='', timeout=TIMEOUT): return finish(start_fork(target, d, name), timeout)

@case('concurrent', 'two runs fill one decoded-image cache at once')
def cache_two_writers(d):
    cache = d/'cache'
    kids = [start_fork(loaders(BASE['data'], cache, inject=meet_at_rename(cache, d, me, other)), d, me)
            for me, other in (('a', 'b'), ('b', 'a'))]
    runs = [finish(k) for k in kids]
    if not all(Path(d, f'.fault-{n}').exists() for n in 'ab'): return 'wrong', 'the two runs never wrote the cache together'
    for r in runs:
        if p := good_run(r, (_said(r, 'saved'), 'a run did not save the cache: ' + _last_line(r.text))): return p
    if len(_caches(cache)) != 1 or temps(cache): return 'wrong', f'cache folder holds {_caches(cache)} and temporary files {temps(cache)}'
    r = _run(loaders(BASE['data'], cache), d, 'c')
    if p := good_run(r, (_said(r, 'read'), 'the next run did not read the cache: ' + _last_line(r.text))): return p
    return 'clean', f'both wrote the whole cache, one file kept, the next run read it: {r.out.splitlines()[-1]}'

@case('interrupted', 'killed while writing the decoded-image cache')
def cache_killed_writing(d):
    cache = d/'cache'
    r = _run(loaders(BASE['data'], cache, inject=kill_at_write(cache, mark=d)), d, 'a')
    if not fired(d): return 'wrong', 'the cache was never written: ' + _last_line(r.text)
    if p := first_problem(r, expect_rc=-signal.SIGKILL): return p
    r = _run(loaders(BASE['data'], cache), d, 'b')
    if p := good_run(r, (_said(r, 'saved'), 'the next run did not decode and save: ' + _last_line(r.text)),
                     (not _notes(r), f'a note about a cache that was never whole: {_notes(r)}'),
                     (not temps(cache), f'temporary files left: {temps(cache)}')): return p
    r = _run(loaders(BASE['data'], cache), d, 'c')
    if p := good_run(r, (_said(r, 'read'), 'the saved cache was not read back: ' + _last_line(r.text))): return p
    return 'clean', f'killed mid-write; the next run decoded and saved, no temporary file left; then read back: {r.out.splitlines()[-1]}'

@case('interrupted', 'killed just before a decoded-image cache is renamed into place')
def cache_killed_at_rename(d):
    cache = d/'cache'
    r = _run(loaders(BASE['data'], cache), d, 'a')                  # a whole cache at 32 px
    if p := good_run(r, (_said(r, 'saved'), 'the cache was not saved: ' + _last_line(r.text))): return p
    r = _run(loaders(BASE['data'], cache, inject=kill_at_rename(cache, mark=d), check=False, size=SIZE - 8), d, 'b')
    if not fired(d): return 'wrong', 'the cache was never renamed: ' + _last_line(r.text)
    if p := first_problem(r, expect_rc=-signal.SIGKILL): return p  # ...and one at 24 px killed before its rename
    if len(_caches(cache)) != 1: return 'wrong', f'a cache file appeared although the rename never ran: {_caches(cache)}'
    left = temps(cache)
    r = _run(loaders(BASE['data'], cache), d, 'c')                  # the next run reads the whole one, and tidies up
    if p := good_run(r, (_said(r, 'read'), 'the next run did not read the whole cache: ' + _last_line(r.text)),
                     (not temps(cache), f'temporary files left: {temps(cache)}')): return p
    return 'clean', f'killed before the rename ({len(left)} temporary file(s) left); the next run read the whole cache and removed them'

def _forged(key:str, n:int) -> bytes:
    "A well-formed safetensors file claiming the key `key` but holding `n` blank squares and no right checksum."
    hdr = {'__metadata__': {'key': key, 'sha1': '0'*40},
           'images': {'dtype': 'U8', 'shape': [n, 3, SIZE, SIZE], 'data_offsets': [0, n*3*SIZE*SIZE]},
           'ok': {'dtype': 'U8', 'shape': [n], 'data_offsets': [n*3*SIZE*SIZE, n*3*SIZE*SIZE + n]}}
    h = json.dumps(hdr).encode(); h += b' '*(-len(h) % 8)
    return len(h).to_bytes(8, 'little') + h + bytes(n*3*SIZE*SIZE + n)

@case('interrupted', 'a cut-short or wrong decoded-image cache left behind')
def cache_damaged(d):
    cache = d/'cache'
    r = _run(loaders(BASE['data'], cache), d, 'a')
    if p := good_run(r, (len(_caches(cache)) == 1, f'no cache written: {_caches(cache)}')): return p
    fn = cache/_caches(cache)[0]; whole = fn.read_bytes(); key = fn.stem.rsplit('-', 1)[1]
    n = int(re.search(r'saved (\d+) decoded', r.out)[1])
    for i, (what, bad) in enumerate([('cut short', whole[:len(whole)//3]), ('fewer photos', _forged(key, n - 3)),
                                     ('blank pixels', _forged(key, n))]):
        fn.write_bytes(bad)
        r = _run(loaders(BASE['data'], cache), d, str(i))
        notes = _notes(r)
        if p := good_run(r, (len(notes) == 1 and 'ignored' in notes[0], f'{what}: not one note: {notes}'),
                         (_said(r, 'saved'), f'{what}: not decoded and saved again: ' + _last_line(r.text))): return p
    return 'clean', f'each ignored, decoded again and rewritten: {notes[0]}'

def _not_saved(r, cache, reason):
    "The checks of a run whose cache could not be saved: one line naming it and its size, nothing left in the folder."
    notes = _notes(r)
    return ((len(notes) == 1 and 'not saved' in notes[0] and str(cache) in notes[0] and 'MB' in notes[0],
             f'not one line naming the cache and its size: {notes or _last_line(r.err)}'),
            (reason in notes[0] if notes else False, f'the line does not say why ({reason!r}): {notes}'),
            (not list(Path(cache).iterdir()), f'left in the cache folder: {sorted(p.name for p in Path(cache).iterdir())}'))

@case('disk', 'decoded-image cache folder on a full disk', needs=('mount',))
def cache_disk_full(d):
    cache, out = d/'cache', d/'m.safetensors'
    with small_fs(cache, 16 << 10):
        if shutil.disk_usage(cache).total >= 24*3*SIZE*SIZE: return 'wrong', 'the small disk is big enough for the cache'
        r = _run(train_fast(BASE['data'], out, cache), d)
        if p := good_run(r, *_not_saved(r, cache, 'No space left'), (is_model(out), 'no model saved')): return p
        if totals(r) is None or sum(totals(r)) != 24: return 'wrong', f'trained on {totals(r)} images, not 24'
    return 'clean', f'trained from memory and saved the model; {_notes(r)[0]}'

@case('disk', 'file-size limit below the decoded-image cache')
def cache_file_size_limit(d):
    cache = d/'cache'
    r = _run(loaders(BASE['data'], cache, fsize=16 << 10, fit=True), d)
    if p := good_run(r, *_not_saved(r, cache, 'file-size limit'),
                     ('trained one epoch' in r.out, 'training did not go on: ' + _last_line(r.text))): return p
    return 'clean', f'trained one epoch from memory; {_notes(r)[0]}'

@case('changing', 'photos vanish or break between the scan and the decode (train --fast, no cache)')
def cache_photos_vanish(d):
    data, out = _data(d), d/'m.safetensors'
    gone, broken = data/'Toycat_Disc_3.jpg', data/'toydog_square_5.jpg'
    def change(): gone.unlink(); broken.write_bytes(broken.read_bytes()[:300])
    r = _run(train_fast(data, out, inject=after_scan(d, change)), d)
    if not Path(d, '.fault-changed').exists(): return 'wrong', 'the photos were never changed: ' + _last_line(r.text)
    named = [l for l in r.err.splitlines() if 'left out' in l and (gone.name in l or broken.name in l)]
    if p := good_run(r, (is_model(out), 'no model saved'), (len(named) == 2, f'the two photos are not both named: {named}'),
                     (totals(r) is not None and sum(totals(r)) == 22, f'counts {totals(r)}, not 22 of 24')): return p
    return 'clean', f'trained on the 22 others, the 2 named: {named[0][:120]}'

@case('changing', 'a photo replaced (same size and time) while the decoded-image cache fills')
def cache_photo_replaced(d):
    data, cache = _data(d), d/'cache'
    p = data/'Toycat_Disc_2.jpg'
    a, b = image_bytes(noisy_image((SIZE, SIZE), 1), 'JPEG'), image_bytes(noisy_image((SIZE, SIZE), 2), 'JPEG')
    n = max(len(a), len(b)); a, b = a + bytes(n - len(a)), b + bytes(n - len(b))   # JPEG readers stop at the end marker
    p.write_bytes(a)
    def change():   # as `cp -p` or `rsync -t` replace it: another photo, the same size and modification time
        st = os.stat(p); p.write_bytes(b); os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    r = _run(loaders(data, cache, inject=during_decode(d, change), check=False), d, 'a')
    if not Path(d, '.fault-changed').exists(): return 'wrong', 'the photo was never replaced: ' + _last_line(r.text)
    if pr := first_problem(r): return pr
    if r.rc != 0: return 'wrong', f'exit {r.rc}: ' + _last_line(r.err)
    r2 = _run(loaders(data, cache), d, 'b')
    if pr := good_run(r2): return pr
    return 'clean', f'first run: {(_notes(r) or [_last_line(r.out)])[0][:140]}; the next run: {r2.out.splitlines()[-1]}'
