"""Each lesson page reproduces from what it shows: the code nbdev's docs page displays, run alone, in order, in a fresh
kernel whose working folder is a new empty one.

`shown_cells(nb)` is the code a reader sees, in order: every code cell but those nbdev's docs leave out or show
without their source (`#| hide`, `#| export`, `#| exporti`, `#| default_exp`, `#| include: false`, `#| echo: false`),
cells that only call `show_doc(...)` (rendered as reference, not shown as code), and the setup cell that
tools/nb_header.py writes (it installs petbook on Colab and Kaggle; here it would import `os`, `sys`, ... for the
cells after it). Each entry says whether it runs here: `#| eval: false` cells (a real download) are shown but never
run, and the cells flagged with nbdev's skip flags (`tst_flags`: `slow`, `cuda`) run only when `PETBOOK_FLAGS` names
the flag, as in tests/test_notebooks.py.

`test_shown_code_runs[<notebook>]` runs one lesson's shown cells in a real Jupyter kernel (nbclient, the kernel of this
Python) in an empty temporary folder, with `PETBOOK_DATA` pointing at the real photos (`../shared/realpets/oxford`,
found by tests/realpets.py; without them the test skips). It fails at the first cell that raises, naming that cell by
its index in the notebook (`nb['cells'][i]`) and the error. Slow: `pytest tests/test_shown.py -k 03_learner` runs one.
"""
import json, os, re, sys
from pathlib import Path
import pytest
from realpets import find_realpets

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
LESSONS = ('00_data', '01_labels', '02_dataloaders', '03_learner', '04_finetune', '05_visualize', '06_upload')
SETUP_MARK = '# petbook setup:'          # tools/nb_header.py's setup cell
NOT_SHOWN = {'hide', 'export', 'exporti', 'default_exp'}
SKIP_FLAGS = {'notest', 'slow', 'cuda'}  # pyproject.toml [tool.nbdev] tst_flags
OXFORD = find_realpets('oxford')
CELL_TIMEOUT = int(os.environ.get('PETBOOK_RUNALL_TIMEOUT', '1800'))

def directives(src:str) -> dict:
    "A cell's `#| name: value` lines (and bare `#| flag`s) as {name: value}."
    return {m[1]: m[2].strip() for m in re.finditer(r'^#\|\s*([\w-]+):?\s*(.*)$', src, re.M)}

def code_of(src:str) -> str:
    "A cell's code without its `#|` lines."
    return '\n'.join(l for l in src.splitlines() if not l.startswith('#|')).strip()

def is_show_doc(code:str) -> bool:
    "Whether `code` only calls `show_doc(...)` (one call or several): reference, which the page renders rather than shows."
    lines = [l for l in code.splitlines() if l.strip() and not l.lstrip().startswith('#')]
    return bool(lines) and all(re.match(r'\s*show_doc\(.*\)\s*(#.*)?$', l) for l in lines)

def shown_cells(nb, force=()) -> list:
    """The code cells nbdev's docs page shows for notebook `nb` (a path or a loaded notebook), in order:
    [(cell index, code without `#|` lines, whether it runs here)]. `force`: skip flags to run anyway."""
    if not isinstance(nb, dict): nb = json.loads(Path(nb).read_text())
    out = []
    for i, c in enumerate(nb['cells']):
        if c['cell_type'] != 'code': continue
        src = ''.join(c['source']); d = directives(src); code = code_of(src)
        if not code or d.keys() & NOT_SHOWN or d.get('include') == 'false' or d.get('echo') == 'false': continue
        if SETUP_MARK in src or is_show_doc(code): continue
        runs = d.get('eval') != 'false' and not (d.keys() & (SKIP_FLAGS - set(force)))
        out.append((i, code, runs))
    return out

def run_shown(nb_path:Path, work:Path, env:dict=None, timeout:int=CELL_TIMEOUT) -> dict:
    """Run the shown cells of `nb_path` that run here, in order, in a fresh kernel whose working folder is `work`.
    Returns dict(cells=[indices run], shown=count shown, error=None or (cell index, 'Name: message'))."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from jupyter_client.kernelspec import NATIVE_KERNEL_NAME
    cells = shown_cells(nb_path, force=os.environ.get('PETBOOK_FLAGS', '').split())
    runs = [(i, code) for i, code, r in cells if r]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code) for _, code in runs])
    nb.metadata['kernelspec'] = dict(name=NATIVE_KERNEL_NAME, display_name='Python 3', language='python')
    client = NotebookClient(nb, timeout=timeout, kernel_name=NATIVE_KERNEL_NAME, allow_errors=False,
                            resources={'metadata': {'path': str(work)}})
    kenv = {k: v for k, v in os.environ.items() if not k.startswith(('PYTEST_', 'PETBOOK_DATA'))}
    kenv.update(MPLBACKEND='Agg', PYTHONWARNINGS='ignore::FutureWarning', **(env or {}))
    error = None
    try: client.execute(env=kenv, cwd=str(work))
    except CellExecutionError:
        for (i, _), c in zip(runs, nb.cells):
            if e := next((o for o in c.get('outputs', []) if o.get('output_type') == 'error'), None):
                error = (i, f"{e['ename']}: {e['evalue'][:400]}"); break
        else: error = (None, 'a cell failed')
    return dict(cells=[i for i, _ in runs], shown=len(cells), error=error)

@pytest.mark.slow
@pytest.mark.parametrize('name', LESSONS)
def test_shown_code_runs(name, tmp_path):
    "The code a lesson page shows, alone and in order in a fresh kernel in an empty folder, runs without an error."
    if OXFORD is None: pytest.skip('no ../shared/realpets/oxford beside the checkout to hand the lessons as PETBOOK_DATA')
    nb = NBS/f'{name}.ipynb'
    work = tmp_path/'empty'; work.mkdir()
    res = run_shown(nb, work, env={'PETBOOK_DATA': str(OXFORD)})
    if res['error']:
        i, what = res['error']
        pytest.fail(f'nbs/{nb.name}: the shown code stops at cell {i} ({len(res["cells"])} of {res["shown"]} shown cells run '
                    f'here): {what}', pytrace=False)

def test_shown_cells_extraction():
    "What counts as shown: hidden, export and show_doc cells and the setup cell do not; eval: false cells are shown, not run."
    cell = lambda s: dict(cell_type='code', source=s, metadata={}, outputs=[])
    nb = dict(cells=[cell(f'#| code-fold: true\n{SETUP_MARK} x\nimport os'), cell('#| default_exp data'), cell('#| export\ndef f(): pass'),
                     cell('#| exporti\ng = 1'), cell('#| hide\nimport os'), cell('show_doc(f)'), cell('from petbook.data import *'),
                     cell('#| eval: false\npath = download()'), cell('#| slow\nbig()'), cell('x = 1\nshow_doc(f)'),
                     dict(cell_type='markdown', source='# title', metadata={}), cell('#| echo: false\nplot()'), cell('  \n')])
    got = shown_cells(nb)
    assert [(i, r) for i, _, r in got] == [(6, True), (7, False), (8, False), (9, True)], got
    assert [i for i, _, r in shown_cells(nb, force=['slow']) if r] == [6, 8, 9]
