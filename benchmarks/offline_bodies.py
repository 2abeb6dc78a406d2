"""Which offline body? EfficientNet-Lite0, Lite1 and Lite2, each trained with `petbook train`'s defaults, side by side,
judged on photos the training never saw.

    python benchmarks/offline_bodies.py [--data DIR] [--oxford DIR] [--sizes 224,native] [--epochs 1,2] [--no-tta]
                                        [--one-by-one 60] [--threads 2] [--out petbook/results/offline_bodies.json]

`--data` (default `../shared/realpets/catsdogs` beside the checkout): a folder of Pets-named cat and dog photos to
train on; `--oxford` (default `../shared/realpets/oxford`): Pets-named photos never trained on. For each size, each
body in turn (so a change in the machine's load touches all three alike):

- **train**: `petbook.cli.train(data, out, arch=body, size=size, epochs=epochs)`, the function behind `petbook train`,
  with every other setting its default: species labels, the split `valid_pct=0.2, seed=42`, `fine_tune_pets` for
  `epochs` epochs (the head on the frozen body, BatchNorm frozen, peak lr 2e-3), batch size 64, the CPU, fastai's
  loader workers.
  Seconds: the whole call (scan, DataLoaders, learner, fit, save) and the fit alone.
- **error** on the photos the split held out of `--data` (20%) and on every `--oxford` photo, species from the name
  (capitalised = cat), with batched prediction: `learn.dls.test_dl(files)` + `get_preds`, whose photos/s (decoding
  included) is the batched throughput.
- **one at a time**, as `petbook predict` does: `load_model` of the saved file, then `check_image` + `predict_image`
  per photo, on the first `--one-by-one` Oxford photos (their labels must agree with the batched ones).
- **test-time augmentation** (unless `--no-tta`), after every plain run is done and printed: fastai's `learn.tta`
  (4 passes with the training transforms, here random crops of the resize, blended with the plain pass) on both
  sets, with its seconds; at the sizes `--tta-sizes` (default 224).

Sizes: 224 (petbook's default) and `native`, the size each body's ImageNet weights were trained at (Lite1 240,
Lite2 260; Lite0's is 224, so it is not run twice). The results file is rewritten after every run, so an interrupted
run keeps what it measured; it names the photos by what they are, never by where they lie. The CPU may be shared:
each run records the load average (1 min) at its start and end, and `--append` adds runs measured again (for
instance a body timed under a heavier load) to the file, beside the first ones.
"""
import argparse, hashlib, json, os, platform, sys, tempfile, time, warnings
from contextlib import redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent/'shared'/'realpets'

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', type=Path, default=SHARED/'catsdogs', help='Pets-named cat and dog photos to train on (20%% held out)')
    p.add_argument('--oxford', type=Path, default=SHARED/'oxford', help='Pets-named photos never trained on')
    p.add_argument('--bodies', default='efficientnet_lite0,efficientnet_lite1,efficientnet_lite2')
    p.add_argument('--sizes', default='224,native', help="comma-separated pixel sizes; 'native' = each body's ImageNet size")
    p.add_argument('--epochs', default='1', help='comma-separated epoch counts (each size and body trained for each)')
    p.add_argument('--no-tta', action='store_true', help='skip test-time augmentation')
    p.add_argument('--tta-sizes', default='224', help="sizes whose runs also get TTA (comma-separated; 'all' for every run)")
    p.add_argument('--one-by-one', type=int, default=60, help="Oxford photos predicted one at a time, as `petbook predict` does")
    p.add_argument('--threads', type=int, default=2, help='torch threads (and OMP_NUM_THREADS)')
    p.add_argument('--max-images', type=int, default=None, help='train on a subset (a quick check of this script; not a result)')
    p.add_argument('--out', type=Path, default=ROOT/'petbook'/'results'/'offline_bodies.json')
    p.add_argument('--append', action='store_true', help="add these runs to --out's (e.g. to time a body again at another load)")
    return p.parse_args(argv)

A = parse_args()
for name, what in (('--data', A.data), ('--oxford', A.oxford)):
    if not what.is_dir():
        sys.exit(f'offline_bodies: {name} {what} is not a folder. This benchmark needs real photos: --data, a folder of '
                 f'Pets-named cat and dog photos (Cat_1.jpg, dog_1.jpg, ...), and --oxford, Pets-named photos never trained '
                 f'on (by default both come from {SHARED} beside the checkout).')
os.environ['OMP_NUM_THREADS'] = os.environ['MKL_NUM_THREADS'] = str(A.threads)
warnings.filterwarnings('ignore')

import torch, fastai, timm
from fastai.callback.core import Callback
torch.set_num_threads(A.threads)
from petbook import __version__ as petbook_version
from petbook.cli import train
from petbook.data import check_image
from petbook.labels import is_cat, is_pets_name
from petbook.learner import LITES, lite_weights_path
from petbook.finetune import load_model, predict_image

class FitTimer(Callback):
    "Seconds from the start to the end of `fit` (the training itself, without the scan, the DataLoaders and the save)."
    order = -100
    def before_fit(self): self.t0 = time.perf_counter()
    def after_fit(self): self.seconds = time.perf_counter() - self.t0

def photos(folder:Path) -> list:
    "The Pets-named image files directly in `folder`, sorted."
    return sorted(f for f in folder.iterdir() if f.suffix.lower() in ('.jpg', '.jpeg', '.png') and is_pets_name(f.name))

def digest(files) -> str: return hashlib.sha256('\n'.join(sorted(f.name for f in files)).encode()).hexdigest()[:16]

def describe(files, what:str) -> dict:
    "A set of photos in words and counts, with a digest of their names: no local path."
    n_cat = sum(map(is_cat, files))
    return dict(what=what, n=len(files), cats=n_cat, dogs=len(files) - n_cat, names_sha256_16=digest(files))

def scored(learn, files, tta:bool=False) -> tuple:
    "Batched prediction of `files` (with fastai's `learn.tta` if `tta`): errors against the name's species, seconds, photos/s; and the labels."
    dl = learn.dls.test_dl(files)
    t0 = time.perf_counter()
    with learn.no_bar(): probs, _ = learn.tta(dl=dl) if tta else learn.get_preds(dl=dl)
    s = time.perf_counter() - t0
    pred = [bool(learn.dls.vocab[i]) for i in probs.argmax(1).tolist()]   # vocab [False, True]: True = cat
    wrong = [f.name for f, p in zip(files, pred) if p != is_cat(f)]
    return dict(n=len(files), errors=len(wrong), error_rate=round(len(wrong)/len(files), 4), seconds=round(s, 2),
                photos_per_s=round(len(files)/s, 1), wrong=wrong), pred

def one_by_one(model:Path, files, batched_pred) -> dict:
    "`petbook predict`'s path: load the model file, then check and predict each photo in turn."
    t0 = time.perf_counter()
    with redirect_stdout(sys.stderr): learn = load_model(model, device='cpu')
    t1 = time.perf_counter()
    labels = []
    for f in files:
        assert check_image(f) is None, f.name
        with redirect_stdout(sys.stderr): labels.append(predict_image(learn, f)[0])
    t2 = time.perf_counter()
    agree = sum((l == 'cat') == p for l, p in zip(labels, batched_pred))
    return dict(n=len(files), load_s=round(t1 - t0, 2), seconds=round(t2 - t1, 2), ms_per_photo=round(1000*(t2 - t1)/len(files), 1),
                photos_per_s=round(len(files)/(t2 - t1), 1), agree_with_batched=agree)

def run(arch:str, size:int, epochs:int, tmp:Path, oxford:list) -> dict:
    timer, load0 = FitTimer(), os.getloadavg()[0]
    model = tmp/f'{arch}-{size}-{epochs}.safetensors'
    t0 = time.perf_counter()
    with redirect_stdout(sys.stderr):
        learn = train(A.data, model, arch=arch, size=size, epochs=epochs, max_images=A.max_images, cbs=[timer])
    train_s = time.perf_counter() - t0
    held = sorted(learn.dls.valid_ds.items)
    r = dict(arch=arch, timm=LITES[arch].timm, size=size, epochs=epochs, native_size=LITES[arch].size,
             params_body=sum(p.numel() for p in learn.model[0].parameters()),
             n_train=len(learn.dls.train_ds), train_s=round(train_s, 1), fit_s=round(timer.seconds, 1),
             recorder=dict(zip(learn.recorder.metric_names[1:], [round(float(x), 4) for x in learn.recorder.values[-1]])),
             held_out_names_sha256_16=digest(held), loadavg_start=round(load0, 2))
    r['held_out'], _ = scored(learn, held)
    r['oxford'], ox_pred = scored(learn, oxford)
    n_all = r['held_out']['n'] + r['oxford']['n']
    r['batched_photos_per_s'] = round(n_all/(r['held_out']['seconds'] + r['oxford']['seconds']), 1)
    if A.one_by_one: r['one_by_one'] = one_by_one(model, oxford[:A.one_by_one], ox_pred[:A.one_by_one])
    r['loadavg_end'] = round(os.getloadavg()[0], 2)
    model.unlink(missing_ok=True)
    return r, learn

def add_tta(r:dict, learn, oxford:list):
    "TTA errors and seconds for a run, and its cost relative to the plain batched pass over the same photos."
    load0 = os.getloadavg()[0]
    r['tta'] = dict(held_out=scored(learn, sorted(learn.dls.valid_ds.items), tta=True)[0], oxford=scored(learn, oxford, tta=True)[0])
    r['tta']['seconds_vs_plain'] = round((r['tta']['held_out']['seconds'] + r['tta']['oxford']['seconds'])
                                         / (r['held_out']['seconds'] + r['oxford']['seconds']), 1)
    r['tta']['loadavg'] = [round(load0, 2), round(os.getloadavg()[0], 2)]

def table(runs) -> str:
    head = (f"{'body':19} {'px':>4} {'ep':>2} {'held-out err':>14} {'Oxford err':>13} {'train s':>8} {'fit s':>6} "
            f"{'batch ph/s':>10} {'1-by-1 ms':>9} {'load':>4}" + (f" {'TTA held':>9} {'TTA Oxf':>8} {'TTA cost':>8}" if any('tta' in r for r in runs) else ''))
    lines = [head, '-'*len(head)]
    for r in runs:
        h, o = r['held_out'], r['oxford']
        line = (f"{r['arch']:19} {r['size']:>4} {r.get('epochs', 1):>2} {h['errors']:>4}/{h['n']:<3} {h['error_rate']:6.2%} {o['errors']:>3}/{o['n']:<3} "
                f"{o['error_rate']:6.2%} {r['train_s']:>8.0f} {r['fit_s']:>6.0f} {r['batched_photos_per_s']:>10.1f} "
                f"{r['one_by_one']['ms_per_photo'] if 'one_by_one' in r else float('nan'):>9.0f} {r['loadavg_start']:>4.1f}")
        if 'tta' in r:
            line += (f" {r['tta']['held_out']['error_rate']:>9.2%} {r['tta']['oxford']['error_rate']:>8.2%}"
                     f" {r['tta']['seconds_vs_plain']:>7.1f}x")
        elif any('tta' in r for r in runs): line += f" {'-':>9} {'-':>8} {'-':>8}"
        lines.append(line)
    return '\n'.join(lines)

def main():
    bodies = A.bodies.split(',')
    for b in bodies:
        if b not in LITES: sys.exit(f'offline_bodies: unknown body {b!r} (one of {", ".join(LITES)})')
        try: lite_weights_path(b)
        except ImportError as e: sys.exit(f'offline_bodies: {e}')
    data, oxford = photos(A.data), photos(A.oxford)
    if not data or not oxford: sys.exit(f'offline_bodies: no Pets-named photos in {A.data if not data else A.oxford}')
    plan = []
    for s in A.sizes.split(','):
        for b in bodies:
            size = LITES[b].size if s == 'native' else int(s)
            for e in map(int, A.epochs.split(',')):
                if (b, size, e) not in plan: plan.append((b, size, e))
    res = dict(
        what='EfficientNet-Lite0/1/2 as offline bodies: petbook train defaults, error on photos outside the training set',
        settings=dict(command='petbook.cli.train(data, out, arch=BODY, size=SIZE), every other setting its default',
                      label='species', valid_pct=0.2, seed=42, epochs='per run', recipe='fine_tune_pets: head on the frozen body, BatchNorm frozen',
                      bs=64, device='cpu', max_images=A.max_images,
                      tta_how="fastai learn.tta(dl=test_dl): 4 passes with the training transforms (random crops) + the plain one",
                      one_by_one_photos=A.one_by_one, batched='learn.dls.test_dl(files) + get_preds, decoding included'),
        machine=dict(cpus=os.cpu_count(), torch_threads=torch.get_num_threads(), machine=platform.machine(),
                     processor=platform.processor() or None, gpu=torch.cuda.is_available(), torch=torch.__version__,
                     fastai=fastai.__version__, timm=timm.__version__, petbook=petbook_version,
                     python=platform.python_version(), note='times depend on the load of the machine: see each run\'s loadavg'),
        photos=dict(train_folder=describe(data, 'Kaggle cats-and-dogs photos (Cat_<n>.jpg, dog_<n>.jpg); '
                                                '80% train, the 20% held out by the split are scored'),
                    oxford=describe(oxford, 'Oxford-IIIT Pets photos, Pets names (capitalised breed = cat), never trained on')),
        runs=[])
    if A.max_images: res['note'] = f'a quick check on {A.max_images} photos, not a result'
    if A.append and A.out.exists():
        old = json.loads(A.out.read_text())
        if old['photos'] != res['photos']: sys.exit(f'offline_bodies: {A.out} was measured on other photos: not appending')
        res['runs'], res['passes'] = old['runs'], old.get('passes', [])
    n_pass = 1 + max((r.get('pass', 1) for r in res['runs']), default=0)
    res.setdefault('passes', []).append({'pass': n_pass, 'bodies': A.bodies, 'sizes': A.sizes, 'epochs': A.epochs, 'one_by_one': A.one_by_one,
                                         'tta_sizes': None if A.no_tta else A.tta_sizes, 'loadavg_start': round(os.getloadavg()[0], 2)})
    print(f"{len(data)} photos to train on, {len(oxford)} Oxford photos; runs: {', '.join(f'{b}@{s}x{e}' for b, s, e in plan)}", flush=True)
    def write():
        A.out.parent.mkdir(parents=True, exist_ok=True)
        A.out.write_text(json.dumps(res, indent=1) + '\n')
    learners = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch, size, epochs in plan:
            r, learn = run(arch, size, epochs, Path(tmp), oxford)
            r['pass'] = n_pass
            res['runs'].append(r); learners.append(learn); write()
            print(f"{arch} at {size} px, {epochs} epoch(s): held-out {r['held_out']['error_rate']:.2%}, Oxford {r['oxford']['error_rate']:.2%}, "
                  f"train {r['train_s']:.0f} s, load {r['loadavg_start']}->{r['loadavg_end']}", flush=True)
    print(); print(table(res['runs']), flush=True)
    if not A.no_tta:
        for r, learn in zip(res['runs'][-len(learners):], learners):
            if A.tta_sizes != 'all' and str(r['size']) not in A.tta_sizes.split(','): continue
            add_tta(r, learn, oxford); write()
            print(f"{r['arch']} at {r['size']} px with TTA: held-out {r['tta']['held_out']['error_rate']:.2%}, "
                  f"Oxford {r['tta']['oxford']['error_rate']:.2%}, {r['tta']['seconds_vs_plain']}x the plain pass's seconds", flush=True)
        print(); print(table(res['runs']))
    print(f"\nwrote {A.out.relative_to(ROOT) if A.out.is_relative_to(ROOT) else A.out}")

if __name__ == '__main__': main()
