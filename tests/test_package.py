"""What a user's `pip install petbook` gets: the wheel built from this checkout holds the library and every results
file the pages print (package data under `petbook/results/`, read with `importlib.resources.files('petbook')`)."""
import sys, zipfile, subprocess
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

@pytest.mark.slow
def test_wheel_ships_the_results(tmp_path):
    r = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(tmp_path), str(ROOT)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    names = set(zipfile.ZipFile(next(tmp_path.glob('petbook-*.whl'))).namelist())
    results = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT/'petbook'/'results').rglob('*') if p.is_file())
    assert len(results) >= 5, results
    assert [p for p in results if p not in names] == [], 'results files missing from the wheel: add them to package-data'
    modules = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT/'petbook').glob('*.py'))
    assert [m for m in modules if m not in names] == []
