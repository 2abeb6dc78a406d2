"""The two long measurements of the experiments page (nbs/08a_experiments.ipynb), on a folder of Pets-named cat and dog photos.

    python benchmarks/experiments.py --data DIR --overfit   # writes petbook/results/experiments/overfitting.json
    python benchmarks/experiments.py --data DIR --curve     # appends what is missing to petbook/results/experiments/learning_curve.csv

The committed results were measured on 2,000 Kaggle cat and dog photos (`Cat_<n>.jpg`, `dog_<n>.jpg`) on a 2-core
CPU; each file records the photos (`--data-name`), the body and the machine. Delete a file to measure it again.
"""
import argparse, json, warnings
from pathlib import Path
warnings.filterwarnings('ignore', category=FutureWarning)
import torch
from petbook.experiments import overfit_run, learning_curve
from petbook.experiments import _machine

RESULTS = Path(__file__).resolve().parents[1]/'petbook'/'results'/'experiments'

def overfit(path:Path, name:str, out:Path):
    "The overfitting run (`overfit_run`'s defaults), with the photos and the machine it ran on."
    r = overfit_run(path); r.pop('learn')
    r.update(data=name, machine=_machine())
    out.write_text(json.dumps(r, indent=1) + '\n')
    print('wrote', out)

def curve(path:Path, name:str, out:Path):
    "The learning curve: the pretrained body at 128 and 64 px, the scratch network at 64 px, 3 seeds."
    for size, kind in ((128, 'pretrained'), (64, 'pretrained'), (64, 'scratch')):
        learning_curve(path, size=size, kinds=(kind,), csv_path=out, data=name)
    print('wrote', out)

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--data', type=Path, required=True, help='folder of Pets-named cat and dog photos')
    ap.add_argument('--data-name', default=None, help='how the results describe the photos (default: the count and folder name)')
    ap.add_argument('--overfit', action='store_true'); ap.add_argument('--curve', action='store_true')
    ap.add_argument('--threads', type=int, default=1, help='torch CPU threads')
    ap.add_argument('--out', type=Path, default=RESULTS)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    a.out.mkdir(parents=True, exist_ok=True)
    name = a.data_name or f'{sum(1 for _ in a.data.iterdir()):,} photos in {a.data.name}/'
    if a.overfit: overfit(a.data, name, a.out/'overfitting.json')
    if a.curve: curve(a.data, name, a.out/'learning_curve.csv')
