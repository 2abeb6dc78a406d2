"""Which projection shows what a unit learned? Every method of `petbook.activations.project`, checked per layer.

    python benchmarks/zf_projections.py [--data DIR] [--arch NAME] [--size 224] [--maps 3] [--methods a,b]
                                        [--threads 2] [--out petbook/results/zf_projections.json]

The model is trained as the visualize page trains it: `set_seed(42)`, `pets_dls(size=224, bs=32)` on `--data`
(default `../shared/realpets/oxford` beside the checkout, the 370 Oxford-IIIT photos), `pets_learner` with the
body `choose_body` picks (or `--arch`), `fine_tune_pets(epochs=1, body_epochs=1)`. `top_activations` ranks every
feature map of the five layers over all the photos; in each of layers 2 to 5, `--maps` feature maps are picked as
the page picks them (`pick_channels`), and their top-9 units are projected by every method. Per method and layer:

- **same**: `sameness`, the mean correlation between one map's nine projections (1: one picture whatever the photo);
- **vs random**: `vs_random` against `reinit(model)` (Adebayo et al.'s randomisation check), each network's
  envelope divided out, and beside it the plain rank correlation (`envelope=False`);
- **vs 10% noise** (deterministic methods only): `vs_random` against the trained weights each multiplied by
  (1 + 0.1·N(0,1)), the same statistic for a network that still knows what it learned; a high value here and a low
  one against random weights show that the statistic can tell the two apart;
- seconds for the three networks.

The table is printed and written, with the data, body and hardware, to `--out`.
"""
import argparse, copy, json, os, platform, sys, time, warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent/'shared'/'realpets'

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', type=Path, default=SHARED/'oxford', help='Pets-named photos (the page uses all of them)')
    p.add_argument('--arch', default=None, help="body (default: `choose_body`'s, as the page)")
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--maps', type=int, default=3, help='feature maps per layer (9 units each)')
    p.add_argument('--methods', default=None, help='comma-separated (default: every method of PROJECTIONS)')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--out', type=Path, default=ROOT/'petbook'/'results'/'zf_projections.json')
    return p.parse_args(argv)

def perturbed(model, share:float=0.1, seed:int=5):
    "A copy of `model` whose every weight is multiplied by (1 + `share`·N(0,1))."
    import torch
    m, g = copy.deepcopy(model), torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters(): p.mul_(1 + share*torch.randn(p.shape, generator=g).to(p))
    return m.eval()

def main(argv=None):
    a = parse_args(argv)
    warnings.filterwarnings('ignore')
    import torch
    from fastai.vision.all import set_seed
    from petbook.dataloaders import pets_dls
    from petbook.learner import pets_learner
    from petbook.finetune import fine_tune_pets
    from petbook.fields import zf_layers
    from petbook.activations import top_activations, dl_images, project, reinit, field_view, sameness, vs_random, PROJECTIONS
    from petbook.visualize import pick_channels
    torch.set_num_threads(a.threads)
    methods = a.methods.split(',') if a.methods else list(PROJECTIONS)
    set_seed(42, reproducible=True)
    dls = pets_dls(a.data, size=a.size, bs=32, num_workers=0, verbose=False)
    learn = pets_learner(dls, a.arch)
    t0 = time.time()
    with learn.no_bar(), learn.no_logging():
        fine_tune_pets(learn, epochs=1, body_epochs=1); err = float(learn.validate()[1])
    train_s = time.time() - t0
    model = learn.model.eval()
    files = list(dls.train.items) + list(dls.valid.items)
    dl = learn.dls.test_dl(files, with_labels=True, num_workers=0)
    t0 = time.time(); tops = top_activations(model, dl, zf_layers(model)); top_s = time.time() - t0
    nets = dict(trained=model, random=reinit(model), noise=perturbed(model))
    hw = (f'GPU {torch.cuda.get_device_name(0)}' if torch.cuda.is_available()
          else f'{os.cpu_count()}-core CPU ({platform.processor() or platform.machine()}), {a.threads} torch threads, no GPU')
    res = dict(data=f'{len(files)} photos of {a.data.name}', body=learn.pets_arch, size=a.size, hardware=hw,
               train=dict(seconds=round(train_s), valid_error=round(err, 4)), top9_pass_s=round(top_s, 1), maps_per_layer=a.maps, rows=[])
    print(f"{res['data']}, {res['body']} at {a.size} px, {hw}; fine-tuned in {train_s:.0f} s (valid error {err:.3f}); "
          f"top-9 of every map, five layers, one pass: {top_s:.0f} s")
    head = f"{'layer':8} {'method':16} {'same':>6} {'vs random':>10} {'(plain)':>8} {'vs 10% noise':>13} {'s':>5}"
    print(head)
    for l in ['layer 2', 'layer 3', 'layer 4', 'layer 5']:
        t = tops[l]; chans = pick_channels(t, a.maps)
        pairs = [(c, r) for c in chans for r in range(t.value.shape[1])]
        x = dl_images(dl, [t.image[c, r] for c, r in pairs])
        units = [(c, *t.unit[c, r].tolist()) for c, r in pairs]
        fields = [t.box(c, r) for c, r in pairs]
        for m in methods:
            t0 = time.time()
            which = ['trained', 'random'] + (['noise'] if m in ('gradient', 'deconvnet', 'guided') else [])
            v = {n: [field_view(g, f) for g, f in zip(project(nets[n], t.name, x, units, m).cpu(), fields)] for n in which}
            same = sum(sameness([g for g, (c2, _) in zip(v['trained'], pairs) if c2 == c]) for c in chans)/len(chans)
            row = dict(layer=l, method=m, field=t.rf.size[0], same=round(same, 3), vs_random=round(vs_random(v['trained'], v['random']), 3),
                       vs_random_plain=round(vs_random(v['trained'], v['random'], envelope=False), 3),
                       vs_noise=round(vs_random(v['trained'], v['noise']), 3) if 'noise' in v else None, seconds=round(time.time() - t0, 1))
            res['rows'].append(row)
            nz = f"{row['vs_noise']:13.2f}" if row['vs_noise'] is not None else f"{'':>13}"
            print(f"{l:8} {PROJECTIONS[m]:16} {row['same']:6.2f} {row['vs_random']:10.2f} {row['vs_random_plain']:8.2f} {nz} {row['seconds']:5.0f}", flush=True)
            a.out.parent.mkdir(parents=True, exist_ok=True)
            a.out.write_text(json.dumps(res, indent=1) + '\n')    # rewritten after every row: an interrupted run keeps what it measured
    return res

if __name__ == '__main__': main()
