"""Each lesson notebook the way Colab and Kaggle run it: **one `.ipynb` alone in an empty folder**, petbook installed by
the notebook's own setup cell from the wheel built from this checkout, every cell run in a real Jupyter kernel.

For each runtime **profile** a fresh virtual environment (made with `uv` from its cache: seconds) holds what that
runtime has preinstalled, and nothing of petbook:

- `colab`: Python 3.12, an older torch with the fastai/fastcore it caps (fastai 2.8.4, fastcore 1.8), ipywidgets 7.7.1;
  the kernel sees `google.colab` imported, as on Colab.
- `kaggle`: Python 3.11, the newest fastai, fastcore and ipywidgets; `KAGGLE_KERNEL_RUN_TYPE` is set, as on Kaggle.

The notebook is copied alone into an empty folder outside the checkout. Its setup cell really runs `pip install`:
`$PETBOOK_INSTALL` points it at the wheel instead of `git+…`, and the package registry is the only other source.
In the kernel (an IPython startup file) only 127.0.0.1, where a local server serves a Pets-layout
`oxford-iiit-pet.tgz` of `../shared/realpets/oxford`, and the registry's hosts are reachable: no resnet34 weights, so
petbook takes its packaged offline body (EfficientNet-Lite1). Every cell runs, hidden and `eval: false` ones included. A notebook
fails on any error output, on a cell that prints a "missing" message, and on a figure with an empty plot (axes shown,
nothing drawn). Per profile and notebook the seconds, cells run and cells failed are printed at the end of the run.

The `kaggle` profile (the versions the committed outputs were made with) also compares each notebook's outputs with
its committed ones, as tests/test_notebooks.py does; when both run, tests/conftest.py leaves out test_notebook for
these notebooks, whose check this one repeats. A resolver dry run per profile (`pip install --dry-run` of the
wheel with the runtime's torch held) checks that pip leaves torch and torchvision alone and leaves no pair of
versions the project has seen break.

Without `../shared/realpets/oxford`, `uv`, or a Python of the profile's version, the tests skip with a message.
`PETBOOK_RUNALL_TIMEOUT`: seconds one notebook may take (default 900).
"""
import json, os, re, shutil, subprocess, sys, time
from pathlib import Path
import pytest
from fastcore.nbio import read_nb, write_nb
from realpets import find_realpets, calls_get_pets
from petbook.testing import pets_env
from test_runall import _text          # what a cell printed

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).parent
NOTEBOOKS = sorted(p for p in (ROOT/'nbs').glob('0[0-6]*.ipynb') if not p.stem.startswith(('05a', '05b')))   # the lessons 00-06, 02a, 02b
OXFORD = find_realpets('oxford')
NB_TIMEOUT = int(os.environ.get('PETBOOK_RUNALL_TIMEOUT', '900'))
REGISTRY = ('pypi.org', 'files.pythonhosted.org')                       # the only hosts a runtime's pip needs here

PROFILES = {
    'colab': dict(python='3.12', detect='colab', packages=[
        'torch==2.8.0', 'torchvision==0.23.0', 'fastai==2.8.4', 'fastcore==1.8.16', 'ipywidgets==7.7.1',
        'ipykernel', 'matplotlib', 'pandas', 'pillow', 'requests']),
    'kaggle': dict(python='3.11', detect='kaggle', packages=[
        'torch==2.14.1', 'torchvision==0.29.1', 'fastai', 'fastcore', 'ipywidgets', 'ipykernel', 'timm', 'matplotlib',
        'pandas', 'pillow', 'requests']),
}
# Pairs the project has seen break: (package, version test, package, version test, why)
BROKEN = [('fastai', lambda v: v < (2, 8, 9), 'fastcore', lambda v: v >= (2,), 'fastai < 2.8.9 breaks beside fastcore 2'),
          ('nbdev', lambda v: v < (3,), 'fastcore', lambda v: v >= (1, 9), 'nbdev 2 does not run with current fastcore')]

def _ver(s:str) -> tuple: return tuple(int(x) for x in re.findall(r'\d+', s)[:3])

def _python(version:str):
    "An interpreter of `version` (pyenv's, else one on PATH), or None."
    for c in [*sorted(Path('~/.pyenv/versions').expanduser().glob(f'{version}.*')), None]:
        exe = (c/'bin'/f'python{version}') if c else shutil.which(f'python{version}')
        if exe and Path(exe).exists(): return str(exe)
    return None

UV = shutil.which('uv') or (str(Path(sys.executable).with_name('uv')) if Path(sys.executable).with_name('uv').exists() else None)

def _skip_reason(profile:str):
    if OXFORD is None: return 'no ../shared/realpets/oxford beside the checkout: the runtime test serves those photos as the Pets download'
    if UV is None: return 'no `uv` (the dev extra installs it): it makes the runtime environments'
    if _python(PROFILES[profile]['python']) is None: return f"no Python {PROFILES[profile]['python']} here"

# ---- fixtures ----------------------------------------------------------------------------------------------------------
@pytest.fixture(scope='session')
def wheel(tmp_path_factory) -> Path:
    "petbook's wheel, built from this working tree (what `pip install petbook` would get)."
    from test_package import build_wheel
    return build_wheel(tmp_path_factory.mktemp('wheel'))

_FROZEN = {}
def runtime_env(profile:str, dest:Path) -> Path:
    "A fresh virtual environment in `dest` holding the profile's preinstalled packages (and pip); its python."
    p = PROFILES[profile]
    run = lambda *a: subprocess.run([UV, *a], capture_output=True, text=True, check=False)
    r = run('venv', '-q', '--seed', '-p', _python(p['python']), str(dest))
    assert r.returncode == 0, r.stderr
    py = dest/'bin'/'python'
    if profile not in _FROZEN:             # resolve once per session, then copy that set (hard links from uv's cache)
        r = run('pip', 'install', '-q', '-p', str(py), *p['packages'])
        assert r.returncode == 0, f'{profile}: uv could not install the preinstalled set:\n{r.stderr[-3000:]}'
        _FROZEN[profile] = dest.parent/f'{profile}-preinstalled.txt'
        _FROZEN[profile].write_text(run('pip', 'freeze', '-p', str(py)).stdout)
    else:
        r = run('pip', 'sync', '-q', '-p', str(py), str(_FROZEN[profile]))
        assert r.returncode == 0, r.stderr[-3000:]
    r = subprocess.run([str(py), '-m', 'ipykernel', 'install', '--prefix', str(dest), '--name', 'runtime'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    return py

STARTUP = '''
import os, sys, types
sys.path.insert(0, {tests!r})
from netguard import install_network_guard
install_network_guard(allow={registry!r})                # 127.0.0.1 (the Pets server) and the package registry
sys.path.pop(0)
if os.environ.get('PETBOOK_TEST_RUNTIME') == 'colab':    # Colab's kernel has imported google.colab (a real module, with a spec)
    import importlib.machinery
    _colab = types.ModuleType('google.colab'); _colab.__spec__ = importlib.machinery.ModuleSpec('google.colab', None)
    sys.modules['google.colab'] = _colab
import matplotlib.backend_bases as _bb                   # a figure with an empty plot says so on stderr when it is drawn
_print_figure = _bb.FigureCanvasBase.print_figure
def _checked(self, *a, **k):
    for i, ax in enumerate(self.figure.axes):
        if ax.get_visible() and ax.axison and not (ax.lines or ax.patches or ax.collections or ax.images or ax.texts or ax.tables):
            print(f'EMPTY FIGURE: plot {{i}} ({{ax.get_title()!r}}) has nothing drawn', file=sys.stderr)
    return _print_figure(self, *a, **k)
_bb.FigureCanvasBase.print_figure = _checked
'''

def kernel_env(tmp:Path, py:Path, profile:str, wheel:Path, extra:dict) -> dict:
    "A new user's environment: the runtime's venv first on PATH, no PETBOOK_* but the install source, fresh caches."
    env = {k: v for k, v in os.environ.items() if not k.startswith(('PETBOOK_', 'KAGGLE_', 'COLAB_', 'FASTAI_', 'TORCH_HOME',
           'HF_', 'PYTEST_', 'IN_TEST', 'PYTHONPATH', 'VIRTUAL_ENV', 'JUPYTER', 'IPYTHONDIR', 'MPLBACKEND'))}
    startup = tmp/'ipython'/'profile_default'/'startup'; startup.mkdir(parents=True)
    (startup/'00-runtime.py').write_text(STARTUP.format(tests=str(TESTS), registry=REGISTRY))
    env.update(PATH=f"{py.parent}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(py.parent.parent), IPYTHONDIR=str(tmp/'ipython'),
               FASTAI_HOME=str(tmp/'fastai'), TORCH_HOME=str(tmp/'torch'), HF_HOME=str(tmp/'hf'), XDG_CACHE_HOME=str(tmp/'cache'),
               PETBOOK_CACHE=str(tmp/'petbook-cache'), PETBOOK_SHARED=str(tmp/'no-shared'), PETBOOK_INSTALL=str(wheel),
               PETBOOK_TEST_RUNTIME=profile, PYTHONWARNINGS='ignore::FutureWarning', **extra)
    if PROFILES[profile]['detect'] == 'kaggle': env['KAGGLE_KERNEL_RUN_TYPE'] = 'Interactive'
    workers = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
    if workers > 1 and 'OMP_NUM_THREADS' not in os.environ: env['OMP_NUM_THREADS'] = str(max(1, (os.cpu_count() or 1)//workers))
    return env

MISSING = re.compile(r'(?i)\b(missing|not found|no such file)\b')
def problems(nb) -> list:
    "Every cell's problem: an error output, a 'missing' message, an empty plot; [(cell index, what)]."
    found = []
    for i, c in enumerate(nb.cells):
        if c.cell_type != 'code': continue
        for o in c.get('outputs', []):
            if o.get('output_type') == 'error': found.append((i, f"{o['ename']}: {o['evalue'][:300]}"))
        txt = _text(c)
        if m := re.search(r'EMPTY FIGURE: .*', txt): found.append((i, m.group(0)))
        if m := MISSING.search(txt): found.append((i, f'prints {txt[max(0, m.start()-80):m.end()+80]!r}'))
    return found

def run_in_runtime(nb_path:Path, profile:str, tmp:Path, wheel:Path, extra:dict) -> dict:
    "Copy `nb_path` alone into an empty folder, run every cell in a kernel of a fresh `profile` environment; a summary."
    from nbclient import NotebookClient
    from jupyter_client.manager import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager
    py = runtime_env(profile, tmp/'env')
    work = tmp/'content'; work.mkdir()                      # Colab's /content: the notebook and nothing else
    nb_file = work/nb_path.name; shutil.copy(nb_path, nb_file)
    nb = read_nb(nb_file)
    km = KernelManager(kernel_name='runtime', kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(py.parent.parent/'share'/'jupyter'/'kernels')]))
    client = NotebookClient(nb, km=km, timeout=NB_TIMEOUT, allow_errors=True, resources={'metadata': {'path': str(work)}})
    t0 = time.time()
    try: client.execute(env=kernel_env(tmp, py, profile, wheel, extra), cwd=str(work))
    finally:                                                 # the client does not own `km`, so it leaves the kernel running
        if km.has_kernel: km.shutdown_kernel(now=True)
    secs = time.time() - t0
    write_nb(nb, tmp/f'{nb_path.stem}.{profile}.ipynb')
    code = [c for c in nb.cells if c.cell_type == 'code']
    bad = problems(nb)
    return dict(nb=nb, seconds=round(secs, 1), cells=len(code), ran=sum(c.get('execution_count') is not None for c in code),
                failed=len({i for i, _ in bad}), problems=bad, files=sorted(p.name for p in work.iterdir()))

# ---- the notebooks, per profile --------------------------------------------------------------------------------------
CASES = [(prof, nb) for prof in PROFILES for nb in NOTEBOOKS]

@pytest.mark.slow
@pytest.mark.parametrize('profile,nb', CASES, ids=[f'{p}-{nb.stem}' for p, nb in CASES])
def test_notebook_in_runtime(profile, nb, wheel, pets_archive, pets_server, tmp_path, record_property):
    "One notebook, alone in an empty folder, in a fresh `profile` runtime: the setup cell installs petbook; no cell fails."
    if why := _skip_reason(profile): pytest.skip(why)
    before = pets_server.fetched[f'/{pets_archive.name}']
    res = run_in_runtime(nb, profile, tmp_path, wheel, pets_env(pets_server, pets_archive))
    record_property('runall', dict(nb=nb.stem, case=profile, seconds=res['seconds'], ok=not res['problems'],
                                   cells=res['cells'], ran=res['ran'], failed=res['failed']))
    setup = _text(res['nb'].cells[next(i for i, c in enumerate(res['nb'].cells) if '# petbook setup:' in c.source)])
    assert not res['problems'], (f'{nb.name} ({profile}): {res["failed"]} of {res["cells"]} cells failed:\n' +
                                 '\n'.join(f'  cell {i}: {w}' for i, w in res['problems']))
    assert res['ran'] == res['cells'], f"{nb.name} ({profile}): {res['ran']} of {res['cells']} code cells ran"
    assert 'installed petbook and nbdev with pip' in setup and 'petbook ' in setup, f'the setup cell did not install petbook: {setup[:500]!r}'
    if any(calls_get_pets(c.source) for c in res['nb'].cells if c.cell_type == 'code'):   # download → verify → safe extract
        assert pets_server.fetched[f'/{pets_archive.name}'] > before, 'get_pets() did not download the archive from the local server'
        assert (tmp_path/'fastai'/'archive'/pets_archive.name).is_file() and not list((tmp_path/'fastai'/'data').glob('.*partial*'))
    if profile == 'kaggle':                     # the versions, photos and body the committed outputs were made with
        from test_notebooks import drift
        committed = read_nb(nb)               # a cell whose committed output says Kaggle was "not detected here" differs on Kaggle
        executed = {i for i, c in enumerate(res['nb'].cells) if c.cell_type == 'code' and 'not detected here' not in _text(committed.cells[i])}
        for c in res['nb'].cells:             # the photos' folder: 'images' after the download, the served folder's name when committed
            for o in c.get('outputs', []):
                if o.get('output_type') == 'stream': o['text'] = ''.join(o['text']).replace("'images'", f"'{OXFORD.name}'")
                elif 'text/plain' in o.get('data', {}): o['data']['text/plain'] = ''.join(o['data']['text/plain']).replace("'images'", f"'{OXFORD.name}'")
        diff = drift(committed, res['nb'], executed)
        assert not diff, f'{nb.name}: committed outputs differ from this run:\n' + '\n'.join(diff)

# ---- the resolver, per profile ---------------------------------------------------------------------------------------
def dry_run(py:Path, wheel:Path) -> dict:
    "What the setup cell's pip install would install, with the runtime's torch and torchvision held: {name: version}."
    held = subprocess.run([str(py), '-c', "import importlib.metadata as m; print('\\n'.join(f'{p}=={m.version(p)}' for p in ('torch', 'torchvision')))"],
                          capture_output=True, text=True, check=True).stdout
    c = py.parent.parent/'held.txt'; c.write_text(held)
    r = subprocess.run([str(py), '-m', 'pip', 'install', '--dry-run', '-q', '--report', '-', '-c', str(c), str(wheel), 'nbdev>=3'],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    return {i['metadata']['name'].lower(): i['metadata']['version'] for i in json.loads(r.stdout)['install']}

@pytest.mark.slow
@pytest.mark.parametrize('profile', list(PROFILES))
def test_resolver_keeps_a_working_runtime(profile, wheel, tmp_path):
    "pip, asked for petbook as the setup cell asks, leaves torch/torchvision alone and no pair that breaks."
    if why := _skip_reason(profile): pytest.skip(why)
    py = runtime_env(profile, tmp_path/'env')
    before = dict(l.split('==') for l in subprocess.run([str(py), '-m', 'pip', 'freeze'], capture_output=True, text=True).stdout.split() if '==' in l)
    before = {k.lower(): v for k, v in before.items()}
    new = dry_run(py, wheel)
    print(f'{profile}: pip would install ' + ', '.join(f'{k} {before.get(k, "-")} -> {v}' for k, v in sorted(new.items())))
    assert 'torch' not in new and 'torchvision' not in new, new
    after = {**before, **new}
    for a, ta, b, tb, why in BROKEN:
        if a in after and b in after: assert not (ta(_ver(after[a])) and tb(_ver(after[b]))), f'{profile}: {a} {after[a]} with {b} {after[b]}: {why}'
    assert _ver(after['fastai']) >= (2, 8, 12) and _ver(after['nbdev']) >= (3,), after
    if profile == 'colab': assert 'ipywidgets' not in new, f"the install replaces Colab's ipywidgets {before['ipywidgets']}"

def test_broken_pairs_are_caught():
    "The pair check flags the mixes seen breaking, and passes the tested one."
    bad = lambda env: [w for a, ta, b, tb, w in BROKEN if ta(_ver(env[a])) and tb(_ver(env[b]))]
    assert bad(dict(fastai='2.8.7', fastcore='2.2.41', nbdev='3.3.26'))
    assert bad(dict(fastai='2.8.12', fastcore='1.9.2', nbdev='2.4.7'))
    assert not bad(dict(fastai='2.8.12', fastcore='2.2.41', nbdev='3.3.26'))

def test_problems_are_found():
    "An error output, a 'missing' message and an empty plot each count; a clean cell does not."
    from fastcore.nbio import dict2nb
    cell = lambda *outs: dict(cell_type='code', source='x', metadata={}, outputs=list(outs), execution_count=1)
    nb = dict2nb(dict(cells=[cell(dict(output_type='stream', name='stdout', text='ok\n')),
                             cell(dict(output_type='error', ename='KeyError', evalue="'a'", traceback=[])),
                             cell(dict(output_type='stream', name='stdout', text='results file missing\n')),
                             cell(dict(output_type='stream', name='stderr', text="EMPTY FIGURE: plot 0 ('') has nothing drawn\n"))],
                      metadata={}, nbformat=4, nbformat_minor=5))
    assert [i for i, _ in problems(nb)] == [1, 2, 3]
