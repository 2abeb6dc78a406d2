"""The docs: the site that deploy.yaml publishes, opened page by page in a real browser, and README.md.

`python tools/build_docs.py` builds the site into build/site/; this test opens every page in headless Chromium
(Debian's `chromium`, or $PETBOOK_CHROMIUM, driven by Playwright) at 1280 and at 390 px wide and checks, per page:
it loads with no console error and no request leaving the site (no CDN; external images such as the Colab badge are
blocked and not counted); every image of the site loads; every link to a page
of the site and every anchor resolves; where the notebook's markdown has maths, MathJax typeset it and no raw
TeX (`$$`, `\\frac`, ...) is visible; at 390 px the text column is at least 300 px wide and nothing makes the page
scroll sideways; no progress-bar debris (█) on the page and no local paths in the outputs. Screenshots go to
build/screens/ for index, finetune and visualize (`<page>.png`: the first screen at 1280 px; `<page>-390.png`: the
whole page at 390 px). Skips, saying why, when no browser is installed.
"""
import json, os, re, shutil, sys
from pathlib import Path
from urllib.parse import urljoin, urlsplit
import pytest, yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
import build_docs as bd

SHOTS = ROOT/'build'/'screens'
SHOT_PAGES = ('index', 'finetune', 'visualize')       # the pages whose screenshots are kept
PAGES = [bd.page_name(n) for n in bd.pages()]
LOCAL_PATH = re.compile(r'(?<![\w.])/(?:work|tmp|root|home)/')
RAW_TEX = re.compile(r'\$\$|\\(?:frac|qquad|begin\{|mathrm|sum_|cdot)')

def test_sidebar_lists_every_notebook_once():
    "nbs/sidebar.yml (the site's and Quarto's page list) has every notebook once, the chapter first, index first."
    listed = [n for _, ns in bd.sidebar() for n in ns]
    nbs = sorted(p.name for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith(('_', '.')))
    assert sorted(listed) == nbs, f'nbs/sidebar.yml lists {sorted(listed)}; nbs/ has {nbs}'
    assert [s for s, _ in bd.sidebar()] == ['The chapter', 'Going further'] and listed[0] == 'index.ipynb'

def test_quarto_reads_the_same_sidebar():
    "Quarto (`nbdev-preview`) takes its sidebar from nbs/sidebar.yml too, and nbdev does not rewrite it."
    q = yaml.safe_load((ROOT/'nbs'/'_quarto.yml').read_text())
    assert 'sidebar.yml' in q['metadata-files'] and 'contents' not in q['website'].get('sidebar', {})
    assert 'custom_sidebar = true' in (ROOT/'pyproject.toml').read_text()

def test_deploy_publishes_the_tested_site():
    "The workflow that publishes the docs builds them with tools/build_docs.py and publishes build/site."
    wf = (ROOT/'.github'/'workflows'/'deploy.yaml').read_text()
    assert 'tools/build_docs.py' in wf and 'pytest tests/test_docs.py' in wf and 'build/site' in wf and 'nbdev-docs' not in wf

def test_readme_is_index_rendered():
    "README.md is what `python tools/build_docs.py readme` makes from nbs/index.ipynb (no drift)."
    new, old = bd.readme_text(), (ROOT/'README.md').read_text()
    if new != old:
        import difflib
        diff = ''.join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), 'README.md', 'from index', n=1))
        pytest.fail('README.md is not the render of nbs/index.ipynb: run `python tools/build_docs.py readme`\n' + diff[:3000])

def test_readme_has_three_commands():
    "The README gives exactly three commands: install, run, test."
    blocks = re.findall(r'```(?:sh|bash)\n(.*?)```', (ROOT/'README.md').read_text(), re.S)
    cmds = [l for b in blocks for l in b.splitlines() if l.strip() and not l.lstrip().startswith('#')]
    assert len(cmds) == 3 and cmds[0].startswith('pip install') and cmds[2].startswith('pytest'), cmds
    for img in re.findall(r'!\[[^\]]*\]\((?!https?:)([^)\s]+)\)', (ROOT/'README.md').read_text()):
        assert (ROOT/img).exists(), f'README.md shows {img}, which is missing: run `python tools/build_docs.py readme`'

def _chromium():
    for exe in (os.environ.get('PETBOOK_CHROMIUM'), shutil.which('chromium'), shutil.which('chromium-browser')):
        if exe and Path(exe).exists(): return exe
    try:                                                # else the one `playwright install chromium` puts in its cache
        from playwright.sync_api import sync_playwright
        with sync_playwright() as p: exe = p.chromium.executable_path
        return exe if Path(exe).exists() else None
    except ImportError: return None

def _has_maths(nb:str) -> bool:
    "Does the notebook's markdown (outside code) hold TeX maths: `$...$` or `$$...$$`?"
    src = '\n'.join(''.join(c['source']) for c in json.loads((ROOT/'nbs'/nb).read_text())['cells'] if c['cell_type'] == 'markdown')
    src = re.sub(r'```.*?```|`[^`\n]*`', '', src, flags=re.S)
    return bool(re.search(r'\$\$.+?\$\$|(?<![\\\w])\$[^\s$][^$\n]*?\\[a-zA-Z]+[^$\n]*?\$', src, re.S))

# Text outside code, scripts and MathJax's own output: what a reader sees as prose
PROSE_JS = '''() => { const w = document.createTreeWalker(document.querySelector('main'), NodeFilter.SHOW_TEXT, {acceptNode: n =>
  n.parentElement.closest('pre, code, script, style, .MathJax, .MathJax_Display, .MathJax_Preview, .output_area') ? 2 : 1});
  let t = ''; while (w.nextNode()) t += w.currentNode.nodeValue; return t; }'''
MATHJAX_DONE = '() => new Promise(r => (window.MathJax && MathJax.Hub) ? MathJax.Hub.Queue(() => r(true)) : r(false))'

@pytest.fixture(scope='module')
def site():
    "Build the site, open every page in Chromium: {page: facts} (also `_problems` for a page that failed to build)."
    exe = _chromium()
    if not exe: pytest.skip('no Chromium: install one (`apt-get install chromium`; .ci/install-browser) to test the docs in a browser')
    sync_playwright = pytest.importorskip('playwright.sync_api').sync_playwright
    info = {i['page']: i for i in bd.build_site()}
    shutil.rmtree(SHOTS, ignore_errors=True); SHOTS.mkdir(parents=True)
    facts = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'])
        for width in (1280, 390):
            pg = browser.new_page(viewport=dict(width=width, height=900))
            errs = []
            pg.on('console', lambda m: m.type == 'error' and 'Failed to load resource' not in m.text and "font at 'about:blank'" not in m.text and errs.append(f'console error: {m.text}'))
            pg.on('requestfailed', lambda r: r.url.startswith('file:') and errs.append(f'missing file: {r.url.split("/site/")[-1]}'))
            pg.on('pageerror', lambda e: errs.append(f'script error: {e}'))
            pg.route('**/*', lambda r: r.continue_() if r.request.url.startswith(('file:', 'data:', 'about:')) else (r.abort(),
                     r.request.resource_type != 'image' and errs.append(f'{r.request.resource_type} from outside the site: {r.request.url}')))
            for name in PAGES:
                errs.clear()
                pg.goto((bd.SITE/name).as_uri(), wait_until='load')
                typeset = pg.evaluate(MATHJAX_DONE)
                f = facts.setdefault(name, dict(problems=[], nb=info[name]['nb'], title=info[name]['title']))
                stem = Path(name).stem
                if width == 390:
                    f['main_width'] = pg.evaluate('''() => { const m = document.querySelector('main'), s = getComputedStyle(m);
                        return m.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight); }''')
                    f['scroll_width'] = pg.evaluate('() => document.documentElement.scrollWidth')
                    if stem in SHOT_PAGES: pg.screenshot(path=str(SHOTS/f'{stem}-390.png'), full_page=True, timeout=120_000)
                    continue
                if stem in SHOT_PAGES: pg.screenshot(path=str(SHOTS/f'{stem}.png'), timeout=120_000)
                f['problems'] += errs
                f['typeset'] = typeset
                f['maths'] = pg.eval_on_selector_all('.MathJax, .MathJax_Display, .MathJax_CHTML, mjx-container', 'els => els.length')
                f['bad_imgs'] = pg.eval_on_selector_all('img', 'els => els.filter(e => e.src.startsWith("file:") && (!e.complete || e.naturalWidth === 0)).map(e => e.getAttribute("src").slice(0, 80))')
                f['ids'] = set(pg.eval_on_selector_all('[id], a[name]', 'els => els.map(e => e.id || e.getAttribute("name"))'))
                f['links'] = pg.eval_on_selector_all('a[href]', 'els => els.map(e => e.getAttribute("href"))')
                f['text'] = pg.inner_text('main')
                f['outputs'] = '\n'.join(pg.eval_on_selector_all('.output_area', 'els => els.map(e => e.innerText)'))
                f['prose'] = pg.evaluate(PROSE_JS)
        browser.close()
    return facts

def page_problems(site, name) -> list:
    "One page: loads cleanly, images load, maths typeset, readable at 390 px, no debris or local paths."
    f, problems = site[name], list(site[name]['problems'])
    problems += [f'image did not load: {s}' for s in f['bad_imgs']]
    if _has_maths(f['nb']):
        if not f['typeset'] or f['maths'] == 0: problems.append(f'the notebook has maths but MathJax typeset none (typeset={f["typeset"]}, {f["maths"]} elements)')
    for m in sorted(set(RAW_TEX.findall(f['prose']))): problems.append(f'raw TeX visible in the text: {m!r}')
    if f['main_width'] < 300: problems.append(f'at 390 px wide the text column is {f["main_width"]:.0f} px (< 300)')
    if f['scroll_width'] > 391: problems.append(f'at 390 px wide the page is {f["scroll_width"]} px wide: it scrolls sideways')
    if '█' in f['text']: problems.append(f'progress-bar debris (█) on the page, {f["text"].count("█")} times')
    for line in sorted({l.strip()[:120] for l in f['outputs'].splitlines() if LOCAL_PATH.search(l)}):
        problems.append(f'a local path in an output: {line}')
    if not f['text'].strip(): problems.append('empty page')
    return [f'{name} (nbs/{f["nb"]}): {p}' for p in problems]

def broken_links(site) -> list:
    "Every link to a page of the site resolves, and so does its #anchor (nbdev's API links included)."
    broken = []
    for src, f in site.items():
        for href in f['links']:
            u = urlsplit(href)
            if u.scheme or href.startswith('//'): continue             # external: not followed offline
            target = urljoin(src, u.path) if u.path else src
            if target.endswith('.html') and target not in site: broken.append(f'{src}: {href}: no page {target}')
            elif not target.endswith('.html') and not (bd.SITE/target).exists(): broken.append(f'{src}: {href}: no file')
            elif u.fragment and target in site and u.fragment not in site[target]['ids']:
                broken.append(f'{src}: {href}: no #{u.fragment} on {target} (a `show_doc` of it, one per cell, makes the anchor)')
    return sorted(set(broken))

def next_text_mismatches(site) -> list:
    "A page's closing \"Next:\" sentence names the page that its next link goes to."
    bad = []
    for a, b in zip(PAGES, PAGES[1:]):
        said = re.findall(r'^\W*Next:\s*(.+)$', site[a]['text'], re.M)
        if said and not any(w in said[-1].lower() for w in (site[b]['title'].lower(), Path(b).stem)):
            bad.append(f'{a}: says "Next: {said[-1][:70]}"; the next page is {b} ("{site[b]["title"]}")')
    return bad

@pytest.mark.slow
def test_site_in_a_browser(site):
    "Every page in Chromium (one test, so that pytest-xdist builds and opens the site once): see the module's doc."
    report = {'pages': [p for name in PAGES for p in page_problems(site, name)],
              'broken links and anchors': broken_links(site),
              '"Next:" text that names another page than the next link': next_text_mismatches(site)}
    if any(report.values()): pytest.fail('\n'.join(f'{k} ({len(v)}):\n  ' + '\n  '.join(v) for k, v in report.items() if v), pytrace=False)

def test_contributing_map_names_real_functions():
    "CONTRIBUTING.md's table of where things are: every module it names exists and holds every name in its row."
    import importlib
    text = (ROOT/'CONTRIBUTING.md').read_text()
    sec = text[text.index('## Where things are'):]
    sec = sec[:sec.index('\n## ', 3)]
    rows = [r.split('|') for r in sec.splitlines() if r.startswith('| ') and not r.startswith('| step')]
    assert len(rows) >= 10, sec
    missing = [(n, mods) for r in rows for mods in [re.findall(r'`(\w+)` \(', r[2])] for n in re.findall(r'`(\w+)`', r[3])
               if not any(hasattr(importlib.import_module(f'petbook.{m}'), n) for m in mods)]
    assert not missing, missing
    listed = {m for r in rows for m in re.findall(r'`(\w+)` \(', r[2])}
    modules = {p.stem for p in (ROOT/'petbook').glob('*.py') if not p.stem.startswith('_')}
    assert listed == modules, (modules - listed, listed - modules)
