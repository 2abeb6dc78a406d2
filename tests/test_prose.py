"""The pages read as lessons about petbook, not as notes on how it was made.

1. No process notes in the notebooks (every cell, hidden ones too, and their text outputs), README.md or
   CONTRIBUTING.md: issue numbers ("issue 9", "#12"), work sessions, the development machine's tooling
   (gpu-wheels, `.whl` files, `../shared`, the realpets/catsdogs folders, machines "lent to" someone); and, outside
   CONTRIBUTING.md, how a page was made ("the machine that built", "hidden cell", "the tests run", "marked slow").
   A link to the issue tracker is fine; "issue 9" is not.
2. On each lesson page (notebooks 00-06, 08 and 08a) at most 10% of the visible code cells are silent asserts: a
   cell whose code is only `assert`s and `test_*` calls (plus assignments and imports) and shows nothing.
   Such checks go in `#| hide` cells; a visible check prints what it checks.
3. Each lesson page (tests/test_shown.py's `LESSONS`, 00-06) is a lesson, not the library's reference: at most 5
   `show_doc` blocks (the functions that lesson uses), and at most 15% of its visible code cells hold a test line
   (a `test_*(...)` call or an `assert`; a few one-line `test_eq`s that read as examples). Its prose never points at
   code the page does not show ("the hidden check below", "checked (hidden)").
Failures name each cell by its index in the notebook, counted from 0 (as `nb['cells'][i]`).
"""
import ast, json, re
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
LESSONS = ('00', '01', '02', '03', '04', '05', '06', '08', '08a')
MAX_SILENT = 0.10

# (pattern, what it is); the first applies to prose only (in code, '#333' is a colour)
PROSE_ONLY = [(re.compile(r'(?<![\w&/#])#\d+\b'), 'an issue number')]
EVERYWHERE = [
    (re.compile(r'\bissues?\s*#?\s*\d+', re.I), 'an issue number'),
    (re.compile(r'(?<![.\w])sessions?\b', re.I), 'a work session'),
    (re.compile(r'gpu-wheels', re.I), 'development-machine tooling'),
    (re.compile(r'\.whl\b'), 'wheel files of the development machine'),
    (re.compile(r'\blent to\b|\bthe lead\b', re.I), 'who did the work'),
    (re.compile(r'\.\./shared'), 'the development checkout\'s shared folder'),
    (re.compile(r'realpets|catsdogs|find_realpets'), 'the development machine\'s photo folders'),
]
# how a page was made, which readers of the pages and the README need not know (CONTRIBUTING.md may say it)
HOW_BUILT = [(re.compile(r'the machine that built|hidden cells?\b|the tests run|marked slow', re.I), 'how the page was built')]
# on a lesson page, prose pointing at code the page does not show
POINTS_AT_HIDDEN = [(re.compile(r'\bhidden\s+(?:code\s+)?(?:cells?|checks?|tests?|code)\b|\((?:checked\s+|tested\s+)?hidden(?:\s+checks?)?\)', re.I),
                     'prose pointing at code the page does not show')]

def _texts(nb:Path):
    "(where, text, is_prose) for every cell of a notebook and its text outputs."
    for i, c in enumerate(json.loads(nb.read_text())['cells']):
        src = ''.join(c['source'])
        yield f'cell {i} ({c["cell_type"]})', src, c['cell_type'] == 'markdown'
        for o in c.get('outputs', []):
            txt = ''.join(o.get('text', '')) + ''.join(o.get('data', {}).get('text/plain', '')) + ''.join(o.get('data', {}).get('text/markdown', ''))
            if txt: yield f'cell {i} (output)', txt, False

def _files():
    fs = sorted(p for p in NBS.glob('*.ipynb') if not p.name.startswith('_'))
    return fs + [p for p in (ROOT/'README.md', ROOT/'CONTRIBUTING.md') if p.exists()]

def process_notes(f:Path) -> list:
    "Every process note in a file: 'where: what: «context»'."
    items = _texts(f) if f.suffix == '.ipynb' else [('', f.read_text(), True)]
    found = []
    for where, text, prose in items:
        bare = re.sub(r'```.*?```|`[^`\n]*`|\]\([^)]*\)', '', text, flags=re.S) if prose else ''   # prose without code or URLs
        pages = [(o, text) for o in HOW_BUILT] if f.name != 'CONTRIBUTING.md' else []
        if prose and f.stem in BUDGETED: pages += [(o, bare) for o in POINTS_AT_HIDDEN]
        for (rx, what), t in [(o, text) for o in EVERYWHERE] + [(o, bare) for o in PROSE_ONLY] + pages:
            for m in list(rx.finditer(t))[:1]:                     # the first hit of each kind per cell
                ctx = t[max(0, m.start()-50):m.end()+50].replace('\n', ' ')
                found.append(f'{where or "line " + str(t.count(chr(10), 0, m.start()) + 1)}: {what}: «{ctx}»')
    return found

@pytest.mark.parametrize('f', _files(), ids=lambda p: p.name)
def test_no_process_notes(f):
    notes = process_notes(f)
    if notes: pytest.fail(f'{f.relative_to(ROOT)} speaks of how it was made ({len(notes)}):\n  ' + '\n  '.join(notes), pytrace=False)

_HIDDEN = {'hide', 'export', 'exporti', 'default_exp'}

def _directives(src:str) -> dict:
    return {m[1]: m[2].strip() for m in re.finditer(r'^#\|\s*([\w-]+):?\s*(.*)$', src, re.M)}

def _is_test(node) -> bool:
    "An `assert`, a `test_*(...)` call, or a block (for/with/if/try) made only of those and assignments."
    if isinstance(node, ast.Assert): return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        f = node.value.func
        return (f.id if isinstance(f, ast.Name) else getattr(f, 'attr', '')).startswith('test_')
    if isinstance(node, (ast.For, ast.With, ast.If, ast.Try)):
        body = node.body + getattr(node, 'orelse', []) + [s for h in getattr(node, 'handlers', []) for s in h.body]
        return any(_is_test(s) for s in body) and all(_is_test(s) or _is_plain(s) for s in body)
    return False

def _is_plain(node) -> bool: return isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Import, ast.ImportFrom, ast.Pass))

def silent_asserts(nb:Path) -> tuple:
    "(visible code cells, [(cell index, first line)] of the silent asserts among them)."
    visible, silent = 0, []
    for i, c in enumerate(json.loads(nb.read_text())['cells']):
        if c['cell_type'] != 'code': continue
        src = ''.join(c['source']); d = _directives(src)
        code = '\n'.join(l for l in src.splitlines() if not l.startswith('#|')).strip()
        if not code or d.keys() & _HIDDEN or d.get('include') == 'false' or d.get('echo') == 'false': continue
        if re.fullmatch(r'show_doc\(.*\)', code, re.S): continue       # an API entry, not a code cell
        visible += 1
        try: body = ast.parse(code).body
        except SyntaxError: continue                                  # magics: not an assert cell
        if not c.get('outputs') and any(_is_test(s) for s in body) and all(_is_test(s) or _is_plain(s) for s in body):
            silent.append((i, code.splitlines()[0][:90]))
    return visible, silent

@pytest.mark.parametrize('nb', [p for p in sorted(NBS.glob('*.ipynb')) if p.name.split('_')[0] in LESSONS], ids=lambda p: p.name)
def test_lessons_show_their_checks(nb):
    visible, silent = silent_asserts(nb)
    share = len(silent) / max(visible, 1)
    if share > MAX_SILENT: pytest.fail(f'nbs/{nb.name}: {len(silent)} of {visible} visible code cells ({share:.0%}) are silent asserts '
        f'(at most {MAX_SILENT:.0%}): hide them (`#| hide`) or make them show their value:\n  '
        + '\n  '.join(f'cell {i}: {l}' for i, l in silent), pytrace=False)

# ---- a lesson page is a lesson: a handful of show_doc blocks, few visible test lines ----------------------------------
from test_shown import LESSONS as BUDGETED, NOT_SHOWN, shown_cells, directives
MAX_SHOW_DOC, MAX_TEST_LINES = 5, 0.15

def show_doc_blocks(nb:Path) -> list:
    """[(cell index, name)] of every reference block the page renders: each `show_doc(...)` in a cell the page keeps, and,
    as nbdev's docs add them (`nbdev.processors.add_show_docs`), one for each public function or class defined in an
    `export`/`exports` cell that no `show_doc` documents already."""
    cells = json.loads(nb.read_text())['cells']
    explicit, defined = [], []
    for i, c in enumerate(cells):
        src = ''.join(c['source']); d = directives(src)
        if c['cell_type'] != 'code' or 'hide' in d or d.get('include') == 'false': continue
        explicit += [(i, m.strip()) for m in re.findall(r'^\s*show_doc\(([^)\n]*)', src, re.M)]
        if d.keys() & {'export', 'exports', 'exec_doc'}:
            try: body = ast.parse('\n'.join(l for l in src.splitlines() if not l.startswith('#|'))).body
            except SyntaxError: continue
            defined += [(i, o.name) for o in body if isinstance(o, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                        and (o.name[0] != '_' or o.name[:2] == '__')]
    documented = {n.split(',')[0].strip() for _, n in explicit}
    return sorted(explicit + [(i, n) for i, n in defined if n not in documented])

def _test_line(node) -> bool:
    "An `assert` or a call of a `test_*` function (fastcore.test's `test_eq`, ...) anywhere in `node`; methods such as `dls.test_dl` are not tests."
    for n in ast.walk(node):
        if isinstance(n, ast.Assert): return True
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id.startswith('test_'): return True
    return False

def cells_with_tests(nb:Path) -> tuple:
    "(visible code cells, [(cell index, first line)] of those holding a test line): tests/test_shown.py's shown cells."
    cells = shown_cells(nb)
    found = []
    for i, code, _ in cells:
        try: tree = ast.parse(code)
        except SyntaxError: continue                                  # magics
        if _test_line(tree): found.append((i, code.splitlines()[0][:90]))
    return len(cells), found

@pytest.mark.parametrize('name', BUDGETED)
def test_lesson_show_doc_budget(name):
    blocks = show_doc_blocks(NBS/f'{name}.ipynb')
    if len(blocks) > MAX_SHOW_DOC: pytest.fail(f'nbs/{name}.ipynb renders {len(blocks)} show_doc blocks, those its `show_doc` calls ask for and those nbdev adds for the '
        f'public functions and classes of its export cells (at most {MAX_SHOW_DOC} on a lesson page: the functions the lesson uses; '
        'the rest belong on a "Going further" page, or in `#| exporti` cells):\n  ' + '\n  '.join(f'cell {i}: {w}' for i, w in blocks), pytrace=False)

@pytest.mark.parametrize('name', BUDGETED)
def test_lesson_test_line_budget(name):
    visible, found = cells_with_tests(NBS/f'{name}.ipynb')
    share = len(found) / max(visible, 1)
    if share > MAX_TEST_LINES: pytest.fail(f'nbs/{name}.ipynb: {len(found)} of {visible} visible code cells ({share:.0%}) hold a test line '
        f'(at most {MAX_TEST_LINES:.0%}): move edge cases into `#| hide` cells right after the code they check:\n  '
        + '\n  '.join(f'cell {i}: {l}' for i, l in found), pytrace=False)
