import os, sys, json, select, subprocess, tempfile
import pytest
os.environ.setdefault('MPLBACKEND', 'Agg')
os.environ.setdefault('PYTHONWARNINGS', 'ignore::FutureWarning')
if (n := int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', 1))) > 1:   # pytest-xdist: share the cores, don't oversubscribe them
    import torch
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // n))

# ---- the Pets download, served on 127.0.0.1 (tests/test_runall.py, tests/test_runtimes.py) ------------------------------
@pytest.fixture(scope='session')
def pets_archive(tmp_path_factory):
    "`oxford-iiit-pet.tgz` packed from ../shared/realpets/oxford (once a session per worker)."
    from realpets import find_realpets
    from petbook.testing import pets_tgz
    if (photos := find_realpets('oxford')) is None: pytest.skip('no ../shared/realpets/oxford beside the checkout to serve as the Pets download')
    return pets_tgz(tmp_path_factory.mktemp('www'), photos=photos)

@pytest.fixture(scope='session')
def pets_server(pets_archive):
    "A local HTTP server for `pets_archive`'s folder (`srv.fetched` counts the requests)."
    from petbook.testing import serve
    with serve(pets_archive.parent) as srv: yield srv

# ---- the case servers of the hostile and fault suites (tests/test_hostile.py, tests/test_faults.py) -------------------------
def case_server(script, timeout:float):
    """Start `python SCRIPT --serve` (it imports petbook once and prepares its base model) and yield `ask(case_id)`,
    that case's result; `timeout`: seconds one case may take."""
    err = tempfile.TemporaryFile('w+')
    srv = subprocess.Popen([sys.executable, str(script), '--serve'], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=err, text=True, env={**os.environ, 'PYTHONWARNINGS': 'ignore'})
    def answer(secs):
        if not select.select([srv.stdout], [], [], secs)[0]:
            srv.kill(); err.seek(0); pytest.fail(f'the case server gave no answer in {secs} s:\n{err.read()[-3000:]}')
        line = srv.stdout.readline()
        if not line: err.seek(0); pytest.fail(f'the case server stopped:\n{err.read()[-3000:]}')
        return json.loads(line)
    answer(600)                                    # ready: petbook imported, the base model trained
    def ask(case_id):
        srv.stdin.write(case_id + '\n'); srv.stdin.flush()
        return answer(timeout)
    yield ask
    srv.stdin.close(); srv.wait(60); err.close()

# ---- "Run all" times (tests/test_runtimes.py and tests/test_runall.py record them with `record_property('runall', ...)`) -------------------
# Reports reach this hook in the main process, with pytest-xdist too; the table is printed at the end of the run
# and, when PETBOOK_RUNALL_TIMES names a file, written there as JSON.
_RUNALL, _FAULTS = [], []

def pytest_runtest_logreport(report):
    if report.when == 'call':
        _RUNALL.extend(v for k, v in report.user_properties if k == 'runall')
        _FAULTS.extend(v for k, v in report.user_properties if k == 'fault')

def pytest_terminal_summary(terminalreporter):
    if _FAULTS: _fault_counts(terminalreporter)
    if not _RUNALL: return
    tr = terminalreporter
    tr.section('"Run all": seconds per notebook (tests/test_runtimes.py: per runtime profile; tests/test_runall.py: case B)')
    rows = sorted(_RUNALL, key=lambda r: (r['case'], r['nb']))
    for r in rows:
        cells = f"  {r['ran']:3} of {r['cells']:3} cells run, {r['failed']} failed" if 'cells' in r else ''
        tr.write_line(f"  case {r['case']:<6} {r['nb']:<16} {r['seconds'] if r['seconds'] is not None else '-':>7}s{cells}  {'ok' if r['ok'] else 'FAILED'}")
    for case in sorted({r['case'] for r in rows}):
        tr.write_line(f"  case {case}  total {sum(r['seconds'] or 0 for r in rows if r['case'] == case):.0f}s")
    if out := os.environ.get('PETBOOK_RUNALL_TIMES'):
        with open(out, 'w') as f: json.dump(rows, f, indent=1)

def _fault_counts(tr):
    "The fault suite's outcomes per class of fault (tests/test_faults.py records one per case)."
    from faults import CLASSES, OUTCOMES
    tr.section('fault suite: outcomes per class of fault')
    tr.write_line(f"  {'class':<12} {'kinds tried':>11} " + ' '.join(f'{o:>8}' for o in OUTCOMES))
    for k in CLASSES:
        got = [f['outcome'] for f in _FAULTS if f['kind'] == k]
        tr.write_line(f'  {k:<12} {len(got):>11} ' + ' '.join(f'{got.count(o):>8}' for o in OUTCOMES))

# ---- the longest tests first, so that two workers finish together (longest-processing-time-first scheduling) ----------
# Seconds measured on a 2-core CPU; a test not listed counts as short. Only the order changes, never what runs.
LONG = {'test_notebook_in_runtime[colab-05_visualize]': 900, 'test_notebook_in_runtime[kaggle-05_visualize]': 900,
        'test_shown_code_runs[05_visualize]': 664, 'test_shown_code_runs[04_finetune]': 537, 'test_shown_code_runs[06_upload]': 268,
        'test_notebook_in_runtime[colab-04_finetune]': 319, 'test_notebook_in_runtime[kaggle-04_finetune]': 307,
        'test_notebook[05_visualize]': 240, 'test_notebook_in_runtime[kaggle-02b_fastlearn]': 200, 'test_notebook_in_runtime[colab-06_upload]': 198,
        'test_notebook_in_runtime[kaggle-06_upload]': 187, 'test_notebook_in_runtime[colab-02b_fastlearn]': 144,
        'test_notebook[04_finetune]': 160, 'test_run_all_book_body[04_finetune]': 150, 'test_notebook_in_runtime[colab-03_learner]': 66,
        'test_notebook_in_runtime[kaggle-03_learner]': 66, 'test_notebook[06_upload]': 115, 'test_train_predict_visualize': 60,
        'test_notebook_in_runtime[colab-02_dataloaders]': 49, 'test_notebook_in_runtime[kaggle-02_dataloaders]': 49,
        'test_notebook[07_cli]': 50, 'test_readme_is_index_rendered': 36, 'test_site_in_a_browser': 35, 'test_demo_report': 28,
        'test_notebook[02b_fastlearn]': 23, 'test_notebook_fast_checks[04_finetune]': 26, 'test_notebook_fast_checks[05_visualize]': 23, 'test_notebook[07a_report]': 18}

@pytest.hookimpl(trylast=True)   # after `-m`/`-k` have deselected
def pytest_collection_modifyitems(config, items):
    """Order for two workers: xdist's `worksteal` hands the first half of the list to one worker and the second half
    to the other, each from its front, and an idle worker takes from the end of a busy one's queue. So the long tests are
    split between the halves by greedy longest-first (each to the half with less work), each half starts with its long
    tests, and the short ones fill the halves to equal counts. Only the order changes, never what runs."""
    runtime = {it.name.split('-', 1)[1].rstrip(']') for it in items if it.name.startswith('test_notebook_in_runtime[kaggle-')}
    if runtime:         # the Kaggle-profile run of a notebook checks its committed outputs too: don't run it twice
        from test_runtimes import _skip_reason
        if _skip_reason('kaggle') is None:
            dropped = [it for it in items if it.name.startswith('test_notebook[') and it.name[len('test_notebook['):-1] in runtime]
            if dropped: config.hook.pytest_deselected(items=dropped); items[:] = [it for it in items if it not in dropped]
    long = sorted((it for it in items if it.name in LONG), key=lambda it: -LONG[it.name])
    short = [it for it in items if it.name not in LONG]
    halves, work = ([], []), [0, 0]
    for it in long:
        i = int(work[1] < work[0]); halves[i].append(it); work[i] += LONG[it.name]
    for it in short: (halves[0] if len(halves[0]) < len(items)//2 else halves[1]).append(it)
    items[:] = halves[0] + halves[1]

@pytest.hookimpl(optionalhook=True)   # only pytest-xdist (`-n`) defines this hook
def pytest_xdist_make_scheduler(config, log):
    "With `-n`, an idle worker takes half of a busy one's queue (xdist's `worksteal`), so the long tests above spread out."
    from xdist.scheduler import WorkStealingScheduling
    return WorkStealingScheduling(config, log)
