"""The Pets download, served on 127.0.0.1, for tests that run notebooks as a new user would.

`make_pets_tgz` packs a folder of Pets-named photos the way fastai's `oxford-iiit-pet.tgz` is laid out
(`oxford-iiit-pet/images/*.jpg`, `oxford-iiit-pet/annotations/list.txt`), byte for byte the same on every run.
`serve` answers HTTP GETs for a folder from a thread and counts what was fetched. `pets_env` is what `get_pets()`
is told through the variables a user has (contract 2): `PETBOOK_PETS_URL` and `PETBOOK_PETS_CHECKS`, the
archive's own `(size, md5 of the first MB)` as fastdownload's `path_stats` computes them, so the check stays on.

    with serve(make_pets_tgz(photos, tmp/'www')) as srv:
        env = pets_env(srv, archive)      # {'PETBOOK_PETS_URL': 'http://127.0.0.1:PORT/oxford-iiit-pet.tgz', ...}
"""
import io, gzip, tarfile, threading, contextlib
from collections import Counter
from functools import partial
from http.server import ThreadingHTTPServer, SimpleHTTPRequestHandler
from pathlib import Path

PETS_NAME = 'oxford-iiit-pet'        # fastai's URLs.PETS is .../oxford-iiit-pet.tgz; untar_data's folder is this
IMAGE_EXTS = ('.jpg', '.jpeg', '.png')

def _breed(fn:str) -> str: return fn.rsplit('_', 1)[0]

def _annotations(names) -> bytes:
    "A `list.txt` like the dataset's: `Image CLASS-ID SPECIES BREED-ID` (species 1 cat, 2 dog; ids count from 1)."
    breeds = sorted({_breed(n) for n in names}, key=str.lower)
    cls = {b: i+1 for i, b in enumerate(breeds)}
    per = {1: sorted(b for b in breeds if b[0].isupper()), 2: sorted(b for b in breeds if not b[0].isupper())}
    lines = ['#Image CLASS-ID SPECIES BREED ID', '#ID: 1:37 Class ids', '#SPECIES: 1:Cat 2:Dog', '#BREED ID: 1-25:Cat 1:12:Dog']
    for n in sorted(names, key=str.lower):
        b = _breed(n); sp = 1 if b[0].isupper() else 2
        lines.append(f'{Path(n).stem} {cls[b]} {sp} {per[sp].index(b)+1}')
    return ('\n'.join(lines) + '\n').encode()

def make_pets_tgz(
    photos:Path, # A flat folder of Pets-named photos (e.g. ../shared/realpets/oxford)
    dest:Path, # Folder to write `oxford-iiit-pet.tgz` into
    limit:int=None, # Pack only the first `limit` photos (sorted by name)
) -> Path: # The archive
    "A Pets-layout `.tgz` of `photos`: `oxford-iiit-pet/images/*`, `oxford-iiit-pet/annotations/list.txt`; reproducible."
    files = sorted(p for p in Path(photos).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)[:limit]
    if not files: raise FileNotFoundError(f'no photos in {photos}')
    dest = Path(dest); dest.mkdir(parents=True, exist_ok=True)
    out = dest/f'{PETS_NAME}.tgz'
    def info(name, size, kind=tarfile.REGTYPE):
        ti = tarfile.TarInfo(name); ti.size, ti.type, ti.mtime, ti.mode = size, kind, 1_500_000_000, 0o755 if kind == tarfile.DIRTYPE else 0o644
        return ti
    with open(out, 'wb') as raw, gzip.GzipFile(fileobj=raw, mode='wb', mtime=0, filename='') as gz, \
         tarfile.open(fileobj=gz, mode='w', format=tarfile.PAX_FORMAT) as tf:
        for d in (PETS_NAME, f'{PETS_NAME}/images', f'{PETS_NAME}/annotations'): tf.addfile(info(d, 0, tarfile.DIRTYPE))
        for p in files:
            with open(p, 'rb') as f: tf.addfile(info(f'{PETS_NAME}/images/{p.name}', p.stat().st_size), f)
        ann = _annotations([p.name for p in files])
        tf.addfile(info(f'{PETS_NAME}/annotations/list.txt', len(ann)), io.BytesIO(ann))
    return out

def archive_checks(archive:Path) -> str:
    "`PETBOOK_PETS_CHECKS` for `archive`: `'<size> <md5 of the first MB>'`, fastdownload's `path_stats`."
    from fastdownload import path_stats
    size, md5 = path_stats(archive)
    return f'{size} {md5}'

class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        self.server.fetched[self.path] += 1
        return super().do_GET()

@contextlib.contextmanager
def serve(
    folder:Path, # What to serve (files by name)
):
    "Serve `folder` on 127.0.0.1 (a free port) from a thread; yields the server (`.url(name)`, `.fetched` counts)."
    srv = ThreadingHTTPServer(('127.0.0.1', 0), partial(_Quiet, directory=str(folder)))
    srv.daemon_threads = True
    srv.fetched = Counter()
    srv.url = lambda name: f'http://127.0.0.1:{srv.server_address[1]}/{name}'
    t = threading.Thread(target=srv.serve_forever, name='pets-server', daemon=True)
    t.start()
    try: yield srv
    finally: srv.shutdown(); srv.server_close(); t.join(5)

def pets_env(srv, archive:Path) -> dict:
    "The variables that send `get_pets()` to `srv` for `archive`, with its checksum (contract 2)."
    return {'PETBOOK_PETS_URL': srv.url(Path(archive).name), 'PETBOOK_PETS_CHECKS': archive_checks(archive)}
