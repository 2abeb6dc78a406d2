"""Run every notebook in `nbs/` as a pytest test, the way `nbdev-test` does.

Each notebook is one test, executed with `nbdev.test.test_nb` so that nbdev's skip flags
(`tst_flags` in `pyproject.toml`: `notest slow cuda`) are honoured. Run flagged cells too with
`PETBOOK_FLAGS="slow" pytest` (space separated, like `nbdev-test --flags`).
"""
import os, sys, io, contextlib
from pathlib import Path
import pytest
from nbdev.config import get_config
from nbdev import test as nbtest

cfg = get_config(Path(__file__).parent)
NBS = sorted(p for p in cfg.nbs_path.glob('*.ipynb') if not p.name.startswith('_'))
SKIP = cfg.tst_flags.split() if isinstance(cfg.tst_flags, str) else list(cfg.tst_flags)
FORCE = os.environ.get('PETBOOK_FLAGS', '').split()

@pytest.mark.parametrize('nb', NBS, ids=[p.stem for p in NBS])
def test_notebook(nb, capfd):
    "Execute the notebook top to bottom (skipping flagged cells); fail on the first cell error."
    ok, secs = nbtest.test_nb(nb, skip_flags=SKIP, force_flags=FORCE, basepath=cfg.config_path, showerr=True)
    print(f'{nb.name}: {secs:.1f}s')
    assert ok, f'{nb.name} failed: see the traceback above'
