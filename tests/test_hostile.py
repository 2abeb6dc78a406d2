"""The hostile suite (`tests/hostile.py`), one pytest test per case: `pytest tests/test_hostile.py -k archive`.

Each pytest worker starts one case server (`python tests/hostile.py --serve`: it imports petbook once and trains
the small model the model-file cases start from), then asks it for one case per test. The server runs each case
as before: a child process under a memory cap, a file-size cap and a timeout. A case passes when it is handled
cleanly: no crash, no silently wrong result, nothing lost.

`petbook/results/hostile.json` (the reliability page prints its counts) must list exactly these cases, all clean;
refresh it with `python tests/hostile.py --out petbook/results/hostile.json`.
"""
import os, sys, json, select, subprocess, tempfile
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tests'))
import hostile

CASE_IDS = [hostile.case_id(c) for c in hostile.CASES]
COMMITTED = ROOT/'petbook'/'results'/'hostile.json'

@pytest.fixture(scope='session')
def ask():
    "A case server for this worker: `ask(case_id)` is that case's result."
    err = tempfile.TemporaryFile('w+')
    srv = subprocess.Popen([sys.executable, str(ROOT/'tests'/'hostile.py'), '--serve'], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, stderr=err, text=True, env={**os.environ, 'PYTHONWARNINGS': 'ignore'})
    def answer(timeout):
        if not select.select([srv.stdout], [], [], timeout)[0]:
            srv.kill(); err.seek(0); pytest.fail(f'the case server gave no answer in {timeout} s:\n{err.read()[-3000:]}')
        line = srv.stdout.readline()
        if not line: err.seek(0); pytest.fail(f'the case server stopped:\n{err.read()[-3000:]}')
        return json.loads(line)
    answer(600)                                    # ready: petbook imported, the base model trained
    def ask(case_id):
        srv.stdin.write(case_id + '\n'); srv.stdin.flush()
        return answer(4*hostile.TIMEOUT + 60)
    yield ask
    srv.stdin.close(); srv.wait(60); err.close()

def test_case_ids_are_unique():
    assert len(set(CASE_IDS)) == len(CASE_IDS) > 100

def test_committed_results_are_these_cases_all_clean():
    r = json.loads(COMMITTED.read_text())
    assert [f"{c['kind']}: {c['name']}" for c in r['cases']] == CASE_IDS, 'refresh petbook/results/hostile.json'
    assert (r['kinds'], r['clean'], r['crashed'], r['wrong'], r['lost']) == (len(CASE_IDS), len(CASE_IDS), 0, 0, 0)
    assert r['classes'] == len({c.kind for c in hostile.CASES})

@pytest.mark.slow
@pytest.mark.parametrize('case_id', CASE_IDS)
def test_hostile(case_id, ask):
    "One hostile case, handled cleanly: 0 crashed, 0 silently wrong, 0 lost."
    r = ask(case_id)
    assert r['outcome'] == 'clean', f"{r['outcome']}: {r['detail']}"
