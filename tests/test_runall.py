""""Run all" with the book's body, the Kaggle inputs, and static checks over the notebooks. (Each lesson notebook alone
in an empty folder, installed from the wheel into a Colab-like and a Kaggle-like runtime: tests/test_runtimes.py.)
Case B runs in a fresh process (`tests/runall_kernel.py`) where the development-only packages cannot be imported and
only 127.0.0.1 is reachable.

The network is simulated: a local HTTP server (`petbook.testing.serve`) serves a Pets-layout `oxford-iiit-pet.tgz`
made at test time from `../shared/realpets/oxford` (370 photos). `get_pets()` is sent there with the variables a
user has, `PETBOOK_PETS_URL` and `PETBOOK_PETS_CHECKS` (the archive's own size and md5, so the check stays on);
`PETBOOK_DATA` is unset and `FASTAI_HOME` is a fresh folder, so the photos come through download → verify →
safe extract.

- **Case B** (the book's body): `TORCH_HOME` holds random resnet34 weights under torchvision's file name, so
  `pets_learner(dls)` picks resnet34 and says so; notebook 03, and 04 up to its first training cell, run with it.
- **Case C** (Kaggle): `/kaggle/input`-style folders under a temporary root; `get_pets()` finds them, no download.
- Static checks over every `nbs/*.ipynb` code cell: no unguarded development-only import; lesson notebooks call
  `get_pets()` and never name `../shared`; the setup cell (tools/nb_header.py) does what it says.

Without `../shared/realpets/oxford` the notebook cases skip with a message. The seconds each notebook took are
printed at the end of the run (and written as JSON to `$PETBOOK_RUNALL_TIMES` when set).

Settings: `PETBOOK_RUNALL_TIMEOUT` (seconds one notebook may take, default 900); `PETBOOK_RUNALL_ENV`, space-separated
`NAME=value` pairs added to every notebook's environment, for the knobs a user has (nothing else is set for speed);
under pytest-xdist each notebook gets `OMP_NUM_THREADS` = cores / workers unless it is set.
"""
import ast, json, os, re, subprocess, sys
from pathlib import Path
import pytest
from fastcore.nbio import read_nb
from realpets import find_realpets, calls_get_pets
from petbook.testing import pets_env, archive_checks, PETS_NAME

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
ALL_NBS = sorted(p for p in NBS.glob('*.ipynb') if not p.name.startswith(('_', '.')))
LESSONS = sorted(NBS.glob('0[0-6]_*.ipynb'))           # the chapter's notebooks: 00 … 06 (not 02a/02b)
RUNNER = Path(__file__).with_name('runall_kernel.py')
OXFORD = find_realpets('oxford')
NB_TIMEOUT = int(os.environ.get('PETBOOK_RUNALL_TIMEOUT', '900'))   # seconds one notebook may take
R34_FILE = 'resnet34-b627a593.pth'                      # torchvision's file name for ResNet34_Weights.IMAGENET1K_V1
SETUP_MARK = '# petbook setup:'

needs_photos = pytest.mark.skipif(OXFORD is None, reason=
    'no ../shared/realpets/oxford beside the checkout: the "Run all" test serves those photos as the Pets download')

# ---- fixtures: the archive, the server, a torch hub cache with resnet34 -----------------------------------------
@pytest.fixture(scope='session')
def r34_torch_home(tmp_path_factory):
    "A TORCH_HOME whose hub cache holds resnet34 weights (random ones) under torchvision's file name."
    import torch, torchvision
    home = tmp_path_factory.mktemp('torch-r34')
    (home/'hub'/'checkpoints').mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet34().state_dict(), home/'hub'/'checkpoints'/R34_FILE)
    return home

# ---- running one notebook -----------------------------------------------------------------------------------------
def copy_checkout(dest:Path) -> Path:
    """A copy of this checkout's working files in `dest` (no .git, caches or built docs), where a notebook runs: its
    closing `nbdev_export()` cell writes there, not into the checkout, and no `../shared` is beside it."""
    import shutil
    skip = shutil.ignore_patterns('.git', '__pycache__', '.ipynb_checkpoints', '_proc', '_docs', 'docs', '*.egg-info',
                                  '.pytest_cache', 'shared', '.venv', 'venv', 'build', 'dist')
    shutil.copytree(ROOT, dest, ignore=skip, symlinks=True)
    return dest

def kernel_env(tmp:Path, torch_home:Path, root:Path=ROOT, **extra) -> dict:
    "A new user's environment: no PETBOOK_* set by us, fresh fastai/torch/petbook caches, petbook importable from `root`."
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(('PETBOOK_', 'KAGGLE_', 'COLAB_', 'FASTAI_', 'TORCH_HOME', 'HF_', 'PYTEST_', 'IN_TEST'))}
    env.update(FASTAI_HOME=str(tmp/'fastai'), TORCH_HOME=str(torch_home), PETBOOK_CACHE=str(tmp/'petbook-cache'),
               HF_HOME=str(tmp/'hf'), XDG_CACHE_HOME=str(tmp/'cache'), MPLBACKEND='Agg',
               PETBOOK_SHARED=str(tmp/'no-shared'),     # tests/realpets.py finds nothing (a notebook must not look)
               PYTHONPATH=os.pathsep.join([str(root), *filter(None, [os.environ.get('PYTHONPATH')])]),
               PYTHONWARNINGS='ignore::FutureWarning')
    workers = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))      # notebooks running side by side share the cores
    if workers > 1 and 'OMP_NUM_THREADS' not in os.environ:
        env['OMP_NUM_THREADS'] = env['MKL_NUM_THREADS'] = str(max(1, (os.cpu_count() or 1)//workers))
    env.update(dict(kv.split('=', 1) for kv in os.environ.get('PETBOOK_RUNALL_ENV', '').split()))   # knobs a user has
    env.update({k: str(v) for k, v in extra.items()})
    return env

def run_notebook(nb:Path, tmp:Path, torch_home:Path, env_extra:dict, until_training=False, record=None, label='') -> dict:
    "Run all of `nb` in a fresh process, in a copy of the checkout; its summary, with the executed notebook as `summary['nb']`."
    work = copy_checkout(tmp/'checkout')
    env = kernel_env(tmp, torch_home, root=work, **env_extra)
    nb = work/'nbs'/nb.name
    out, summ = tmp/f'{nb.stem}.run.ipynb', tmp/f'{nb.stem}.run.json'
    cmd = [sys.executable, str(RUNNER), str(nb), '--out', str(out), '--summary', str(summ)]
    if until_training: cmd.append('--until-training')
    try: r = subprocess.run(cmd, env=env, cwd=nb.parent, capture_output=True, text=True, timeout=NB_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f'{nb.name}: "Run all" took more than {NB_TIMEOUT}s (PETBOOK_RUNALL_TIMEOUT)')
    res = json.loads(summ.read_text()) if summ.exists() else dict(ok=False, seconds=None, cells=[], error=None)
    print(r.stdout[-3000:]); print(r.stderr[-6000:], file=sys.stderr)
    if record: record('runall', dict(nb=nb.stem, case=label, seconds=res['seconds'], ok=res['ok']))
    slow = sorted(res['cells'], key=lambda c: -c['seconds'])[:3]
    print(f'{label} {nb.name}: {res["seconds"]}s; slowest cells: ' + '; '.join(f'{c["idx"]} `{c["first_line"][:40]}` {c["seconds"]}s' for c in slow))
    assert res['ok'] and r.returncode == 0, (f'{nb.name} ({label}): "Run all" stopped: {res.get("error") or "exit status " + str(r.returncode)}'
                                              f'\n{r.stderr[-4000:]}')
    if res.get('petbook'): assert Path(res['petbook']).is_relative_to(work), f"petbook came from {res['petbook']}, not the copy"
    res['nb'] = read_nb(out)
    return res

def _text(cell) -> str:
    "What a cell printed (stdout and stderr streams, plain-text results)."
    t = []
    for o in cell.get('outputs', []):
        if o.get('output_type') == 'stream': t.append(''.join(o.get('text', '')))
        elif 'text/plain' in o.get('data', {}): t.append(''.join(o['data']['text/plain']))
    return ''.join(t)

def check_bodies(res, want:str, nb:Path):
    "Each `pets_learner(dls)` (body left to petbook) made `want` ('resnet34' or 'efficientnet_liteN') and its cell said so."
    said = r'(?i)resnet.?34' if want == 'resnet34' else rf'(?i)lite.?{want[-1]}'
    cells = {c.idx_: c for c in res['nb'].cells}
    for b in res['bodies']:
        if b.get('arch'): assert b['arch'] == want, f"{nb.name} cell {b['idx']}: pets_learner(dls) made a {b['arch']} body ({b['params']:,} parameters), not {want}"
        out = _text(cells[b['idx']])
        assert re.search(said, out), f"{nb.name} cell {b['idx']}: pets_learner(dls) printed no line naming {want}: {out[:300]!r}"

# ---- Case B: the book's resnet34 (random weights in the hub cache) ----------------------------------------------
B_CASES = [p for p in LESSONS if p.stem.startswith(('03', '04'))]

@pytest.mark.slow
@needs_photos
@pytest.mark.parametrize('nb', B_CASES, ids=[p.stem for p in B_CASES])
def test_run_all_book_body(nb, pets_archive, pets_server, r34_torch_home, tmp_path, record_property):
    "Case B: resnet34 in the torch hub cache → `pets_learner(dls)` picks it and says so (03; 04 to its first training cell)."
    res = run_notebook(nb, tmp_path, r34_torch_home, pets_env(pets_server, pets_archive),
                       until_training=nb.stem.startswith('04'), record=record_property, label='B')
    assert res['bodies'], f'{nb.name}: no executed cell calls pets_learner(dls) (the body left to petbook)'
    check_bodies(res, 'resnet34', nb)
    if nb.stem.startswith('04'): assert res['stopped_at'] is not None, f'{nb.name}: no training cell after get_pets() ran'

GET_PETS_SCRIPT = '''
import sys; sys.path.insert(0, {tests!r})
from runall_kernel import install_network_guard
install_network_guard()
from petbook.data import get_pets
try: p = get_pets(); print(); print('GOT', p)
except Exception as e: print(); print('REFUSED', type(e).__name__, str(e).splitlines()[0])
'''

@pytest.mark.slow
@needs_photos
def test_download_checks_stay_on(pets_archive, pets_server, tmp_path):
    "Contract 2: with PETBOOK_PETS_URL set, PETBOOK_PETS_CHECKS is checked: a wrong size/md5 is refused, nothing extracted."
    size, md5 = archive_checks(pets_archive).split()
    for checks in (f'{size} {md5}', f'{int(size)+1} {md5}', f'{size} {"0"*32}'):
        tmp = tmp_path/checks.replace(' ', '_')
        env = kernel_env(tmp, tmp/'torch', PETBOOK_PETS_URL=pets_server.url(pets_archive.name), PETBOOK_PETS_CHECKS=checks)
        r = subprocess.run([sys.executable, '-c', GET_PETS_SCRIPT.format(tests=str(Path(__file__).parent))],
                           env=env, capture_output=True, text=True, timeout=300)
        out = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else r.stderr[-2000:]
        if checks == f'{size} {md5}':
            assert out.startswith('GOT'), out
            assert Path(out.split(maxsplit=1)[1]) == tmp/'fastai'/'data'/PETS_NAME/'images', out
        else:
            assert out.startswith('REFUSED'), f'a download not matching PETBOOK_PETS_CHECKS={checks} was accepted: {out}'
            assert not (tmp/'fastai'/'data'/PETS_NAME).exists(), 'a refused download was extracted'

# ---- Case C: Kaggle inputs -----------------------------------------------------------------------------------------
KAGGLE_SCRIPT = '''
import sys; sys.path.insert(0, {tests!r})
from pathlib import Path
from runall_kernel import install_network_guard
install_network_guard()                                  # no network at all: a download would fail
import petbook.data as d, petbook.files as f
root = Path({root!r})
if 'root' not in f._kaggle_inputs.__code__.co_varnames: sys.exit('petbook.files._kaggle_inputs takes no root')
_orig = f._kaggle_inputs
f._kaggle_inputs = lambda root=root: _orig(root)         # get_pets() looks under this root instead of /kaggle/input
print(d.get_pets())
'''

@needs_photos
@pytest.mark.parametrize('layout', ['oxford-iiit-pet/images', 'the-oxfordiiit-pet-dataset/images/images'])
def test_kaggle_inputs(layout, tmp_path):
    "Case C: a Kaggle-style input folder is found by `get_pets()` with no network and no download."
    root = tmp_path/'kaggle'/'input'
    images = root/layout; images.mkdir(parents=True)
    for p in sorted(OXFORD.glob('*.jpg'))[:12]: (images/p.name).symlink_to(p)
    (root/'some-other-dataset'/'data').mkdir(parents=True)
    env = kernel_env(tmp_path, tmp_path/'torch')
    r = subprocess.run([sys.executable, '-c', KAGGLE_SCRIPT.format(tests=str(Path(__file__).parent), root=str(root))],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    got = Path(r.stdout.strip().splitlines()[-1])
    assert got == images, f'get_pets() gave {got}, not the Kaggle input {images}'
    assert not (tmp_path/'fastai'/'archive').exists(), 'get_pets() downloaded although a Kaggle input was there'

# ---- static checks over the notebooks ----------------------------------------------------------------------------
from runall_kernel import BLOCKED, CELL_ONLY
DEV_ONLY = BLOCKED | CELL_ONLY       # nbdev is allowed: the setup cell installs it

def _python(src:str) -> str:
    "A cell's source as plain Python (IPython magics and `!` lines turned into calls)."
    from IPython.core.inputtransformer2 import TransformerManager
    return TransformerManager().transform_cell(src)

def _guarded(node, parents) -> bool:
    "Whether `node` sits in the body of a `try` that catches ImportError (or ModuleNotFoundError)."
    for p, child in parents:
        if isinstance(p, ast.Try) and child in p.body:
            for h in p.handlers:
                names = [h.type] if not isinstance(h.type, ast.Tuple) else h.type.elts
                if h.type is None or any(isinstance(n, ast.Name) and n.id in ('ImportError', 'ModuleNotFoundError') for n in names):
                    return True
    return False

def unguarded_dev_imports(src:str) -> list:
    "The development-only modules `src` imports outside a `try: … except ImportError`."
    tree = ast.parse(_python(src))
    found = []
    def visit(node, parents):
        mods = []
        if isinstance(node, ast.Import): mods = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level: mods = [node.module or '']
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Attribute) and node.func.attr == 'import_module') or
                   (isinstance(node.func, ast.Name) and node.func.id in ('import_module', '__import__')))):
            mods = [node.args[0].value]
        for m in mods:
            if m.split('.')[0] in DEV_ONLY and not _guarded(node, parents): found.append(m)
        for child in ast.iter_child_nodes(node):
            visit(child, parents + [(node, child)])
    visit(tree, [])
    return found

def test_static_check_finds_dev_imports():
    "The static check flags plain, nested and importlib imports; a `try/except ImportError` guard is accepted."
    assert unguarded_dev_imports('import hypothesis') == ['hypothesis']
    assert unguarded_dev_imports('from skimage.data import chelsea\nx = 1') == ['skimage.data']
    assert unguarded_dev_imports('def f():\n    import pytest\n    return pytest') == ['pytest']
    assert unguarded_dev_imports("import importlib; importlib.import_module('nbconvert')") == ['nbconvert']
    assert unguarded_dev_imports('%matplotlib inline\nimport execnb.shell') == ['execnb.shell']
    assert unguarded_dev_imports('try: from hypothesis import given, strategies as st\nexcept ImportError: given = None') == []
    assert unguarded_dev_imports('try:\n    import skimage\nexcept (ModuleNotFoundError, OSError): skimage = None') == []
    assert unguarded_dev_imports('from nbdev.showdoc import show_doc\nimport nbdev; nbdev.nbdev_export()') == []
    assert unguarded_dev_imports('try: import pytest\nexcept ValueError: pass') == ['pytest']

def test_runner_finds_default_learner_calls():
    "The runner recognises `pets_learner(dls)` calls that leave the body to petbook, and only those."
    from runall_kernel import default_learner_calls as d
    assert d('learn = pets_learner(dls)') == ['learn'] and d('pets_learner(dls)') == [None]
    assert d('learn = pets_learner(dls, metrics=accuracy)\n%time x = 1') == ['learn']
    assert d("learn = pets_learner(dls, arch='resnet34')") == d("pets_learner(dls, 'resnet34')") == []
    assert d('pets_learner(dls, pretrained=False)') == d('pets_learner(dls, **kw)') == []

def _code_cells(nb:Path): return [c for c in read_nb(nb).cells if c.cell_type == 'code']

@pytest.mark.parametrize('nb', ALL_NBS, ids=[p.stem for p in ALL_NBS])
def test_no_unguarded_dev_imports(nb):
    "Every code cell (hidden, `eval: false` and exported ones included) imports dev-only packages only under a guard."
    bad = [f'  cell {c.idx_}: {", ".join(m)}  (`{c.source.strip().splitlines()[0][:60]}`)'
           for c in _code_cells(nb) if (m := unguarded_dev_imports(c.source))]
    assert not bad, (f'{nb.name} imports development-only packages that a stock Colab/Kaggle runtime lacks (guard them '
                     f'with try/except ImportError, or drop them):\n' + '\n'.join(bad))

_SHARED = re.compile(r'\.\./shared|find_realpets|\bcatsdogs\b|realpets')

@pytest.mark.parametrize('nb', ALL_NBS, ids=[p.stem for p in ALL_NBS])
def test_cells_do_not_name_shared(nb):
    "No cell reads the development checkout's photos: the test runner supplies them through PETBOOK_DATA."
    bad = [f'  cell {c.idx_}: {m.group(0)!r}' for c in _code_cells(nb) if (m := _SHARED.search(c.source))]
    assert not bad, f'{nb.name} names the development photos (use get_pets()):\n' + '\n'.join(bad)

@pytest.mark.parametrize('nb', LESSONS, ids=[p.stem for p in LESSONS])
def test_lessons_call_get_pets(nb):
    "Each lesson notebook gets its images the book's way, `path = get_pets()`."
    assert any(calls_get_pets(c.source) for c in _code_cells(nb)), f'{nb.name}: no cell calls get_pets()'

# ---- the setup cell ------------------------------------------------------------------------------------------------
sys.path.insert(0, str(ROOT/'tools'))
import nb_header
from importlib.util import find_spec as _REAL_FIND_SPEC

def _run_setup(monkeypatch, capsys, env:dict, missing=('petbook',), online=True, pip_fails=False, versions=None, after=None):
    """Run the setup cell's code here with pip, the network and the installed packages faked; (pip commands, constraints,
    output, error). `versions`: faked installed versions ({name: version}), changed to `after`'s once pip ran."""
    import socket, subprocess as sp, importlib.util as iu, importlib.metadata as im
    calls, constraints, vers = [], [], dict(versions or {})
    def fake_run(cmd, *a, **kw):
        calls.append(cmd)
        if '-c' in cmd: constraints.append(Path(cmd[cmd.index('-c')+1]).read_text())
        vers.update(after or {})
        class R: returncode, stdout, stderr = (1, '', 'ERROR: No matching distribution found for fastai>=2.8.12') if pip_fails else (0, '', '')
        return R()
    real_version = im.version
    monkeypatch.setattr(im, 'version', lambda p: vers.get(p) or real_version(p))
    def fake_conn(addr, *a, **kw):
        if not online: raise OSError(101, 'Network is unreachable')
        class S:
            def close(self): pass
        return S()
    monkeypatch.setattr(sp, 'run', fake_run)
    monkeypatch.setattr(socket, 'create_connection', fake_conn)
    monkeypatch.setattr(iu, 'find_spec', lambda name, *a, **k: None if name in missing else _REAL_FIND_SPEC(name, *a, **k))
    for k in ('KAGGLE_KERNEL_RUN_TYPE',): monkeypatch.delenv(k, raising=False)
    for k, v in env.items(): monkeypatch.setenv(k, v)
    err = None
    try: exec(compile(nb_header.setup_src(), 'setup-cell', 'exec'), {'__name__': '__main__'})
    except RuntimeError as e: err = str(e)
    return calls, constraints, capsys.readouterr().out, err

def test_setup_cell_installs_on_kaggle_keeping_torch(monkeypatch, capsys):
    "On Kaggle (or Colab) without petbook: one pip install of petbook from git and nbdev, torch held where it is."
    from importlib.metadata import version
    calls, constraints, out, err = _run_setup(monkeypatch, capsys, {'KAGGLE_KERNEL_RUN_TYPE': 'Interactive'})
    assert err is None and len(calls) == 1, (calls, err)
    cmd = calls[0]
    assert cmd[1:4] == ['-m', 'pip', 'install'] and 'nbdev>=3' in cmd and any(a.startswith('git+https://github.com/') for a in cmd)
    assert not any(re.match(r'(torch|torchvision)\b', a) for a in cmd), f'the pip command names torch: {cmd}'
    assert '--upgrade' not in cmd and '-U' not in cmd
    assert f'torch=={version("torch")}' in constraints[0].split(), constraints
    assert 'petbook' in out and 'GPU' in out

def test_setup_cell_kaggle_offline_names_the_setting(monkeypatch, capsys):
    calls, _, out, err = _run_setup(monkeypatch, capsys, {'KAGGLE_KERNEL_RUN_TYPE': 'Interactive'}, online=False)
    assert not calls and err and 'Settings → Internet → On' in err, (calls, err)

def test_setup_cell_shows_pips_error(monkeypatch, capsys):
    "A failing pip install stops the cell with pip's own message (the install itself is quiet)."
    calls, _, out, err = _run_setup(monkeypatch, capsys, {'KAGGLE_KERNEL_RUN_TYPE': 'Interactive'}, pip_fails=True)
    assert len(calls) == 1 and '-q' in calls[0] and err and 'No matching distribution found for fastai' in err, err

def test_setup_cell_stops_on_an_untested_mix(monkeypatch, capsys):
    "An old fastai beside petbook stops the cell with the command that fixes it; an upgrade under an imported fastai asks for a restart."
    _, _, out, err = _run_setup(monkeypatch, capsys, {}, missing=(), versions=dict(fastai='2.8.7', fastcore='2.2.41'))
    assert err and "fastai 2.8.7 with fastcore 2.2.41" in err and "pip install -U 'fastai>=2.8.12'" in err, err
    monkeypatch.setitem(sys.modules, 'fastai', sys.modules.get('fastai') or type(sys)('fastai'))
    _, _, out, err = _run_setup(monkeypatch, capsys, {'KAGGLE_KERNEL_RUN_TYPE': 'Interactive'},
                                versions=dict(fastai='2.8.4'), after=dict(fastai='2.8.12'))
    assert err and 'restart the runtime' in err, err
    _, _, out, err = _run_setup(monkeypatch, capsys, {'KAGGLE_KERNEL_RUN_TYPE': 'Interactive'}, versions=dict(fastai='2.8.12'))
    assert err is None and 'installed petbook and nbdev with pip' in out, (out, err)

def test_setup_cell_warns_training_notebooks_on_a_cpu(monkeypatch, capsys):
    "Without a GPU, a notebook that trains says what one `fine_tune(1)` took on a CPU, from the shipped results."
    import torch
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    exec(compile(nb_header.setup_src(trains=True), 'setup-cell', 'exec'), {'__name__': '__main__'})
    out = capsys.readouterr().out
    r = next(r for r in json.loads((ROOT/'petbook'/'results'/'finetune_cpu.json').read_text())['runs'] if r['recipe'] == 'stock' and r['dataset'] == 'catsdogs')
    assert f"took {r['wall_s']/60:.0f} min for {r['n_train'] + r['n_valid']:,} photos" in out, out
    assert nb_header.trains(json.loads((ROOT/'nbs'/'04_finetune.ipynb').read_text())) and not nb_header.trains(json.loads((ROOT/'nbs'/'01_labels.ipynb').read_text()))

def test_setup_cell_elsewhere_installs_nothing(monkeypatch, capsys):
    "Here (not Colab/Kaggle), and on Colab once petbook and nbdev are there: nothing installed, only the report."
    calls, _, out, err = _run_setup(monkeypatch, capsys, {})
    assert not calls and err is None and re.search(r'petbook \S+, torch \S+, fastai \S+;', out), (calls, out)
    monkeypatch.setitem(sys.modules, 'google.colab', type(sys)('google.colab'))
    calls, _, out, err = _run_setup(monkeypatch, capsys, {}, missing=())
    assert not calls and err is None, calls

def test_notebook_headers_current():
    "Every notebook has the badges and the current setup cell (`python tools/nb_header.py` writes them)."
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'nb_header.py'), '--check'], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr + '\nrun `python tools/nb_header.py` and commit the notebooks'
