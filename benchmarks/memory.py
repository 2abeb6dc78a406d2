"""Peak memory of `petbook train` and `petbook predict` against the number of photos.

    python benchmarks/memory.py --data DIR [--counts 400,2000,7390] [--commands train,predict,train-fast]
                                [--size 64] [--out petbook/results/memory.json]

For each count N it fills a temporary folder (outside the checkout) with N copies of the real photos in DIR, under
Pets names (`Bengal_10001.jpg`: the breed of the photo copied, a new number; real copies, since petbook counts two
names of one file once), then runs, each as a fresh process:

- `train`:      `petbook train --data FOLDER --out MODEL --size 64 --epochs 1 --device cpu --num-workers 0` (the stock loaders)
- `predict`:    `petbook predict MODEL <the N photos> --device cpu`
- `train-fast`: `train` with `--fast` (every photo decoded once and kept in memory as uint8)

and reads the process's peak resident memory (max RSS, from `os.wait4`'s resource usage of that one child). It prints
a table, writes the results, and says in one line per command how many MB each extra 1,000 photos cost against what
the work itself needs: the stock loaders stream, so only the file list and the labels grow (well under 1 MB per
1,000 photos); `--fast` holds N×3×size×size bytes of pixels. It is a benchmark, not a test: run it deliberately.
"""
import argparse, json, os, platform, random, re, shutil, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, '-m', 'petbook.cli']
ENV = {'PYTHONWARNINGS': 'ignore', 'MPLBACKEND': 'Agg'}
FLAT = 2.0   # MB per 1,000 photos: more than this above what the work needs is growth to explain

def pets_copies(src:Path, dest:Path, n:int, reuse:Path=None) -> list:
    "`n` copies of the photos in `src` in `dest`, named `<Breed>_<10001+i>.jpg`; the first ones linked from `reuse` (same names)."
    photos = sorted(p for p in src.iterdir() if p.suffix.lower() in ('.jpg', '.jpeg') and re.match(r'.+_\d+$', p.stem))
    if not photos: sys.exit(f'memory: no Pets-named photos in {src}')
    random.Random(0).shuffle(photos)   # every count gets both species and many breeds
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = photos[i % len(photos)]
        f = dest/f'{p.stem.rsplit("_", 1)[0]}_{10001 + i}{p.suffix.lower()}'
        if reuse is not None and (reuse/f.name).exists(): os.link(reuse/f.name, f)   # another folder: still one name each here
        else: shutil.copyfile(p, f)
        out.append(f)
    return out

def peak(argv:list, log:Path) -> dict:
    "Run `argv` as a fresh process (output to `log`); its exit status, peak resident memory (MB) and seconds."
    t0 = time.time()
    with open(log, 'w') as fo:
        p = subprocess.Popen(argv, stdout=fo, stderr=subprocess.STDOUT, env={**os.environ, **ENV}, cwd=log.parent)
        _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return dict(rc=p.returncode, peak_mb=round(ru.ru_maxrss/1024, 1), seconds=round(time.time() - t0, 1))

def slope(rows:list) -> float:
    "MB per 1,000 photos: least squares through (photos, peak MB)."
    xs, ys = [r['photos']/1000 for r in rows], [r['peak_mb'] for r in rows]
    mx, my = sum(xs)/len(xs), sum(ys)/len(ys)
    return sum((x - mx)*(y - my) for x, y in zip(xs, ys)) / sum((x - mx)**2 for x in xs)

def needed(cmd:str, size:int) -> tuple:
    "(MB per 1,000 photos the work itself needs, what it is)."
    if cmd == 'train-fast': return 1000*3*size*size/2**20, f'the decoded set, 3×{size}×{size} bytes a photo'
    return 0.5, 'the file list, labels and results (a few hundred bytes a photo)'

def verdict(cmd:str, rows:list, size:int) -> str:
    "One line: does peak memory grow no faster than the work needs?"
    s, (need, what) = slope(rows), needed(cmd, size)
    ok = s <= need + FLAT
    return (f'{cmd}: {s:+.1f} MB per extra 1,000 photos (the work needs about {need:.1f}: {what}): '
            + ('no faster than the work needs' if ok else f'grows {s - need:.1f} MB per 1,000 photos faster than the work needs'))

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--data', default=os.environ.get('PETBOOK_DATA'), help='folder of real Pets-named photos to copy')
    ap.add_argument('--counts', default='400,2000,7390')
    ap.add_argument('--commands', default='train,predict')
    ap.add_argument('--size', type=int, default=64)
    ap.add_argument('--epochs', type=int, default=1)
    ap.add_argument('--arch', default='efficientnet_lite0')
    ap.add_argument('--out', default=str(ROOT/'petbook'/'results'/'memory.json'))
    a = ap.parse_args()
    if not a.data: sys.exit('memory: pass --data DIR (a folder of Pets-named photos) or set PETBOOK_DATA')
    counts, cmds = sorted(int(c) for c in a.counts.split(',')), a.commands.split(',')
    tmp = Path(tempfile.mkdtemp(prefix='petbook-memory-'))
    opts = ['--size', a.size, '--epochs', a.epochs, '--arch', a.arch, '--device', 'cpu', '--num-workers', '0']
    rows, t00 = [], time.time()
    try:
        last = None
        for n in counts:
            d = tmp/f'n{n}'
            files = pets_copies(Path(a.data), d/'photos', n, reuse=last)
            last, model = d/'photos', d/'model.safetensors'
            for cmd in cmds:
                if cmd == 'predict':
                    if not model.exists(): sys.exit('memory: predict needs the model that train writes: list train first')
                    argv = ['predict', model, *files, '--device', 'cpu']
                else: argv = ['train', '--data', d/'photos', '--out', model, *opts, *(['--fast'] if cmd == 'train-fast' else [])]
                r = peak(CLI + [str(x) for x in argv], d/f'{cmd}.log')
                log = (d/f'{cmd}.log').read_text(errors='replace')
                if r['rc'] != 0: sys.exit(f'memory: {cmd} on {n} photos failed (exit {r["rc"]}):\n{log[-2000:]}')
                if cmd == 'predict' and (k := sum(1 for l in log.splitlines() if l.count('\t') == 2)) != n:
                    sys.exit(f'memory: predict labelled {k} of {n} photos')
                shown = ' '.join(['petbook', *(str(x) for x in argv[:1]), *([f'MODEL <{n} photos>', '--device', 'cpu'] if cmd == 'predict' else
                                  ['--data', 'FOLDER', '--out', 'MODEL', *map(str, opts), *(['--fast'] if cmd == 'train-fast' else [])])])
                rows.append(dict(photos=n, command=cmd, run=shown, peak_mb=r['peak_mb'], seconds=r['seconds']))
                print(f"{n:6,} photos  {cmd:10}  peak {r['peak_mb']:8.1f} MB  {r['seconds']:6.1f} s", flush=True)
            shutil.rmtree(d, ignore_errors=True)
    finally: shutil.rmtree(tmp, ignore_errors=True)

    import torch
    lines = [verdict(c, [r for r in rows if r['command'] == c], a.size) for c in cmds]
    print(f"\n{'photos':>7} " + ''.join(f'{c + " MB":>16}{"s":>8}' for c in cmds))
    for n in counts:
        by = {r['command']: r for r in rows if r['photos'] == n}
        print(f'{n:7,} ' + ''.join(f"{by[c]['peak_mb']:16.1f}{by[c]['seconds']:8.1f}" for c in cmds))
    print('\n' + '\n'.join(lines))
    res = dict(what='peak resident memory (max RSS of the one process, os.wait4) of petbook commands against the number of photos',
               photos=f'copies of {len(list(Path(a.data).glob("*.jpg")))} real photos under new Pets names', body=a.arch, size=a.size, epochs=a.epochs,
               device='cpu', num_workers=0, cpus=os.cpu_count(), torch_threads=torch.get_num_threads(), machine=platform.machine(),
               python=platform.python_version(), torch=torch.__version__, seconds=round(time.time() - t00),
               rows=rows, slopes_mb_per_1000={c: round(slope([r for r in rows if r['command'] == c]), 2) for c in cmds}, verdict=lines)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1) + '\n')
