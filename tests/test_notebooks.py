"""Run every notebook in `nbs/` as a pytest test, the way `nbdev-test` does, and catch stale outputs.

Each notebook is one test, executed with `nbdev.test.test_nb` so that nbdev's skip flags
(`tst_flags` in `pyproject.toml`: `notest slow cuda`) are honoured. Run flagged cells too with
`PETBOOK_FLAGS="slow" pytest` (space separated, like `nbdev-test --flags`).

**Drift.** While a notebook re-executes, every cell that ran *and* has committed outputs is compared with its
fresh outputs, structurally, so that timings and random numbers cannot make it flaky: the same number of figures,
the same tables (column names; a fastai training table counts the same whether shown as HTML or as text), the
same printed lines once numbers, paths and memory addresses are masked, the same errors. A cell whose committed
output no longer matches what its code does fails the test with the cells named. Not compared: cells that did not
run (`slow`, `cuda`, `eval: false`), stderr (warnings depend on library versions), widgets, the setup cell (it
reports the GPU), and notebooks that call `get_pets()` when it does not give them the photos their committed
outputs were made with (the 370 Oxford-IIIT photos in `../shared/realpets/oxford`). `PETBOOK_DRIFT=0` turns the
comparison off.

**Photos.** Lesson cells get their images with `get_pets()`, as a user's do. When `PETBOOK_DATA` is not set and the
checkout has `../shared/realpets/oxford` beside it (`tests/realpets.py`), the notebook runs get
`PETBOOK_DATA=../shared/realpets/oxford`, the same variable a user has. With neither those photos nor the
variable, nor a copy that `get_pets(download=False)` finds, nor a reachable download host, notebooks that call
`get_pets()` are skipped with a message saying so.
"""
import os, re, itertools
from pathlib import Path
import pytest
from nbdev.config import get_config
from nbdev import test as nbtest
from fastcore.nbio import read_nb
from realpets import find_realpets, pets_data_env, calls_get_pets

cfg = get_config(Path(__file__).parent)
NBS = sorted(p for p in cfg.nbs_path.glob('*.ipynb') if not p.name.startswith('_'))
SKIP = cfg.tst_flags.split() if isinstance(cfg.tst_flags, str) else list(cfg.tst_flags)
FORCE = os.environ.get('PETBOOK_FLAGS', '').split()
DRIFT = os.environ.get('PETBOOK_DRIFT', '1') != '0'
SETUP_MARK = '# petbook setup:'          # tools/nb_header.py's setup cell: its output depends on the GPU
WIDGET = 'application/vnd.jupyter.widget-view+json'

# ---- a structural signature of a cell's outputs ------------------------------------------------------------
_MASKS = [(re.compile(r'\x1b\[[0-9;]*[A-Za-z]'), ''),
          (re.compile(r'0x[0-9a-fA-F]+'), 'ADDR'),
          (re.compile(r'(?<![0-9A-Za-z])(?:(?=[0-9a-f]*[a-f])[0-9a-f]{8,}|[0-9a-f]{12,})(?![0-9A-Za-z])'), 'HASH'),   # cache keys
          (re.compile(r'(?:[A-Za-z]:)?(?:~|\.{1,2})?(?:/[\w.@+-]+)+/?'), 'PATH'),
          (re.compile(r'[-+]?\d+(?:[.,:]\d+)*(?:[eE][-+]?\d+)?'), 'N'),
          (re.compile(r'\s+'), ' ')]
_PROGRESS = re.compile(r'N%|█|\|N/N|\[N/N|<N|^Epoch N\S* :$')   # progress bars, timers, fastprogress's 'Epoch 1/1 :' (after masking)

def mask(s:str) -> str:
    "A printed line with what varies from run to run (numbers, paths, addresses, hashes, spacing) masked."
    for r, sub in _MASKS: s = r.sub(sub, s)
    return s.strip()

def _cols(table_html:str) -> tuple:
    head = re.search(r'<thead.*?</thead>', table_html, re.S)
    part = head.group(0) if head else (re.search(r'<tr.*?</tr>', table_html, re.S) or re.search('', '')).group(0)
    return tuple(re.sub(r'<[^>]+>', '', c).strip() for c in re.findall(r'<th[^>]*>(.*?)</th>', part, re.S))

def _text(v) -> str: return ''.join(v) if isinstance(v, list) else (v or '')

def signature(outputs) -> dict:
    "What must stay the same between the committed and a fresh run: figures, table columns, masked lines, errors."
    figs, tables, lines, errors = 0, [], [], []
    def add_text(t):
        for l in _text(t).splitlines():
            m = mask(l)
            if not m or _PROGRESS.search(m) or m.startswith("[source]("): continue   # show_doc's source link: present only where the source file is known
            if re.match(r'^epoch train_loss', m): tables.append(tuple(m.split())); continue   # fastai's table, printed
            if tables and re.match(r'^N( (N|#na#|nan|inf))+( N)?$', m): continue                 # ...and its rows
            lines.append(m)
    outputs = list(outputs)
    for i, o in enumerate(outputs):
        t = o.get('output_type')
        if t == 'stream':    # a kernel may send one printed line in several messages: the consecutive ones are read as one text
            if o.get('name') == 'stderr' or (i and outputs[i-1].get('output_type') == 'stream' and outputs[i-1].get('name') != 'stderr'): continue
            add_text(''.join(_text(x.get('text')) for x in itertools.takewhile(
                lambda x: x.get('output_type') == 'stream' and x.get('name') != 'stderr', outputs[i:])))
        elif t == 'error': errors.append(o.get('ename'))
        elif t in ('display_data', 'execute_result'):
            d = o.get('data', {})
            if any(k.startswith('image/') for k in d): figs += 1
            elif '<table' in _text(d.get('text/html')):
                tables += [_cols(tb) for tb in re.findall(r'<table.*?</table>', _text(d['text/html']), re.S)]
            elif 'text/html' in d: continue      # other HTML: progress bars, styled text (kernel-dependent)
            elif 'text/markdown' in d: add_text(d['text/markdown'])
            elif 'text/plain' in d: add_text(d['text/plain'])
    return dict(figures=figs, tables=tables, lines=lines, errors=errors)

def _skip_drift(cell) -> bool:
    outs = cell.get('outputs', [])
    return (not outs or SETUP_MARK in cell.source or
            any(WIDGET in o.get('data', {}) for o in outs))

def _describe(i, cell, old, new) -> str:
    first = next((l for l in cell.source.splitlines() if l.strip() and not l.startswith('#|')), '')[:70]
    why = []
    for k in ('figures', 'tables', 'errors'):
        if old[k] != new[k]: why.append(f'{k}: committed {old[k]}, now {new[k]}')
    if old['lines'] != new['lines']:
        j = next((j for j, (a, b) in enumerate(zip(old['lines'], new['lines'])) if a != b), min(len(old['lines']), len(new['lines'])))
        a = old['lines'][j] if j < len(old['lines']) else '(nothing)'
        b = new['lines'][j] if j < len(new['lines']) else '(nothing)'
        why.append(f'printed line {j+1}: committed {a!r}, now {b!r}')
    return f'  cell {i} `{first}`: ' + '; '.join(why)

def drift(committed_nb, fresh_nb, ran:set) -> list:
    "Cells of `fresh_nb` that ran (indices in `ran`) whose outputs differ structurally from `committed_nb`'s."
    old_cells, new_cells = committed_nb.cells, fresh_nb.cells
    if len(old_cells) != len(new_cells): return [f'  the notebook has {len(old_cells)} cells but {len(new_cells)} ran']
    res = []
    for i, (old, new) in enumerate(zip(old_cells, new_cells)):
        if i not in ran or old.cell_type != 'code' or _skip_drift(old): continue
        a, b = signature(old.get('outputs', [])), signature(new.get('outputs', []))
        if a != b: res.append(_describe(i, old, a, b))
    return res

def _calls_get_pets(nb:Path, ran=None) -> bool:
    "Whether a cell of `nb` that the test runs (all code cells if `ran` is None) calls `get_pets()` for its images."
    cells = ran if ran is not None else [c for c in read_nb(nb).cells if c.cell_type == 'code']
    return any(calls_get_pets(c.source) for c in cells)

def pets_source() -> str|None:
    "Where `get_pets()` will take the photos from in this process, in words (`petbook.data.pets_source`); None when nowhere."
    from petbook.data import pets_source as source, PetsNotFound
    try: kind, where = source()
    except PetsNotFound: return None
    return f'{kind}: {where}'

def _made_with_realpets() -> bool:
    "Whether `get_pets()` gives, here, the photos the committed outputs were made with (`../shared/realpets/oxford`)."
    d, real = os.environ.get('PETBOOK_DATA'), find_realpets('oxford')
    return bool(d and real) and Path(d).expanduser().resolve() in (real.resolve(), (real/'images').resolve())

# ---- the test ------------------------------------------------------------------------------------------------
SLOW_NBS = {'04_finetune', '05_visualize'}   # minutes on the 370 photos (2-core CPU): whole, in the full suite only;
LONG = 'long'                                # the quick tier runs them without their `#| long` cells (the lesson's run)

def _run(nb:Path, monkeypatch, skip:list=SKIP):
    "Execute `nb` top to bottom (skipping flagged cells); fail on the first cell error, then on stale outputs."
    for k, v in pets_data_env().items(): monkeypatch.setenv(k, v)     # ../shared/realpets/oxford, when it is there
    ran = nbtest.nb_test_cells(nb, skip, FORCE)
    uses_pets = _calls_get_pets(nb, ran)
    if uses_pets and pets_source() is None:
        pytest.skip(f'{nb.name} calls get_pets(), which has no photos here: no ../shared/realpets/oxford beside the '
                    f'checkout, PETBOOK_DATA not set, no local copy, no network. Set PETBOOK_DATA=/path/to/pets/images.')
    fresh = []
    monkeypatch.setattr(nbtest, 'write_nb', lambda nb_, fn: fresh.append(nb_))   # `save=True` hands us the outputs
    ok, secs = nbtest.test_nb(nb, skip_flags=skip, force_flags=FORCE, basepath=cfg.config_path, showerr=True, save=True)
    print(f'{nb.name}: {secs:.1f}s')
    assert ok, f'{nb.name} failed: see the traceback above'
    if not (DRIFT and fresh): return
    if uses_pets and not _made_with_realpets():
        print(f'{nb.name}: drift check skipped: get_pets() gave other photos ({pets_source()}) than the committed '
              f'outputs were made with (the 370 Oxford-IIIT photos)')
        return
    bad = drift(read_nb(nb), fresh[0], {c.idx_ for c in ran})
    assert not bad, (f'{nb.name}: committed outputs are stale (the code now gives different outputs). Re-run the '
                     f'notebook (jupyter nbconvert --to notebook --execute --inplace nbs/{nb.name}; nbdev-clean '
                     f'--fname nbs/{nb.name}) and commit it:\n' + '\n'.join(bad))

@pytest.mark.parametrize('nb', [pytest.param(p, marks=pytest.mark.slow) if p.stem in SLOW_NBS else p for p in NBS], ids=[p.stem for p in NBS])
def test_notebook(nb, capfd, monkeypatch):
    "Execute the notebook top to bottom (skipping flagged cells); fail on the first cell error, then on drift."
    _run(nb, monkeypatch)

@pytest.mark.parametrize('nb', [p for p in NBS if p.stem in SLOW_NBS], ids=[p.stem for p in NBS if p.stem in SLOW_NBS])
def test_notebook_fast_checks(nb, capfd, monkeypatch):
    "The slow notebooks without their `#| long` cells: every check that does not need the lesson's run (the quick tier's)."
    assert any(LONG in (c.directives_ or {}) for c in nbtest.nb_test_cells(nb)), f'{nb.name} has no `#| long` cell'
    _run(nb, monkeypatch, SKIP + [LONG])

def test_drift_check_catches_changes_and_ignores_noise():
    "The drift comparison flags a lost figure, a changed table or printed line, and ignores numbers, paths, timings."
    from fastcore.nbio import dict2nb
    def nb(*cells): return dict2nb({'cells': [dict(cell_type='code', source=s, metadata={}, outputs=o) for s, o in cells],
                                    'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5})
    fig = dict(output_type='display_data', data={'image/png': 'iVBOR', 'text/plain': '<Figure size 640x480 with 1 Axes>'}, metadata={})
    tbl = lambda *cols: dict(output_type='display_data', metadata={}, data={'text/html': '<table><thead><tr>' +
                             ''.join(f'<th>{c}</th>' for c in cols) + '</tr></thead><tbody><tr><td>0</td></tr></tbody></table>'})
    out = lambda t: dict(output_type='stream', name='stdout', text=t)
    err = lambda t: dict(output_type='stream', name='stderr', text=t)
    bar = dict(output_type='display_data', metadata={}, data={'text/html': '<progress value=1></progress>', 'text/plain': '<IPython.core.display.HTML object>'})
    committed = nb(('show(x)', [fig, bar]),
                   ('learn.fine_tune(1)', [tbl('epoch', 'train_loss', 'valid_loss', 'error_rate', 'time')]),
                   ('print(n)', [out('296 training and 74 validation images in /tmp/tmpab12/toy\n')]),
                   ('slow()', [out('old output of a slow cell\n')]))
    same = nb(('show(x)', [fig]),
              ('learn.fine_tune(1)', [out('epoch     train_loss  valid_loss  error_rate  time\n0         0.52        0.31        0.12        00:07\n')]),
              ('print(n)', [out('301 training and 75 validation '), out('images in /tmp/tmpzz9/toy\n'), err('FutureWarning: x\n')]),   # one line in two messages
              ('slow()', [out('not run\n')]))
    test_ran = {0, 1, 2}                                   # cell 3 is `slow`: skipped, never compared
    assert drift(committed, same, test_ran) == []
    changed = nb(('show(x)', []),
                 ('learn.fine_tune(1)', [tbl('epoch', 'train_loss', 'valid_loss', 'accuracy', 'time')]),
                 ('print(n)', [out('296 training and 74 validation photos in /tmp/x\n')]),
                 ('slow()', []))
    bad = drift(committed, changed, test_ran)
    assert len(bad) == 3 and 'figures: committed 1, now 0' in bad[0] and 'accuracy' in bad[1] and 'photos' in bad[2], bad

def test_mask_hides_cache_keys_not_words():
    "Content hashes in file names (a cache key changes with paths and times) are masked; words and short numbers are not."
    a = mask('saved 370 decoded images to fastdata-224px-pil-7da2ad8e01c3f9b4.safetensors')
    b = mask('saved 370 decoded images to fastdata-224px-pil-ccb5b3bd4c1e0a99.safetensors')
    c = mask('saved 370 decoded images to fastdata-224px-pil-1234567890123456.safetensors')
    assert a == b == c == 'saved N decoded images to fastdataNpx-pil-HASH.safetensors', (a, b, c)
    assert mask('a facade of beaded decades') == 'a facade of beaded decades'
    assert mask('cache deadbeef') != mask('cache deadbeer')

def test_get_pets_notebook_skips_without_photos(tmp_path, capfd, monkeypatch):
    "A notebook calling `get_pets()` is skipped, saying why, when there are no photos and no network; others still run."
    import json
    def nb(name, *srcs):
        p = tmp_path/name
        p.write_text(json.dumps({'cells': [dict(cell_type='code', source=s, metadata={}, outputs=[], execution_count=None) for s in srcs],
                                 'metadata': {'kernelspec': {'name': 'python3', 'language': 'python', 'display_name': 'Python 3'}},
                                 'nbformat': 4, 'nbformat_minor': 5}))
        return p
    monkeypatch.setenv('PETBOOK_SHARED', str(tmp_path/'no-shared'))
    monkeypatch.setenv('FASTAI_HOME', str(tmp_path/'fastai'))
    monkeypatch.delenv('PETBOOK_DATA', raising=False)
    monkeypatch.setattr('petbook.files.reachable', lambda host, port=443, timeout=3.0: False)   # offline
    with pytest.raises(pytest.skip.Exception, match='calls get_pets'):
        test_notebook(nb('uses.ipynb', 'from petbook.data import get_pets', 'path = get_pets()'), capfd, monkeypatch)
    test_notebook(nb('toy.ipynb', 'x = 1', 'print(x)'), capfd, monkeypatch)     # no get_pets(): it runs
