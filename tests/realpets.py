"""Where the development checkout keeps its real evaluation photos, for the tests (never for notebook cells).

A petbook checkout may have a `shared/realpets` folder beside it (`../shared/realpets/oxford`: 370 Oxford-IIIT
photos with Pets names; `../shared/realpets/catsdogs`: 2,000 `Cat_<n>.jpg`/`dog_<n>.jpg`). They are never copied
into the repository. Notebooks never look for them: the test runner hands them to `get_pets()` through
`PETBOOK_DATA`, the same variable a user has (`pets_data_env`).

    from realpets import find_realpets, pets_data_env     # tests/ is on sys.path under pytest
"""
import os, re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_ENV = 'PETBOOK_SHARED'   # points at a `shared` folder elsewhere; an empty or missing folder means "none"

def find_realpets(
    name:str='oxford', # Sub-folder: 'oxford' (37 breeds, 370 photos) or 'catsdogs' (2,000 photos)
    start:str|Path=None, # Folder to search upwards from (default: this checkout)
) -> Path|None: # The folder, or None when there is none
    "The real evaluation photos in a `shared/realpets` folder beside (or above) a petbook checkout, if any."
    if (env := os.environ.get(SHARED_ENV)) is not None:
        p = Path(env)/'realpets'/name
        return p if env and p.is_dir() else None
    for d in [p := Path(start or ROOT).resolve(), *p.parents]:
        for cand in (d/'shared'/'realpets'/name, d.parent/'shared'/'realpets'/name):
            if cand.is_dir(): return cand
    return None

def pets_data_env(environ=None) -> dict:
    """The `PETBOOK_DATA` a notebook run gets: the variable as set, else the oxford photos beside the checkout.
    Returns `{}` when there is nothing to add (already set, or no real photos here)."""
    environ = os.environ if environ is None else environ
    if environ.get('PETBOOK_DATA'): return {}
    p = find_realpets('oxford')
    return {'PETBOOK_DATA': str(p)} if p else {}

# `get_pets()` called with no arguments: the lesson's data source (a `lambda: get_pets()` inside `test_fail` is a test
# of the failure, not a use).
_GET_PETS = re.compile(r'(?<!\w)(?<!def )get_pets\(\s*\)')

def calls_get_pets(src:str) -> bool:
    "Whether code `src` calls `get_pets()` for its images (not counting the definition or `lambda: get_pets()`)."
    return any(not src[max(0, m.start()-8):m.start()].rstrip().endswith('lambda:') for m in _GET_PETS.finditer(src))
