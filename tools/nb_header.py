#!/usr/bin/env python
"""Put "Open in Colab" / "Open in Kaggle" badges and a setup cell at the top of petbook's notebooks.

    python tools/nb_header.py                      # every notebook in nbs/
    python tools/nb_header.py nbs/00_data.ipynb    # some of them
    python tools/nb_header.py --check              # exit 1 if a notebook lacks (or has outdated) headers
    python tools/nb_header.py --run                # ...and fill the setup cells' outputs by running them here
    python tools/nb_header.py --src-dir /work/nbsrc   # also rewrite the jupytext percent sources

Idempotent: the badge cell (a markdown cell holding the Colab badge) and the setup cell (a code cell starting
with SETUP_MARK) are updated in place when present and inserted right after the title cell otherwise. Both
point at the notebook's own file in the repository named in pyproject.toml `[project.urls]`. The setup cell
installs petbook when it is missing (Colab, Kaggle), says whether a GPU is present, and otherwise only prints,
so it is harmless in the test run. Notebooks without code cells (index.ipynb: the README) get badges only.
"""
import argparse, json, re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETUP_MARK = '# petbook setup:'
BADGE_MARK = 'colab-badge.svg'

def repo_url(root:Path=ROOT) -> str:
    "The GitHub repository, from pyproject.toml `[project.urls]` (Repository, else Homepage/Source)."
    text = (root/'pyproject.toml').read_text()
    try:
        import tomllib                                # Python ≥ 3.11
        urls = tomllib.loads(text)['project']['urls']
    except ImportError: urls = dict(re.findall(r'^(\w+)\s*=\s*"([^"]+)"', text.split('[project.urls]', 1)[1].split('\n[', 1)[0], re.M))
    for k in ('Repository', 'repository', 'Source', 'Homepage'):
        if k in urls: return urls[k].rstrip('/').removesuffix('.git')
    raise KeyError('pyproject.toml [project.urls] has no Repository')

def badge_md(nb_name:str, repo:str=None, branch:str='main') -> str:
    "The markdown of the two badges for `nb_name` (a file in `nbs/`)."
    blob = f"{(repo or repo_url()).removeprefix('https://')}/blob/{branch}/nbs/{nb_name}"
    return (f'[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/{blob.replace("github.com/", "github/", 1)})\n'
            f'[![Open In Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)](https://kaggle.com/kernels/welcome?src=https://{blob})')

TRAIN_CALL = re.compile(r'(?<!def )\b(fine_tune_pets|fine_tune|fit_one_cycle)\(')
def tested_fastai(root:Path=ROOT) -> tuple:
    "The lowest fastai petbook declares (pyproject.toml `fastai>=…`): the one it is tested with; older ones break beside fastcore 2."
    return tuple(map(int, re.search(r'"fastai>=([\d.]+)', (root/'pyproject.toml').read_text()).group(1).split('.')))
PETS_PHOTOS = 7390                      # photos in the full Oxford-IIIT Pets download

def cpu_time_note(root:Path=ROOT) -> str:
    "What one `fine_tune(1)` took on a CPU, from the measured results petbook ships (petbook/results/finetune_cpu.json)."
    res = json.loads((root/'petbook'/'results'/'finetune_cpu.json').read_text())
    r = next(r for r in res['runs'] if r['recipe'] == 'stock' and r['dataset'] == 'catsdogs')
    n, hw = r['n_train'] + r['n_valid'], res['hardware']
    return (f"fine_tune(1) took {r['wall_s']/60:.0f} min for {n:,} photos with EfficientNet-Lite0 on a {hw['cpus']}-core CPU; "
            f"the full Pets has {PETS_PHOTOS:,} and resnet34 is slower still")

def setup_src(repo:str=None, trains:bool=False, root:Path=ROOT) -> str:
    """The first code cell. On Colab or Kaggle (and only there) it pip-installs petbook from `repo` (or from
    `$PETBOOK_INSTALL`, a wheel or any pip requirement, when set) and nbdev 3 (the one development package the notebooks
    use: `show_doc` and the closing export cell) when either is missing, quietly, showing pip's own message if it
    fails; the runtime's torch and torchvision are held at their installed versions by a pip constraint, so pip never
    replaces them. petbook's requirement `fastai>=2.8.12` lets pip upgrade an older fastai together with fastcore, and a
    fastai older than that stops the cell with the command that fixes it; so does a fastai or fastcore imported before
    the install changed it (the running kernel still has the old one). Kaggle with the internet off gets the setting to
    change. Everywhere it says which petbook and torch run and whether there is a GPU; in a notebook that trains
    (`trains`), no GPU adds what training took on a CPU. Elsewhere it installs nothing: running it again, or here, is
    harmless."""
    repo = repo or repo_url(root)
    fa = tested_fastai(root); low = '.'.join(map(str, fa))
    cpu = (f"'no GPU, so training runs on the CPU: {cpu_time_note(root)}. " if trains else "'no GPU, so training runs on the CPU (slow). ")
    return f'''#| code-fold: true
#| code-summary: "Setup: on Colab or Kaggle, installs petbook; says whether there is a GPU"
{SETUP_MARK} on Colab or Kaggle, installs petbook and nbdev (the runtime's torch is kept as it is); elsewhere it only prints
import os, re, sys, socket, subprocess, tempfile, importlib, importlib.util as iu, importlib.metadata as im
if ('google.colab' in sys.modules or 'KAGGLE_KERNEL_RUN_TYPE' in os.environ) and not (iu.find_spec('petbook') and iu.find_spec('nbdev')):
    try: socket.create_connection(('pypi.org', 443), timeout=5).close()
    except OSError: raise RuntimeError('No internet, so petbook cannot be installed. Kaggle: Settings → Internet → On, then run this cell again.') from None
    with tempfile.NamedTemporaryFile('w', suffix='.txt', delete=False) as f: f.writelines(f'{{p}}=={{im.version(p)}}\\n' for p in ('torch', 'torchvision') if iu.find_spec(p))
    before = {{p: im.version(p) for p in ('fastai', 'fastcore') if p in sys.modules}}
    pip = subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '-c', f.name, os.environ.get('PETBOOK_INSTALL', 'git+{repo}'), 'nbdev>=3'], capture_output=True, text=True)
    if pip.returncode: raise RuntimeError(f'pip could not install petbook:\\n{{pip.stdout[-2000:]}}{{pip.stderr[-3000:]}}')
    importlib.invalidate_caches()
    if any(im.version(p) != v for p, v in before.items()): raise RuntimeError('The install upgraded fastai/fastcore, already imported: restart the runtime (Colab: the Runtime menu, Restart) and run this cell again.')
    print('installed petbook and nbdev with pip')
if tuple(map(int, re.findall(r'\\d+', im.version('fastai'))[:3])) < {fa}:
    raise RuntimeError(f"fastai {{im.version('fastai')}} with fastcore {{im.version('fastcore')}} is a mix petbook is not tested with (older fastai breaks beside fastcore 2): pip install -U 'fastai>={low}', then restart the runtime.")
import torch, petbook
print(f'petbook {{petbook.__version__}}, torch {{torch.__version__}}, fastai {{im.version("fastai")}};', f'GPU: {{torch.cuda.get_device_name(0)}}' if torch.cuda.is_available() else
      {cpu}Colab: Runtime → Change runtime type → GPU; Kaggle: Settings → Accelerator → GPU')'''

def trains(nb:dict) -> bool:
    "Whether a notebook trains a network in a cell of its own (not an exported definition)."
    src = lambda c: ''.join(c['source'])
    return any(c['cell_type'] == 'code' and not src(c).lstrip().startswith('#| export') and TRAIN_CALL.search(src(c))
               and SETUP_MARK not in src(c) for c in nb['cells'])

def _lines(s): return s.splitlines(True)

def _cell(kind, src):
    import hashlib
    c = {'cell_type': kind, 'id': hashlib.sha1(src.encode()).hexdigest()[:8], 'metadata': {}, 'source': _lines(src)}
    if kind == 'code': c.update(execution_count=None, outputs=[])
    return c

def run_setup(src:str, cwd:Path) -> list:
    "Outputs of really running the setup cell's code here (a fresh Python): its printed lines as a stdout stream."
    r = subprocess.run([sys.executable, '-c', src], capture_output=True, text=True, cwd=cwd, timeout=600)
    if r.returncode: raise RuntimeError(f'the setup cell failed here:\n{r.stderr}')
    return [dict(name='stdout', output_type='stream', text=_lines(r.stdout))]

def apply(nb_path:Path, repo:str=None, clean:bool=True, run:bool=False) -> bool:
    "Insert or update the badges and setup cell of `nb_path`; True if the file changed."
    nb_path = Path(nb_path)
    text = nb_path.read_text()
    nb = json.loads(text)
    cells = nb['cells']
    src = lambda c: ''.join(c['source'])
    has_code = any(c['cell_type'] == 'code' and src(c).strip() and SETUP_MARK not in src(c) for c in cells)
    title = next((i for i, c in enumerate(cells) if c['cell_type'] == 'markdown' and re.match(r'\s*#\s', src(c))), -1)
    want_badge = badge_md(nb_path.name, repo)
    bi = next((i for i, c in enumerate(cells) if c['cell_type'] == 'markdown' and BADGE_MARK in src(c)), None)
    if bi is None: cells.insert(title + 1, _cell('markdown', want_badge)); bi = title + 1
    elif src(cells[bi]) != want_badge: cells[bi]['source'] = _lines(want_badge)
    si = next((i for i, c in enumerate(cells) if c['cell_type'] == 'code' and SETUP_MARK in src(c)), None)
    if has_code:
        want = setup_src(repo, trains=trains(nb))
        if si is None: cells.insert(bi + 1, _cell('code', want)); si = bi + 1
        elif src(cells[si]) != want: cells[si]['source'] = _lines(want); cells[si]['outputs'] = []; cells[si]['execution_count'] = None
        if run and not cells[si]['outputs']: cells[si]['outputs'] = run_setup(want, nb_path.parent)
    elif si is not None: del cells[si]
    from fastcore.nbio import nb2str
    new = nb2str(nb)
    if new == text: return False
    nb_path.write_text(new)
    if clean: subprocess.run([str(Path(sys.executable).parent/'nbdev-clean'), '--fname', str(nb_path)], check=True, cwd=ROOT)
    return nb_path.read_text() != text

def notebooks(paths=None) -> list:
    nbs = [Path(p) for p in paths] if paths else sorted((ROOT/'nbs').glob('*.ipynb'))
    return [p for p in nbs if not p.name.startswith(('_', '.'))]

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('nbs', nargs='*', help='notebooks (default: every nbs/*.ipynb)')
    ap.add_argument('--check', action='store_true', help='only report notebooks whose headers are missing or outdated')
    ap.add_argument('--run', action='store_true', help="fill an empty setup cell's output by running it here")
    ap.add_argument('--src-dir', help='also rewrite the jupytext percent sources NAME.py in this folder from the notebooks')
    a = ap.parse_args()
    stale = []
    for nb in notebooks(a.nbs):
        if a.check:
            import tempfile, shutil
            with tempfile.TemporaryDirectory() as d:
                tmp = Path(d)/nb.name; shutil.copy(nb, tmp)
                if apply(tmp): stale.append(nb.name)
            continue
        changed = apply(nb, run=a.run)
        print(f'{nb.name}: {"updated" if changed else "already up to date"}')
        if a.src_dir and (Path(a.src_dir)/f'{nb.stem}.py').exists():
            subprocess.run(['jupytext', '--quiet', '--to', 'py:percent', '-o', str(Path(a.src_dir)/f'{nb.stem}.py'), str(nb)], check=True)
    if a.check:
        print('headers missing or outdated: ' + ', '.join(stale) if stale else 'every notebook has its badges and setup cell')
        sys.exit(1 if stale else 0)
