"""The fault suite (`tests/faults.py`), one pytest test per case: `pytest tests/test_faults.py -k interrupted`.

Each pytest worker starts one case server (`python tests/faults.py --serve`), which imports petbook once and trains
the model the cases start from, then asks it for one case per test. A case passes when petbook handled the fault
cleanly: not crashed, not silently wrong, nothing lost, not hung.

`petbook/results/faults.json` (the reliability page prints its counts per class) must list exactly these cases,
all clean; refresh it with `python tests/faults.py --out petbook/results/faults.json`.
"""
import sys, json
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tests'))
import faults
from conftest import case_server

CASE_IDS = [faults.case_id(c) for c in faults.CASES]
COMMITTED = ROOT/'petbook'/'results'/'faults.json'

@pytest.fixture(scope='session')
def ask():
    "A fault-case server for this worker: `ask(case_id)` is that case's result."
    yield from case_server(ROOT/'tests'/'faults.py', 4*faults.TIMEOUT + 120)

def test_case_ids_are_unique_and_every_class_has_cases():
    assert len(set(CASE_IDS)) == len(CASE_IDS)
    assert {c.kind for c in faults.CASES} == set(faults.CLASSES)

def test_committed_results_are_these_cases_all_clean():
    r = json.loads(COMMITTED.read_text())
    assert [f"{c['kind']}: {c['name']}" for c in r['cases']] == CASE_IDS, 'refresh petbook/results/faults.json'
    for k, v in r['classes'].items():
        assert (v['crashed'], v['wrong'], v['lost'], v['hung'], v['skipped']) == (0, 0, 0, 0, 0), (k, v)
        assert v['tried'] == v['clean'] > 0, (k, v)

@pytest.mark.slow
@pytest.mark.parametrize('case_id', CASE_IDS)
def test_fault(case_id, ask, record_property):
    "One fault, handled cleanly: not crashed, not silently wrong, nothing lost, not hung."
    r = ask(case_id)
    if r['outcome'] == 'skipped': pytest.skip(r['detail'])
    record_property('fault', dict(kind=case_id.split(':')[0], outcome=r['outcome']))   # conftest prints the counts per class
    assert r['outcome'] == 'clean', f"{r['outcome']}: {r['detail']}"
