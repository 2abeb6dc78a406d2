"""The hostile suite (`tests/hostile.py`) as a test: every case handled cleanly, and `nbs/results/hostile.json`
(which the reliability page prints) holds the counts of a fresh run.

The suite runs in its own process (each case in a child under a memory cap, a file-size cap and a timeout).
Refresh the committed results with `python tests/hostile.py --out nbs/results/hostile.json`.
"""
import os, sys, json, subprocess
import pytest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COUNTS = ('kinds', 'classes', 'clean', 'crashed', 'wrong', 'lost')

@pytest.mark.slow
def test_hostile_suite(tmp_path):
    "0 crashed, 0 silently wrong, 0 lost; the committed counts are a fresh run's."
    out = tmp_path/'hostile.json'
    r = subprocess.run([sys.executable, str(ROOT/'tests'/'hostile.py'), '--out', str(out)], capture_output=True, text=True,
                       timeout=1200, env={**os.environ, 'PYTHONWARNINGS': 'ignore'})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    print(r.stdout.splitlines()[-1])
    fresh = json.loads(out.read_text())
    assert fresh['kinds'] == len(fresh['cases']) == sum(fresh[o] for o in ('clean', 'crashed', 'wrong', 'lost'))
    committed = json.loads((ROOT/'nbs'/'results'/'hostile.json').read_text())
    assert [c['name'] for c in committed['cases']] == [c['name'] for c in fresh['cases']], 'refresh nbs/results/hostile.json'
    assert {k: committed[k] for k in COUNTS} == {k: fresh[k] for k in COUNTS}, 'refresh nbs/results/hostile.json'
    bad = [c for c in fresh['cases'] if c['outcome'] != 'clean']
    assert (fresh['crashed'], fresh['wrong'], fresh['lost']) == (0, 0, 0), '\n'.join(f"{c['outcome']}: [{c['kind']}] {c['name']}: {c['detail']}" for c in bad)
