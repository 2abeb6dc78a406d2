"""The hostile suite (`tests/hostile.py`), one pytest test per case: `pytest tests/test_hostile.py -k archive`.

Each pytest worker starts one case server (`python tests/hostile.py --serve`: it imports petbook once and trains
the small model the model-file cases start from), then asks it for one case per test. The server runs each case
as before: a child process under a memory cap, a file-size cap and a timeout. A case passes when it is handled
cleanly: no crash, no silently wrong result, nothing lost.

`petbook/results/hostile.json` (the reliability page prints its counts) must list exactly these cases, all clean;
refresh it with `python tests/hostile.py --out petbook/results/hostile.json`.
"""
import os, sys, json
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tests'))
import hostile
from conftest import case_server

CASE_IDS = [hostile.case_id(c) for c in hostile.CASES]
COMMITTED = ROOT/'petbook'/'results'/'hostile.json'

@pytest.fixture(scope='session')
def ask():
    "A case server for this worker: `ask(case_id)` is that case's result."
    yield from case_server(ROOT/'tests'/'hostile.py', 4*hostile.TIMEOUT + 60)

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
