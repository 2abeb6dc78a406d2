"""What a user's `pip install petbook` gets: the wheel built from this checkout holds the library and every results
file the pages print (package data under `petbook/results/`, read with `importlib.resources.files('petbook')`)."""
import shutil, sys, zipfile, subprocess
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

def build_wheel(dest:Path) -> Path:
    """petbook's wheel, built from a copy of this working tree in `dest` (a build writes `build/` and `*.egg-info` into
    its source folder, so two test workers building from the checkout at once would trip over each other)."""
    src = dest/'src'
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns('.git', '.venv', 'venv', 'nbs', 'tests', 'build', 'dist', '_docs', '_proc',
                                                            'docs', 'demo', '*.egg-info', '__pycache__', '.pytest_cache', '.whl'))
    r = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(dest), str(src)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    return next(dest.glob('petbook-*.whl'))

@pytest.mark.slow
def test_wheel_ships_the_results(tmp_path):
    names = set(zipfile.ZipFile(build_wheel(tmp_path)).namelist())
    results = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT/'petbook'/'results').rglob('*') if p.is_file())
    assert len(results) >= 5, results
    assert [p for p in results if p not in names] == [], 'results files missing from the wheel: add them to package-data'
    modules = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT/'petbook').glob('*.py'))
    assert [m for m in modules if m not in names] == []
