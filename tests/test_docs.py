"""The docs: README.md is nbdev's render of nbs/index.ipynb, and the offline site works in a real browser.

The browser test builds the offline site (`python tools/build_docs.py` → `build/site/`), opens every page in
headless Chromium (Debian's `chromium`, driven by Playwright) and checks that each page loads without console
errors or failed requests, that every image has loaded (natural width > 0), that every internal link points to
an existing page and anchor (nbdev's automatic API links to names without a `show_doc` heading are only noted:
Quarto's site has the same), that nbdev could process every notebook, and that the figures and training tables
the notebooks committed (plus those in `MUST_HAVE`) are on the pages.
A full-page screenshot of each page goes to `build/screenshots/` (not committed). It skips, saying why, when no
browser is installed (`.ci/install-browser` installs one; `.ci/run` calls it).
"""
import json, os, re, shutil, sys
from pathlib import Path
from urllib.parse import urljoin, urlsplit
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
import build_docs as bd

SHOTS = ROOT/'build'/'screenshots'
CHROME_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
               '--disable-sync', '--no-first-run', '--disable-dev-shm-usage']

# What must be on a chapter's page when its notebook exists (checked on top of what the notebook's own outputs
# imply): the training tables the book shows, with their columns, and figures.
MUST_HAVE = {
    '00_data':        dict(images=1),
    '02_dataloaders': dict(images=1),
    '04_finetune':    dict(images=1, table_cols=['epoch', 'train_loss', 'valid_loss', 'error_rate']),
    '05_visualize':   dict(images=1),
    '06_upload':      dict(images=1),
}

def test_readme_is_index_rendered():
    "README.md is exactly what `python tools/build_docs.py readme` makes from nbs/index.ipynb (no drift)."
    new, old = bd.readme_text(), (ROOT/'README.md').read_text()
    if new != old:
        import difflib
        diff = ''.join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), 'README.md', 'from index.ipynb', n=1))
        pytest.fail('README.md is not the render of nbs/index.ipynb: run `python tools/build_docs.py readme`\n' + diff[:3000])

def test_sidebar_in_chapter_order():
    "nbs/sidebar.yml (Quarto's sidebar) lists every notebook, index first, then in chapter order."
    import yaml
    sb = yaml.safe_load((ROOT/'nbs'/'sidebar.yml').read_text())['website']['sidebar']['contents']
    flat = [o for c in sb for o in ([c] if isinstance(c, str) else c['contents'])]
    assert flat == [p.name for p in bd.chapters()], f'nbs/sidebar.yml is stale: run `python tools/build_docs.py sidebar` ({flat})'

def test_colab_kaggle_badges_point_at_their_notebook():
    "Where a notebook has the Colab/Kaggle badges, they open that very notebook in the repository of pyproject.toml."
    import nb_header
    repo = nb_header.repo_url()                       # https://github.com/OWNER/NAME
    for nb in bd.chapters():
        for c in json.loads(nb.read_text())['cells']:
            src = ''.join(c['source'])
            if nb_header.BADGE_MARK not in src: continue
            links = set(re.findall(r'\]\((https://[^)\s]+)\)', src)) - set(re.findall(r'!\[[^\]]*\]\((https://[^)\s]+)\)', src))
            want = {f"https://colab.research.google.com/github/{repo.removeprefix('https://github.com/')}/blob/main/nbs/{nb.name}",
                    f'https://kaggle.com/kernels/welcome?src={repo}/blob/main/nbs/{nb.name}'}
            assert links == want, (nb.name, links)

def test_quarto_syntax_degrades_to_html(tmp_path):
    "Quarto-only markdown (callouts, fenced divs, attributes, cell options) renders as plain HTML offline."
    page = bd.Page('x.html', tmp_path, 'https://petbook-dev.github.io/petbook/')
    h = page.markdown('::: {.callout-note title="Heads up"}\nSome **bold**.\n:::\n\n## A head {#my-id}\n\n'
                      '[source](https://github.com/a/b){target="_blank" style="float:right"} [x](y.html){.c}\n\n'
                      '| flag |\n|---|\n| `#| slow` |\n')
    assert '<div class="callout callout-note">' in h and 'Heads up' in h and '<strong>bold</strong>' in h
    assert 'id="my-id"' in h and '{' not in h and '<a class="srclink" href="https://github.com/a/b">source</a>' in h
    assert '<code>#| slow</code></td>' in h
    cell = dict(cell_type='code', source='#| echo: false\n#| output: asis\nshow_doc(f)', outputs=[
        dict(output_type='execute_result', data={'text/markdown': '### f\n\nDoes [g](https://petbook-dev.github.io/petbook/data.html#g).'})])
    h = page.local_links(page.cell(cell))
    assert 'show_doc' not in h and 'id="f"' in h and 'href="data.html#g"' in h
    assert bd.cell_options('#| code-fold: true\n#| code-summary: "Setup"\nx = 1') == ({'code-fold': 'true', 'code-summary': 'Setup'}, 'x = 1')
    assert bd.page_name(Path('00_data.ipynb')) == 'data.html' and bd.page_name(Path('index.ipynb')) == 'index.html'

def _chromium():
    "Debian's chromium (or $PETBOOK_CHROMIUM), else a browser installed by `playwright install chromium`, else None."
    for exe in (os.environ.get('PETBOOK_CHROMIUM'), shutil.which('chromium'), shutil.which('chromium-browser'), '/usr/bin/chromium'):
        if exe and Path(exe).exists(): return exe
    try:
        from playwright.sync_api import sync_playwright
        with sync_playwright() as p: exe = p.chromium.executable_path
        if Path(exe).exists(): return exe
    except Exception: pass

def _expected(nb:Path) -> dict:
    "What a page must show: the figures and tables its notebook committed in visible cells, plus `MUST_HAVE`."
    from nbdev.process import NBProcessor
    imgs, tables = 0, []
    for c in NBProcessor(nb, rm_directives=False, process=True).nb.cells:
        d = getattr(c, 'directives_', {}) or {}
        if c.cell_type != 'code' or d.keys() & {'hide', 'export', 'exporti'}: continue
        if d.get('include') == ['false'] or d.get('output') == ['false']: continue
        for o in c.get('outputs', []):
            data = o.get('data', {})
            if 'text/html' in data:
                h = ''.join(data['text/html'])
                for t in re.findall(r'<table.*?</table>', h, re.S):
                    cols = [re.sub(r'<[^>]+>', '', x).strip() for x in re.findall(r'<th[^>]*>(.*?)</th>', t, re.S)]
                    if any(cols): tables.append([x for x in cols if x])
            elif any(k.startswith('image/') for k in data): imgs += 1
    m = MUST_HAVE.get(nb.stem, {})
    if m.get('table_cols'): tables.append(m['table_cols'])
    return dict(images=max(imgs, m.get('images', 0)), tables=tables)

@pytest.fixture(scope='module')
def site():
    pages = bd.build_site(n_workers=2, quiet=True)
    return bd.SITE, pages

def test_site_in_browser(site):
    "Every page of the offline site loads cleanly in headless Chromium, with its figures, tables and working links."
    exe = _chromium()
    if not exe: pytest.skip('no browser: install Debian\'s chromium (`.ci/install-browser`) to run the docs browser test')
    sync_api = pytest.importorskip('playwright.sync_api', reason='the playwright Python package is not installed')
    out, pages = site
    SHOTS.mkdir(parents=True, exist_ok=True)
    for f in SHOTS.glob('*.png'): f.unlink()
    problems, ids, links, report = [], {}, [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=CHROME_ARGS)
        pg = browser.new_page(viewport={'width': 1280, 'height': 900})
        errs = []
        pg.on('console', lambda m: errs.append(f'console {m.type}: {m.text}') if m.type == 'error' else None)
        pg.on('pageerror', lambda e: errs.append(f'page error: {e}'))
        pg.on('requestfailed', lambda r: errs.append(f'request failed: {r.url} ({r.failure})'))
        problems += [f"{pinfo['page']}: {pinfo['error']}" for pinfo in pages if pinfo['error']]
        for pinfo in pages:
            name = pinfo['page']; errs.clear()
            url = (out/name).as_uri()
            resp = pg.goto(url, wait_until='load')
            pg.wait_for_load_state('networkidle')
            problems += [f'{name}: {e}' for e in errs]
            bad_imgs = pg.eval_on_selector_all('img', 'els => els.filter(e => !e.complete || e.naturalWidth === 0).map(e => e.getAttribute("src"))')
            problems += [f'{name}: image did not load: {s}' for s in bad_imgs]
            n_imgs = pg.eval_on_selector_all('main img', 'els => els.length')
            ids[name] = set(pg.eval_on_selector_all('[id], a[name]', 'els => els.map(e => e.id || e.getAttribute("name"))'))
            links += [(name, *l) for l in pg.eval_on_selector_all('a[href]', 'els => els.map(e => [e.getAttribute("href"), e.hasAttribute("data-api")])')]
            heads = pg.eval_on_selector_all('main table', 'ts => ts.map(t => Array.from(t.querySelectorAll("th")).map(th => th.textContent.trim()))')
            exp = _expected(ROOT/'nbs'/pinfo['nb']) if not pinfo['error'] else dict(images=0, tables=[])
            if n_imgs < exp['images']: problems.append(f'{name}: {n_imgs} figures on the page, expected at least {exp["images"]}')
            for cols in exp['tables']:
                if not any(set(cols) <= set(h) for h in heads): problems.append(f'{name}: no table with columns {cols} (tables: {heads})')
            if not pg.inner_text('main').strip(): problems.append(f'{name}: empty page')
            pg.screenshot(path=str(SHOTS/f'{Path(name).stem}.png'), full_page=True)
            report.append(f'{name}: {n_imgs} figures, {len(heads)} tables')
        browser.close()
    notes = set()
    for src, href, api in links:
        u = urlsplit(href)
        if u.scheme or href.startswith('//'): continue            # external: not checked offline
        target = urljoin(src, u.path) if u.path else src
        if target not in ids:
            if not (out/target).exists(): problems.append(f'{src}: broken link {href}')
            continue
        if u.fragment and u.fragment not in ids[target]:
            # nbdev links every exported name, methods and private helpers too, to an anchor that only a `show_doc`
            # heading creates: Quarto's site has the same dangling anchors, so they are noted, not failed
            if api: notes.add(f'{src}: API link {href} has no `show_doc` on {target} (lands at the top of the page)')
            else: problems.append(f'{src}: link {href}: no anchor #{u.fragment} on {target}')
    print(f'{len(pages)} pages checked; screenshots in {SHOTS}\n' + '\n'.join(report) + ''.join(f'\nnote: {n}' for n in sorted(notes)))
    assert not problems, '\n'.join(problems)
