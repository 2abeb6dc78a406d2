"""Reliability and security tests for petbook (issue 5): hostile files, bad folders, offline and cut-short
downloads, malicious archives, determinism, and property-based tests of the name -> label functions and the scan.

Every file is made in the test; nothing is downloaded. The reliability page (`nbs/09_reliability.ipynb`) has the
table that maps each hostile input to the test here that proves it.
"""
import io, os, sys, shutil, subprocess, tarfile, tempfile, time, textwrap, math
from pathlib import Path
import numpy as np
import pytest
from PIL import Image
from hypothesis import given, settings, strategies as st, HealthCheck
from fastdownload import path_stats
from fastai.vision.all import set_seed, get_image_files
from petbook.data import *
from petbook.labels import *
from petbook.dataloaders import *
from petbook.reliability import *
import petbook.data as pdata

BY_NAME = {h.name: h for h in HOSTILE}
REASON = {  # what the report must say for each hostile file that is refused or skipped
    'Abyssinian_901.jpg': 'truncated', 'Abyssinian_902.jpg': 'truncated', 'Abyssinian_903.jpg': 'empty file',
    'Abyssinian_904.jpg': 'UnidentifiedImageError', 'Abyssinian_905.jpg': 'a directory', 'Abyssinian_906.jpg': 'too small (1×1)',
    'Abyssinian_907.png': 'decompression bomb', 'Abyssinian_908.png': 'decompression bomb',
    'Abyssinian_909.jpg': 'FileNotFoundError', '.DS_Store': 'hidden file', '._Bengal_1.jpg': 'hidden file',
    '.thumbnails': 'hidden folder', 'Thumbs.db': 'not an image extension', 'beagle_901.jpg.part': 'not an image extension'}


def _outcomes(scan, rep=None):
    "{path: outcome} as petbook reported it."
    out = {p: 'bad' for p, _ in scan.bad} | {p: 'skipped' for p, _ in scan.skipped}
    rep = rep or label_report(scan.good)
    return out | {p: 'good' for p in scan.good} | {p: 'odd' for p in rep.odd}


# ---------------------------------------------------------------- hostile files, one at a time

@pytest.mark.parametrize('name', [h.name for h in HOSTILE])
def test_each_hostile_file(tmp_path, name):
    "Each hostile file alone among two good photos gets exactly its outcome and reason."
    photo(seed=11).save(tmp_path/'Bengal_1.jpg'); photo(seed=12).save(tmp_path/'beagle_1.jpg')
    expected = make_hostile(tmp_path, [name])
    scan = scan_images(tmp_path)
    got = _outcomes(scan)
    (p, outcome), = expected.items()
    assert got[p] == outcome
    assert got[tmp_path/'Bengal_1.jpg'] == got[tmp_path/'beagle_1.jpg'] == 'good'
    assert len(scan.good) + len(scan.bad) + len(scan.skipped) == 3
    if name in REASON: assert REASON[name] in dict(scan.bad + scan.skipped)[p]
    if outcome == 'good': assert p in scan.good and check_image(p) is None


def test_converted_formats_load_as_rgb(tmp_path):
    "Alpha, greyscale, CMYK, 16-bit, GIF, palette+transparency load as 8-bit RGB with their content, not a blank."
    made = make_hostile(tmp_path, [h.name for h in HOSTILE if h.outcome == 'good'])
    src = np.asarray(photo(), dtype=float).mean()
    for p in made:
        im = PetImage.create(p)
        assert im.mode == 'RGB' and min(im.size) >= 6, p.name
        a = np.asarray(im, dtype=float)
        assert a.std() > 20 or p.name == 'Bengal_908.jpg', p.name     # noise stays noise, not a flat colour
    mean = lambda n: np.asarray(PetImage.create(tmp_path/n), dtype=float).mean()
    for n in ['Bengal_901.png', 'Bengal_903.jpg', 'Bengal_905.gif']: assert abs(mean(n) - src) < 4, n
    assert abs(mean('Bengal_904.png') - 127.5) < 2            # 16-bit scaled, not clipped to 255
    corr = lambda a, b: np.corrcoef(np.asarray(a, float).ravel(), np.asarray(b, float).ravel())[0, 1]
    grey = photo().convert('L')                               # the content survives, not just the average
    for n in ['Bengal_901.png', 'Bengal_909.png', 'Bengal_902.jpg', 'Bengal_903.jpg', 'Bengal_905.gif']:
        assert corr(PetImage.create(tmp_path/n).convert('L'), grey) > 0.9, n
    src16 = np.asarray(Image.open(tmp_path/'Bengal_904.png'))
    assert corr(PetImage.create(tmp_path/'Bengal_904.png').convert('L'), src16) > 0.99


def test_bomb_refused_under_memory_limit(tmp_path):
    "A 30000×30000 bomb (2.7 GB decoded) is refused in a process that may not allocate 400 MB more."
    (tmp_path/'Abyssinian_1.png').write_bytes(png_header(30000, 30000))
    (tmp_path/'Abyssinian_2.png').write_bytes(png_header(10000, 10000))
    code = textwrap.dedent(f"""
        import resource, re, time
        from pathlib import Path
        from petbook.data import check_image, open_rgb
        vm = int(re.search(r'VmSize:\\s+(\\d+)', open('/proc/self/status').read())[1]) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (vm + 400*2**20, resource.RLIM_INFINITY))
        try: bytearray(900*2**20); print('limit not enforced')
        except MemoryError: pass
        d = Path({str(tmp_path)!r})
        for f in sorted(d.iterdir()):
            t = time.perf_counter(); why = check_image(f); assert 'decompression bomb' in why, why
            assert time.perf_counter() - t < 1
            try: open_rgb(f); raise SystemExit('loaded a bomb')   # what PetImage.create calls
            except Exception as e: assert 'decompression bomb' in str(e), e
        print('ok')""")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert r.stdout.strip().splitlines()[-1:] == ['ok'], r.stdout + r.stderr
    assert 'limit not enforced' not in r.stdout


# ---------------------------------------------------------------- a real folder with everything mixed in

def _wild_folder(dest, n=30):
    "Copy `n` real Oxford photos (or toy images when ../shared is absent) into `dest` and add every hostile file."
    dest.mkdir(parents=True, exist_ok=True)
    oxford = find_realpets('oxford')
    if oxford is None: make_toy_pets(dest, math.ceil(n/4), size=64)
    else:
        for f in sorted(get_image_files(oxford))[::12][:n]: shutil.copy(f, dest/f.name)
    real = set(dest.iterdir())
    return real, make_hostile(dest)


@pytest.mark.parametrize('num_workers', [0, 2])
def test_real_folder_with_all_hostiles(tmp_path, num_workers):
    "Scan reports exactly the bad ones; DataLoaders + one epoch complete and report what was skipped."
    real, expected = _wild_folder(tmp_path/'wild')
    scan = scan_images(tmp_path/'wild')
    got = _outcomes(scan)
    assert {p: o for p, o in got.items() if p not in real} == expected
    assert all(got[p] == 'good' for p in real)
    set_seed(42, reproducible=True)
    dls = pets_dls(tmp_path/'wild', size=32, bs=8, num_workers=num_workers, verbose=False)
    assert {p for p, _ in dls.skipped} == {p for p, o in expected.items() if o in ('bad', 'odd')}
    assert len(dls.train_ds) + len(dls.valid_ds) == len(real) + sum(o == 'good' for o in expected.values())
    learn = tiny_learner(dls)
    with learn.no_bar(), learn.no_logging(): learn.fit(1)
    assert len(learn.recorder.values) == 1 and all(np.isfinite(learn.recorder.values[-1]))
    learn.get_preds(dl=dls.valid)          # a whole pass over validation, in workers too


# ---------------------------------------------------------------- bad folders

def test_bad_folders(tmp_path):
    "Missing, empty, and nothing-left-after-filtering folders: one clear error each, before any work."
    with pytest.raises(FileNotFoundError, match='is not a folder'): scan_images(tmp_path/'missing')
    with pytest.raises(FileNotFoundError, match='is not a folder'): pets_dls(tmp_path/'missing')
    with pytest.raises(PetsNotFound, match='is not a folder of images'): get_pets(tmp_path/'missing')
    (tmp_path/'empty').mkdir()
    with pytest.raises(ValueError, match='No usable images'): pets_dls(tmp_path/'empty')
    with pytest.raises(PetsNotFound): get_pets(tmp_path/'empty')
    make_hostile(tmp_path/'junk', [h.name for h in HOSTILE if h.outcome != 'good'])
    with pytest.raises(ValueError, match=r'(?s)No usable images.*Abyssinian_903.jpg: empty file'): pets_dls(tmp_path/'junk')
    # a folder of good images whose names are all off the convention: nothing can be labelled
    photo().save(tmp_path/'empty'/'IMG 1.jpg')
    with pytest.raises(ValueError, match='1 off the naming convention'): pets_dls(tmp_path/'empty')


# ---------------------------------------------------------------- network and archives

def _tgz(path, members):
    "Write a .tgz: members are (name, bytes) files or (name, TarInfo-type, linkname) links."
    with tarfile.open(path, 'w:gz') as tf:
        for m in members:
            ti = tarfile.TarInfo(m[0])
            if len(m) == 3: ti.type, ti.linkname = m[1], m[2]; tf.addfile(ti)
            else: ti.size = len(m[1]); tf.addfile(ti, io.BytesIO(m[1]))
    return path


def _pets_tgz(path, n=4):
    "A fake `oxford-iiit-pet.tgz`: one top folder with images/ and annotations/, like the real one."
    files = []
    for i in range(1, n+1):
        buf = io.BytesIO(); photo(seed=i).save(buf, 'JPEG'); files.append((f'oxford-iiit-pet/images/Bengal_{i}.jpg', buf.getvalue()))
    return _tgz(path, files + [('oxford-iiit-pet/annotations/list.txt', b'# fake\n')])


@pytest.fixture
def fastai_home(tmp_path, monkeypatch):
    "A fresh, empty fastai home and no PETBOOK_DATA: as on a new machine. (fastai caches its config: cleared.)"
    from fastai.data.external import fastai_cfg
    monkeypatch.setenv('FASTAI_HOME', str(tmp_path/'fastai_home'))
    monkeypatch.delenv(PETS_ENV, raising=False)
    fastai_cfg.cache_clear()
    yield tmp_path/'fastai_home'
    fastai_cfg.cache_clear()


def test_offline_get_pets_fails_fast(fastai_home, monkeypatch):
    "Offline: PetsNotFound naming what was tried and the remedies, in well under a second, without downloading."
    monkeypatch.setattr(pdata, '_online', lambda *a, **k: False)
    monkeypatch.setattr(pdata, 'download_pets', lambda *a, **k: pytest.fail('download started while offline'))
    t = time.perf_counter()
    with pytest.raises(PetsNotFound) as e: get_pets()
    assert time.perf_counter() - t < 1
    msg = str(e.value)
    for s in ['unreachable', 'Remedies', PETS_ENV, "get_pets('/path/to/images')", 'Kaggle', str(pets_home())]: assert s in msg, s
    with pytest.raises(PetsNotFound, match='download=False'): get_pets(download=False)
    assert not pdata._online('127.0.0.1', port=9, timeout=1)   # a refused connection reads as offline


def test_get_pets_finds_fastai_copy(fastai_home):
    "An existing untar_data(URLs.PETS) copy is found where fastai puts it (~/.fastai/data/oxford-iiit-pet/images)."
    from fastai.data.external import URLs
    assert pets_home(URLs.PETS) == fastai_home/'data'/'oxford-iiit-pet'
    from fastdownload import FastDownload
    from fastai.data.external import fastai_cfg
    import fastai.data
    fd = FastDownload(fastai_cfg(), base='~/.fastai', module=fastai.data)     # what untar_data builds
    assert fd.data_path('data', Path(URLs.PETS.split('/')[-1])) == pets_home(URLs.PETS)
    d = pets_home(URLs.PETS)/'images'; d.mkdir(parents=True); photo().save(d/'Bengal_1.jpg')
    assert get_pets(download=False) == d


def test_cut_short_download_refused(tmp_path):
    "A download shorter than (or different from) the expected size and hash is deleted and refused."
    from fastai.data.external import URLs
    assert fastai_checks()[URLs.PETS][0] == 811706944          # fastai's expected size for Pets
    good = _pets_tgz(tmp_path/'oxford-iiit-pet.tgz')
    expected = path_stats(good)
    half = tmp_path/'half'/'oxford-iiit-pet.tgz'; half.parent.mkdir(); half.write_bytes(good.read_bytes()[:-100])
    arch = tmp_path/'archive'
    with pytest.raises(DownloadCorrupt, match='cut short'): download_checked(half.as_uri(), arch, expected, progress=False)
    assert list(arch.iterdir()) == []                          # nothing left behind, no .part either
    with pytest.raises(DownloadCorrupt, match='cut short'): download_pets(half.as_uri(), arch, tmp_path/'data', expected, progress=False)
    assert not (tmp_path/'data'/'oxford-iiit-pet').exists()
    # a stale, truncated archive left by an earlier run is not trusted: it is downloaded again
    (arch/'oxford-iiit-pet.tgz').write_bytes(good.read_bytes()[:1000])
    assert path_stats(download_checked(good.as_uri(), arch, expected, progress=False)) == expected
    with pytest.raises(DownloadCorrupt, match='No expected size'): download_checked(good.as_uri(), tmp_path/'x', None)


def test_download_pets_like_untar_data(tmp_path, fastai_home):
    "download_pets puts the data where untar_data does, with the same contents."
    from fastai.data.external import untar_data
    good = _pets_tgz(tmp_path/'oxford-iiit-pet.tgz')
    a = untar_data(good.as_uri(), archive=tmp_path/'a1', data=tmp_path/'d1')
    b = download_pets(good.as_uri(), tmp_path/'a2', tmp_path/'d2', expected=path_stats(good), progress=False)
    assert a.relative_to(tmp_path/'d1') == b.relative_to(tmp_path/'d2') == Path('oxford-iiit-pet')
    rel = lambda d: sorted(str(p.relative_to(d)) for p in d.rglob('*'))
    assert rel(a) == rel(b) and len(list((b/'images').iterdir())) == 4
    assert download_pets(good.as_uri(), tmp_path/'a2', tmp_path/'d2', expected=path_stats(good), progress=False) == b   # second call: no work


def test_download_needs_disk_space(tmp_path):
    "Not enough free disk: a clear error before anything is downloaded."
    good = _pets_tgz(tmp_path/'oxford-iiit-pet.tgz')
    with pytest.raises(OSError, match='needs .* GB free'):
        download_pets(good.as_uri(), tmp_path/'archive', tmp_path/'data', path_stats(good), need=10**18)
    assert not (tmp_path/'archive').exists()


EVIL = {
    'dotdot': ('pets/../../evil.txt', b'x'),
    'absolute': ('/tmp/petbook_evil.txt', b'x'),
    'symlink_absolute': ('pets/link', tarfile.SYMTYPE, '/etc'),
    'symlink_relative_out': ('pets/up', tarfile.SYMTYPE, '../../..'),
    'hardlink_out': ('pets/hard', tarfile.LNKTYPE, '../../etc/passwd'),
    'device': ('pets/dev', tarfile.CHRTYPE, ''),
}


@pytest.mark.parametrize('kind', list(EVIL))
def test_malicious_archive_refused(tmp_path, kind):
    "An archive with one member escaping its folder (or a device) is refused whole: nothing is extracted anywhere."
    t = _tgz(tmp_path/'evil.tgz', [('pets/ok.txt', b'fine'), EVIL[kind], ('pets/after.txt', b'fine')])
    before = set(tmp_path.rglob('*'))
    with pytest.raises(UnsafeArchive, match='refused'): safe_extract(t, tmp_path/'out'/'pets')
    assert set(tmp_path.rglob('*')) - before == {tmp_path/'out'}     # only the (empty) parent folder
    assert list((tmp_path/'out').iterdir()) == []
    assert not Path('/tmp/petbook_evil.txt').exists()


def test_safe_extract_keeps_safe_links(tmp_path):
    "A symlink that stays inside the archive is fine (the data filter allows it)."
    t = _tgz(tmp_path/'ok.tgz', [('pets/images/a.txt', b'a'), ('pets/latest', tarfile.SYMTYPE, 'images/a.txt')])
    out = safe_extract(t, tmp_path/'pets')
    assert (out/'latest').read_text() == 'a'


def test_extraction_is_atomic(tmp_path, monkeypatch):
    "An extraction interrupted halfway leaves no destination (nothing that looks like a complete download)."
    good = _pets_tgz(tmp_path/'oxford-iiit-pet.tgz', n=6)
    real = tarfile.TarFile.extractall
    def half_then_die(self, path, members=None, **kw):
        real(self, path, members=members[:3], **kw); raise KeyboardInterrupt('power cut')
    monkeypatch.setattr(tarfile.TarFile, 'extractall', half_then_die)
    with pytest.raises(KeyboardInterrupt): safe_extract(good, tmp_path/'data'/'oxford-iiit-pet')
    assert list((tmp_path/'data').iterdir()) == []            # no destination, no leftover partial folder
    monkeypatch.setattr(tarfile.TarFile, 'extractall', real)
    assert len(list((safe_extract(good, tmp_path/'data'/'oxford-iiit-pet')/'images').iterdir())) == 6


# ---------------------------------------------------------------- determinism

def _train(path, seed):
    set_seed(seed, reproducible=True)
    dls = pets_dls(path, size=32, bs=8, num_workers=0, seed=seed, verbose=False)
    learn = tiny_learner(dls)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-2)
    return list(dls.valid.items), learn.recorder.values[-1]


def test_same_seed_same_result(tmp_path):
    "Same seed: same split and, on CPU, the same losses and error rate to the last digit; another seed: another split."
    toy = make_toy_pets(tmp_path/'toy', 6, size=32)
    v1, r1 = _train(toy, 42)
    v2, r2 = _train(toy, 42)
    assert v1 == v2 and r1 == r2
    v3, _ = _train(toy, 7)
    assert v3 != v1


# ---------------------------------------------------------------- property-based tests

word = st.from_regex(r'[A-Za-z]{1,12}', fullmatch=True)
breed_st = st.lists(word, min_size=1, max_size=4).map('_'.join)
ext_st = st.sampled_from(['jpg', 'JPG', 'jpeg', 'png', 'PNG', 'gif', 'tif'])


@settings(max_examples=300, deadline=None)
@given(breed_st, st.integers(0, 10**9), ext_st, st.sampled_from(['', '/data/pets/', 'C d/e.f/']))
def test_breed_roundtrip(breed, n, ext, folder):
    "Any breed and number: the breed comes back, is_cat follows the first letter, folders don't matter."
    name = f'{folder}{breed}_{n}.{ext}'
    assert is_pets_name(name) and breed_of(name) == breed and is_cat(name) == breed[0].isupper()
    assert label_func('breed')(Path(name)) == breed and label_func('species')(name) == is_cat(name)


name_st = st.one_of(st.text(min_size=1, max_size=25).filter(lambda s: '/' not in s and s not in ('.', '..') and '\0' not in s),
                    st.builds(lambda b, n, e: f'{b}_{n}.{e}', breed_st, st.integers(0, 999), ext_st))


@settings(max_examples=300, deadline=None)
@given(st.lists(name_st, max_size=20), st.sampled_from(['species', 'breed']))
def test_odd_names_never_labelled(names, label):
    "label_report labels only names that fit the ASCII pattern; everything else is listed as odd, nothing lost."
    rep = label_report(names, label)
    assert rep.labelled + len(rep.odd) == len(names)
    fits = [n for n in names if is_pets_name(n)]
    assert sorted(map(str, rep.odd)) == sorted(str(Path(n)) for n in names if not is_pets_name(n))
    for n in fits:
        assert n.isascii()
        b = breed_of(n); assert n.startswith(b + '_') and b.replace('_', '').isalpha()
    for n in names:
        if not is_pets_name(n):
            with pytest.raises(ValueError, match='not a Pets name'): breed_of(n)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([h.name for h in HOSTILE]), unique=True, max_size=len(HOSTILE)),
       st.integers(0, 4), st.booleans())
def test_scan_reports_exactly_the_bad_ones(kinds, n_good, nested):
    "Random mixes of good and hostile files, flat or in a sub-folder: the scan reports exactly the bad ones."
    with tempfile.TemporaryDirectory() as d:
        d = Path(d); where = d/'sub' if nested else d
        where.mkdir(exist_ok=True)
        goods = set()
        for i in range(n_good): photo(seed=100+i).save(p := where/f'Persian_{i}.jpg'); goods.add(p)
        expected = make_hostile(where, kinds)
        scan = scan_images(d)
        got = _outcomes(scan)
        assert {p: o for p, o in got.items() if p not in goods} == expected
        assert {p for p, o in got.items() if p in goods} == goods and all(got[p] == 'good' for p in goods)
        assert scan_images(d, recurse=False).good == ([] if nested else scan.good)


_JPEG = None
def _a_jpeg():
    "The bytes of one JPEG photo: a real Oxford photo when ../shared is there, else a noisy stand-in."
    global _JPEG
    if _JPEG is None:
        oxford = find_realpets('oxford')
        if oxford is not None: _JPEG = sorted(get_image_files(oxford))[0].read_bytes()
        else: buf = io.BytesIO(); photo((320, 240)).save(buf, 'JPEG'); _JPEG = buf.getvalue()
    return _JPEG


@settings(max_examples=60, deadline=None)
@given(st.floats(0.0, 1.0, exclude_max=True))
def test_jpeg_cut_anywhere_is_refused(frac):
    "A JPEG cut short at any point is refused by the (fast, 1/8-scale) scan, and so never reaches a worker."
    data = _a_jpeg()
    with tempfile.TemporaryDirectory() as d:
        p = Path(d)/'Bengal_1.jpg'; p.write_bytes(data[:int(len(data)*frac)])
        why = check_image(p)
        assert why is not None and ('truncated' in why or 'empty' in why or 'unreadable' in why), why


def test_get_pets_downloads_through_the_safe_path(fastai_home, monkeypatch, tmp_path):
    "Online with no local copy, get_pets uses download_pets (checked and safely extracted), not untar_data."
    fake = tmp_path/'oxford-iiit-pet'; (fake/'images').mkdir(parents=True); photo().save(fake/'images'/'Bengal_1.jpg')
    monkeypatch.setattr(pdata, '_online', lambda *a, **k: True)
    monkeypatch.setattr(pdata, 'download_pets', lambda *a, **k: fake)
    monkeypatch.setattr(pdata, 'untar_data', lambda *a, **k: pytest.fail('untar_data extracts without a filter'))
    assert get_pets() == fake/'images'
