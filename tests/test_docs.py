"""The docs: the site that deploy.yaml publishes, opened page by page in a real browser, and README.md.

`python tools/build_docs.py` builds the site into build/site/; this test opens every page in headless Chromium
(Debian's `chromium`, or $PETBOOK_CHROMIUM, driven by Playwright) at 1280 and at 390 px wide and checks, per page:
it loads with no console error and no request leaving the site (no CDN; external images such as the Colab badge are
blocked and not counted); every image of the site loads; every link to a page
of the site and every anchor resolves; where the notebook's markdown has maths, MathJax typeset it and no raw
TeX (`$$`, `\\frac`, ...) is visible; at 390 px the text column is at least 300 px wide and nothing makes the page
scroll sideways; no progress-bar debris (█) on the page and no local paths in the outputs. The layout: on a lesson page
(index and 00-06) at most 5% of the code and output blocks (`pre`, `table`) scroll sideways at 1280 px; at 390 px
every table wider than the screen scrolls inside its own box and the page list is folded away; a figure drawn by one
of petbook's figure functions (`FIGURES`) shows its smallest text at 8 px or more at both widths. Screenshots go to
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
LESSON_PAGES = {bd.page_name(n) for n in bd.pages() if n == 'index.ipynb' or re.match(r'0[0-6]_', n)}
MAX_SCROLLING, MIN_FIGURE_TEXT, MAX_MENU = 0.05, 8, 0.1   # share of blocks; px; share of the first screen at 390
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

# The figures whose text size is checked, per page: a function of petbook's drawn on made-up inputs of the same shape
# as the page's. A PNG keeps no font sizes, so the smallest one is read from the drawn figure (the smallest font of
# its visible texts, in pt, times dpi/72) and divided by the figure's width in pixels as Jupyter saves it (tight
# bounding box); the page's image of that figure (the one with the same aspect ratio) shows that ratio times its
# displayed width.
def _samuel():
    import torch
    from petbook.ideas import draw_samuel_loop
    return draw_samuel_loop(dict(arch='efficientnet_lite1', pretrained=True, body=4_135_680, head=1_317_888,
        images=torch.zeros(4, 8, 8, 3), probs=[0.985, 1.0, 1.0, 1.0], labels=['cat']*4, batch_loss=0.0038,
        loss_name='CrossEntropyLossFlat', train_loss=0.3095, valid_loss=0.0019, metric=0.0, metric_name='error_rate',
        opt='Adam', lr=3.91e-05, steps=16, epochs=4, bs=8))

def _loss_vs_metric():
    import pandas as pd
    from petbook.ideas import plot_loss_vs_metric
    return plot_loss_vs_metric(pd.DataFrame(dict(train_loss=[0.9, 0.5, 0.4, 0.31], valid_loss=[0.2, 0.01, 0.003, 0.0019],
                                                 error_rate=[0.1, 0.0, 0.0, 0.0])), 'the small run above: 48 real photos, 128 px')

FIGURES = {'ideas.html': [('samuel_loop_figure', _samuel), ('plot_loss_vs_metric', _loss_vs_metric)]}

def smallest_text(fig) -> tuple:
    "(smallest text of `fig` in px per px of its saved width, its saved aspect ratio): see `FIGURES`."
    import io, matplotlib.text
    from PIL import Image
    buf = io.BytesIO(); fig.savefig(buf, format='png', bbox_inches='tight')
    w, h = Image.open(buf).size
    fig.canvas.draw()
    px = min(t.get_fontsize() * fig.dpi / 72 for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text().strip())
    import matplotlib.pyplot as plt; plt.close(fig)
    return px / w, w / h

def test_smallest_text_reads_font_and_width():
    "`smallest_text`: the smallest visible text (10 pt, not the empty 2 pt one) at the figure's dpi, per px of its saved width."
    import io, matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from PIL import Image
    fig = plt.figure(figsize=(6, 3), dpi=100); fig.text(0.1, 0.5, 'ten points', fontsize=10); fig.text(0.1, 0.8, 'larger', fontsize=14)
    fig.text(0.1, 0.1, ' ', fontsize=2)
    buf = io.BytesIO(); fig.savefig(buf, format='png', bbox_inches='tight'); w, h = Image.open(buf).size
    ratio, aspect = smallest_text(fig)
    assert abs(ratio * w - 10*100/72) < 1e-6 and abs(aspect - w/h) < 1e-9, (ratio * w, aspect, w, h)

def figure_problems(name, figs:dict) -> list:
    "A registered figure of page `name` whose smallest text shows under MIN_FIGURE_TEXT px (`figs`: {width: the page's PNGs}), or is missing."
    problems = []
    for fn_name, draw in FIGURES.get(name, []):
        ratio, aspect = smallest_text(draw())
        for width, imgs in figs.items():
            shown = [f for f in imgs if abs(f['w']/f['h'] - aspect) < 0.05*aspect]
            if not shown: problems.append(f'no figure of {fn_name} (aspect {aspect:.2f}) on the page at {width} px'); continue
            px = min(ratio * f['shown'] for f in shown)
            if px < MIN_FIGURE_TEXT: problems.append(f'at {width} px the figure of {fn_name} shows its smallest text at {px:.1f} px (< {MIN_FIGURE_TEXT})')
    return problems

# At 1280 px: every code/output block of the page and those that scroll sideways (the longest line of each)
BLOCKS_JS = '''() => { const els = [...document.querySelectorAll('main pre, main table')];
  return {n: els.length, wide: els.filter(e => e.scrollWidth > e.clientWidth + 1).map(e =>
    `${e.scrollWidth} px in ${e.clientWidth}: ${(e.innerText || '').split('\\n').reduce((a, l) => l.length > a.length ? l : a, '').slice(0, 70)}`)}; }'''
# At 390 px: tables wider than the screen that no box of their own (the table, or a box inside the screen) scrolls
TABLES_JS = '''() => { const vw = document.documentElement.clientWidth;
  return [...document.querySelectorAll('main table')].filter(t => t.scrollWidth > vw && !(() => {
    for (let e = t; e && e !== document.body; e = e.parentElement) {
      const o = getComputedStyle(e).overflowX; if ((o === 'auto' || o === 'scroll') && e.clientWidth <= vw) return true; }
    return false; })()).map(t => `${t.scrollWidth} px: ${t.innerText.slice(0, 60).replace(/\\s+/g, ' ')}`); }'''
MENU_JS = '''() => { const m = document.querySelector('.pb-menu'), r = m.getBoundingClientRect();
  return {height: r.height, links: [...m.querySelectorAll('nav a')].filter(a => a.checkVisibility()).length,
          main_top: document.querySelector('main').getBoundingClientRect().top}; }'''
FIGS_JS = '''() => [...document.querySelectorAll('main img')].filter(i => i.src.startsWith('data:image/png') && i.naturalWidth)
  .map(i => ({w: i.naturalWidth, h: i.naturalHeight, shown: i.getBoundingClientRect().width}))'''

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
                    f['loose_tables'], f['menu'] = pg.evaluate(TABLES_JS), pg.evaluate(MENU_JS)
                    f['figs'][390] = pg.evaluate(FIGS_JS)
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
                f['blocks'], f['figs'] = pg.evaluate(BLOCKS_JS), {1280: pg.evaluate(FIGS_JS)}
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
    problems += layout_problems(name, f)
    return [f'{name} (nbs/{f["nb"]}): {p}' for p in problems]

def layout_problems(name, f) -> list:
    "Blocks that scroll sideways at 1280 px (lesson pages), tables without their own scroll box and the page list at 390 px, figures' text."
    problems, b = [], f['blocks']
    if name in LESSON_PAGES and len(b['wide']) > MAX_SCROLLING * max(b['n'], 1):
        problems.append(f'at 1280 px {len(b["wide"])} of {b["n"]} code/output blocks scroll sideways (> {MAX_SCROLLING:.0%}): ' + '; '.join(b['wide'][:5]))
    problems += [f'at 390 px a table wider than the screen has no scroll box of its own: {t}' for t in f['loose_tables']]
    m = f['menu']
    if m['links'] or m['height'] > MAX_MENU * 900:
        problems.append(f'at 390 px the page list is not folded away: {m["links"]} links shown, {m["height"]:.0f} px tall (> {MAX_MENU:.0%} of the screen)')
    return problems + figure_problems(name, f['figs'])

def test_layout_problems_are_found():
    "The layout checks on made-up measurements: what each one reports."
    ok = dict(blocks=dict(n=40, wide=['2000 px in 1000: x']), loose_tables=[], menu=dict(height=40, links=0, main_top=90), figs={})
    assert layout_problems('data.html', ok) == []
    many = dict(ok, blocks=dict(n=40, wide=['w'] * 3))
    assert 'scroll sideways' in layout_problems('data.html', many)[0] and layout_problems('cli.html', many) == []
    assert 'no scroll box' in layout_problems('cli.html', dict(ok, loose_tables=['600 px: a b']))[0]
    assert 'not folded away' in layout_problems('cli.html', dict(ok, menu=dict(height=470, links=19, main_top=560)))[0]

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

def _nb(*cells):
    from nbformat.v4 import new_notebook, new_code_cell, new_output
    return new_notebook(cells=[new_code_cell(src, outputs=[new_output('stream', name='stdout', text=out)]) for src, out in cells])

def test_an_answer_folds_its_code_and_output():
    "A `code-fold` cell whose summary is \"Answer\": its code and output in one closed `<details>`; other folded cells fold the code only."
    from bs4 import BeautifulSoup
    nb = bd.prepare(_nb(('#| code-fold: true\n#| code-summary: "Answer"\nprint(6*7)', '42\n'),
                        ('#| code-fold: true\n#| code-summary: "The code"\nprint(1)', 'the table\n'), ('print(2)', 'shown\n')))
    body, _ = bd.exporter().from_notebook_node(nb)
    soup = BeautifulSoup(bd.fold(body, nb.metadata['pb_folds']), 'html.parser')
    dets = soup.select('details.pb-fold')
    assert [d.summary.text for d in dets] == ['Answer', 'The code'] and not any(d.has_attr('open') for d in dets)
    assert 'print' in dets[0].select_one('div.input').text and '42' in dets[0].select_one('.output_area').text
    assert dets[1].select_one('div.input') and not dets[1].select('.output_area')
    assert 'the table' in dets[1].parent.select_one(':scope > .output_wrapper').text          # shown below its folded code
    assert len(soup.select('div.cell')) == 3 and 'shown' in soup.select('div.cell')[2].text

def test_signatures_and_command_links():
    "show_doc's `__main__.` goes; a command's name links to the command line's page only in a sentence naming petbook."
    assert bd.main_module(')->__main__.ImageScan: # a scan') == ')->ImageScan: # a scan'
    link = '[`predict`](https://petbook-dev.github.io/petbook/cli.html#predict)'
    assert bd.command_links(f'Ready to {link}, without the data.') == 'Ready to `predict`, without the data.'
    assert bd.command_links(f'The suite runs petbook `train`, {link} and `demo`.') == f'The suite runs petbook `train`, {link} and `demo`.'
    assert bd.command_links(f'See [petbook](https://x/petbook.html); {link} can be swapped.') == 'See [petbook](https://x/petbook.html); `predict` can be swapped.'

def test_figure_alt_names_the_drawing_line():
    "A figure gets Quarto's `fig-alt` as alternative text, or else the line of its cell that draws it (nbconvert's is a placeholder)."
    assert bd.figure_alt("shown, t0 = {}, time.time()\nshow_top(t, shown[l], l)  # layer 1\nplt.show()") == 'Figure drawn by: show_top(t, shown[l], l)'
    nb = _nb(('#| fig-alt: "Four pets"\nshow_pets(files)', ''), ('show_pets(files)', ''), ('x = 1', ''))
    for c in nb.cells[:2]: c.outputs = [dict(output_type='display_data', data={'image/png': 'iVBORw0KGgo='}, metadata={})]
    assert [c.metadata.get('alt') for c in bd.prepare(nb).cells] == ['Four pets', 'Figure drawn by: show_pets(files)', None]

def test_docs_build_warns_of_nothing():
    "nbdev's one warning about a notebook's cells (imports beside other code, which the docs build then runs) is raised by no cell but the setup cell, which is meant to run anywhere."
    import warnings
    from nbdev.process import NBProcessor
    from nbdev.processors import _do_eval
    said = []
    for nb in bd.pages():
        for c in NBProcessor(ROOT/'nbs'/nb, procs=[]).nb.cells:
            if c.cell_type != 'code': continue
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter('always'); warnings.filterwarnings('ignore', message=bd.SETUP_WARNING, category=UserWarning)
                _do_eval(c)
            said += [f'nbs/{nb}: {str(x.message).splitlines()[0]}: {c.source.splitlines()[0][:80]}' for x in w]
    assert not said, '\n'.join(said)

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
