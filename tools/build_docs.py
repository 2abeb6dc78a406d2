#!/usr/bin/env python
"""Build petbook's docs, a static site, and README.md, from the notebooks.

    python tools/build_docs.py            # the site: build/site/index.html (what deploy.yaml publishes)
    python tools/build_docs.py readme     # README.md from nbs/index.ipynb

The notebooks go through nbdev's own processing (`nbdev.serve.proc_nbs`, as `nbdev-docs` does: directives
removed, `show_doc` rendered, `#| hide` cells dropped, API names linked) into `_proc/`; nbconvert's HTML
exporter renders each processed notebook; this file only adds the page around it: the sidebar of
`nbs/sidebar.yml` (the one list of pages, Quarto's too), the title from the notebook's title cell, previous/next
links in sidebar order, and MathJax served from the `jupyter-server-mathjax` package (no CDN). A `code-fold` cell
folds its code as Quarto does; an answer (`code-summary: "Answer"`) folds its code and output together. On a narrow
screen the page list starts folded; `nbs/styles.css` (Quarto's stylesheet too) wraps long lines of code and output.
"""
import argparse, html, json, re, shutil, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS, PROC, SITE = ROOT/'nbs', ROOT/'_proc', ROOT/'build'/'site'

from nbdev.serve_drv import main as _nbdev_main

def sidebar(nbs:Path=NBS) -> list:
    "The sidebar of `nbs/sidebar.yml` as [(section title or None, [notebook file names])]."
    import yaml
    secs = []
    for o in yaml.safe_load((Path(nbs)/'sidebar.yml').read_text())['website']['sidebar']['contents']:
        if isinstance(o, str): secs.append((None, [o]))
        else: secs.append((o['section'], [c for c in o['contents'] if (Path(nbs)/c).exists()]))
    return secs

def pages(nbs:Path=NBS) -> list:
    "Every notebook of the site, in sidebar order."
    return [n for _, ns in sidebar(nbs) for n in ns]

def page_name(nb) -> str:
    "The page of a notebook, as nbdev and Quarto name it: `00_data.ipynb` → `data.html`."
    from nbdev.config import nbpath2html
    return nbpath2html(Path(nb).name).name

def doc_url() -> str:
    from nbdev.config import get_config
    return get_config(ROOT).doc_host.rstrip('/') + get_config(ROOT).doc_baseurl.rstrip('/') + '/'

# nbdev runs every cell with an import to render `show_doc`, and warns when such a cell does other things too. The
# setup cell does so on purpose (one cell a Colab or Kaggle reader runs first: it installs petbook there and only
# prints versions elsewhere), so its warning says nothing; any other cell's warning is still printed.
SETUP_WARNING = r'Found cells containing imports and other code\. See FAQ\.\n---\n(?:#\|[^\n]*\n)*# petbook setup:'

def proc_one(o):
    "`nbdev.serve_drv.main` (one notebook's processing, in a worker process) without the setup cell's warning."
    import warnings
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message=SETUP_WARNING, category=UserWarning)
        return _nbdev_main(o)

def process(force:bool=False, n_workers:int=2) -> Path:
    "nbdev's processing of every notebook into `_proc/` (cached: only notebooks changed since are redone)."
    import os, fcntl, nbdev.serve, nbdev.serve_drv
    cwd = os.getcwd(); os.chdir(ROOT); (ROOT/'build').mkdir(exist_ok=True)
    with open(ROOT/'build'/'.proc.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)                      # one build at a time (pytest -n 2 may start two)
        if str(ROOT/'tools') not in sys.path: sys.path.insert(0, str(ROOT/'tools'))
        import build_docs                                     # as a module, which worker processes can import
        nbdev.serve_drv.main = build_docs.proc_one            # what proc_nbs runs per notebook
        try: return nbdev.serve.proc_nbs(str(NBS), n_workers=n_workers, force=force)
        finally: nbdev.serve_drv.main = _nbdev_main; os.chdir(cwd)

def read_proc(f:Path):
    "A processed notebook, without what nbformat's schema refuses: execnb's run times (`execution.total`), nbdev's `has_sd` mark."
    import nbformat
    nb = json.loads(Path(f).read_text())
    for c in nb.get('cells', []): c.get('metadata', {}).pop('execution', None); c.pop('has_sd', None)
    return nbformat.reads(json.dumps(nb), as_version=4)

def frontmatter(nb:dict) -> dict:
    "title/description from the processed notebook's frontmatter (nbdev makes it from the `# title`/`> summary` cell)."
    import yaml
    c = nb.cells[0] if nb.cells else None
    if c is None or c.cell_type != 'raw' or not c.source.startswith('---'): return {}
    return yaml.safe_load(c.source.strip().strip('-')) or {}

_re_opt = re.compile(r'^#\|\s*([\w-]+)\s*:\s*(.*?)\s*$')
_re_srclink = re.compile(r'\[([^\]]*)\]\(([^)\s]+)\)\{[^}]*float:\s*right[^}]*\}')
_re_attrs = re.compile(r'(\[[^\]]*\]\([^)\s]*\))\{[^}]*\}|\[([^\]]*)\]\{\.[^}]*\}')

def clean_md(md:str, local:bool=True) -> str:
    "Quarto's link/span attributes out of markdown; show_doc's `[source](...){float:right}` as a small link."
    if local: md = _re_srclink.sub(r'<a class="pb-src" href="\2">\1</a>', md)
    return _re_attrs.sub(lambda m: m.group(1) or m.group(2), md)

def prepare(nb):
    "Quarto cell options (`echo`, `output`, `include`, `code-fold`) as nbconvert tags; markdown degraded to plain."
    cells, folds = [], []
    for c in nb.cells:
        if c.cell_type == 'raw': continue                      # frontmatter: becomes the page head
        if c.cell_type == 'markdown':
            if 'AUTOGENERATED' in c.source: continue
            c.source = command_links(clean_md(c.source)); cells.append(c); continue
        lines, opts = c.source.splitlines(), {}
        while lines and (m := _re_opt.match(lines[0])): opts[m.group(1)] = m.group(2).strip('"\''); lines.pop(0)
        c.source, tags = '\n'.join(lines).strip('\n'), set(c.metadata.get('tags', []))
        c.metadata.pop('execution', None)
        if opts.get('include') == 'false': continue
        if opts.get('echo') == 'false' or not c.source: tags.add('remove_input')
        if opts.get('output') == 'false': tags.add('remove_output')
        for o in c.get('outputs', []):
            if o.get('data', {}).pop('application/vnd.jupyter.widget-view+json', None):   # a live widget: no kernel here
                o.data = {'text/html': '<p class="pb-widget">An interactive widget shows here when the notebook runs.</p>'}
            if 'text/markdown' in o.get('data', {}): o.data['text/markdown'] = command_links(main_module(clean_md(o.data['text/markdown'])))
        if any(k.startswith('image/') for o in c.get('outputs', []) for k in o.get('data', {})):
            c.metadata['alt'] = opts.get('fig-alt') or opts.get('fig-cap') or figure_alt(c.source)
        if opts.get('code-fold') == 'true':                    # folded: see `fold`
            summ = opts.get('code-summary', 'Code')
            tags.add('pb-fold-all' if is_answer(summ) else 'pb-fold'); folds.append(summ)
        c.metadata['tags'] = sorted(tags); cells.append(c)
    nb.cells, nb.metadata['pb_folds'] = cells, folds
    return nb

def figure_alt(src:str) -> str:
    "A figure's alternative text when its cell gives none (Quarto's `fig-alt`, `fig-cap`): the code line that drew it."
    lines = [l.split('  #')[0].strip() for l in src.splitlines() if l.strip() and not l.lstrip().startswith('#')]
    draws = [l for l in lines if re.search(r'(?:show|plot|draw|figure|subplots)\w*\s*\(', l)] or lines
    return f'Figure drawn by: {draws[0][:100]}' if draws else 'Figure'

def main_module(md:str) -> str:
    """show_doc's signatures without `__main__.`: the docs build runs a notebook's cells as the kernel's `__main__`,
    so a type the notebook defines (`-> ImageScan`) is printed `__main__.ImageScan`; it reads as written."""
    return re.sub(r'(?<![\w.])__main__\.(?=[A-Za-z_])', '', md)

_re_cmd_link = re.compile(r'\[`(\w+)`\]\(([^)\s]*?\bcli\.html#\1)\)')

def command_links(md:str) -> str:
    """nbdev links every backticked name that petbook exports, and the command line's commands are common words:
    `predict` is also `Learner.predict`. A command's name links to its command only in a sentence that names
    petbook (`petbook train`, `predict` and `demo`); elsewhere it stays code."""
    def sub(m):
        start = max(md.rfind('. ', 0, m.start()), md.rfind('\n\n', 0, m.start()), md.rfind('; ', 0, m.start()))
        before = re.sub(r'\]\([^)]*\)', ']', md[start+1:m.start()])     # the sentence so far, without link targets
        return m[0] if re.search(r'\bpetbook\b', before) else f'`{m[1]}`'
    return _re_cmd_link.sub(sub, md)

def is_answer(summary:str) -> bool:
    "A folded cell whose summary says *Answer* answers a question the page asks: its output is folded too."
    return summary.strip().lower().startswith('answer')

def fold(h:str, summaries:list) -> str:
    """`code-fold` cells in `<details>`, closed. As Quarto shows them, the code is folded and its output shown; an
    answer's (summary "Answer") code *and* output are folded together, hidden until the reader opens it."""
    from bs4 import BeautifulSoup
    if not summaries: return h
    soup = BeautifulSoup(h, 'html.parser')
    for cell, summ in zip(soup.select('div.celltag_pb-fold, div.celltag_pb-fold-all'), summaries):
        det, s = soup.new_tag('details', attrs={'class': 'pb-fold'}), soup.new_tag('summary')
        s.string = summ; det.append(s)
        inner = list(cell.children) if 'celltag_pb-fold-all' in cell['class'] else cell.select('div.input')
        if not inner: continue
        inner[0].insert_before(det)
        for child in inner: det.append(child.extract())
    return str(soup)

def exporter():
    from nbconvert import HTMLExporter
    from traitlets.config import Config
    cfg = Config({'TagRemovePreprocessor': dict(enabled=True, remove_input_tags={'remove_input'},
                                                remove_all_outputs_tags={'remove_output'})})
    return HTMLExporter(config=cfg, template_name='basic', exclude_input_prompt=True, exclude_output_prompt=True,
                        anchor_link_text='')

def local_links(h:str, url:str, names:dict) -> str:
    "Links to the hosted docs (nbdev's API links) and to notebooks become links within this site."
    h = h.replace(f'href="{url}', 'href="')
    h = re.sub(r'href="(?:\./)?([\w.-]+)\.ipynb(#[^"]*)?"', lambda m: f'href="{names.get(m[1]+".ipynb", m[1]+".html")}{m[2] or ""}"', h)
    # Quarto lower-cases heading ids (`#petsnotfound`) and nbdev links to them so: give each heading that id too
    return re.sub(r'<(h[1-6]) id="([^"]+)"', lambda m: f'<{m[1]} id="{m[2]}"' + (f'><a id="{m[2].lower()}"></a' if m[2] != m[2].lower() else ''), h)

MATHJAX = ('<script>window.MathJax={tex2jax:{inlineMath:[["$","$"],["\\\\(","\\\\)"]],processEscapes:true},'
           '"HTML-CSS":{availableFonts:[],webFont:"STIX-Web",imageFont:null,linebreaks:{automatic:true}},messageStyle:"none"};</script>'
           '<script src="mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"></script>')

def inline_md(s:str) -> str:
    "The little markdown a one-line summary has: `code`, *emphasis*."
    return re.sub(r'\*([^*]+)\*', r'<em>\1</em>', re.sub(r'`([^`]+)`', r'<code>\1</code>', html.escape(s)))

# On a narrow screen the page list starts folded (its "Pages" button opens it); without scripts it stays open
MENU_JS = ('(() => { const d = document.currentScript.previousElementSibling, q = matchMedia("(max-width: 800px)");'
           ' const set = () => { d.open = !q.matches; }; set(); q.addEventListener("change", set); })();')

def page(title, desc, body, nav, prev, nxt, site_title) -> str:
    "The HTML page around a rendered notebook: sidebar, title, body, previous/next links."
    pn = lambda p, k: f'<a class="pb-{k}" href="{p[0]}">{"← " if k == "prev" else ""}{html.escape(p[1])}{" →" if k == "next" else ""}</a>' if p else '<span></span>'
    return f'''<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(title)} – {html.escape(site_title)}</title>
<link rel="stylesheet" href="pygments.css"><link rel="stylesheet" href="styles.css">{MATHJAX}</head>
<body><header class="pb-top"><a href="index.html">{html.escape(site_title)}</a></header>
<div class="pb-layout"><details class="pb-menu" open><summary>Pages</summary><nav class="pb-sidebar" aria-label="Pages">{nav}</nav></details>
<script>{MENU_JS}</script>
<main class="pb-main"><h1 class="pb-title">{html.escape(title)}</h1>{f'<p class="pb-desc">{inline_md(desc)}</p>' if desc else ''}
{body}<nav class="pb-pager">{pn(prev, 'prev')}{pn(nxt, 'next')}</nav></main></div></body></html>'''

def build_site(out:Path=SITE, force:bool=False, n_workers:int=2) -> list:
    "Process the notebooks with nbdev, render each page, write the site to `out`: [{nb, page, title}]."
    import jupyter_server_mathjax
    from pygments.formatters import HtmlFormatter
    proc, out = process(force, n_workers), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for f in NBS.rglob('*'):                                    # figures the notebooks' markdown refers to
        if f.suffix.lower() in ('.png', '.jpg', '.jpeg', '.gif', '.svg') and '_proc' not in f.parts:
            (out/f.relative_to(NBS)).parent.mkdir(parents=True, exist_ok=True); shutil.copy2(f, out/f.relative_to(NBS))
    shutil.copy2(NBS/'styles.css', out/'styles.css')
    (out/'pygments.css').write_text(HtmlFormatter(style='default').get_style_defs('.highlight'))
    if not (out/'mathjax'/'MathJax.js').exists():
        shutil.copytree(Path(jupyter_server_mathjax.__file__).parent/'static', out/'mathjax', dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns('SVG'))
    nbs = {n: read_proc(proc/n) for n in pages()}
    info = [dict(nb=n, page=page_name(n), **{k: str(v) for k, v in frontmatter(nb).items() if k in ('title', 'description')})
            for n, nb in nbs.items()]
    for i in info: i.setdefault('title', Path(i['nb']).stem)
    names, url, ex = {i['nb']: i['page'] for i in info}, doc_url(), exporter()
    site_title = info[0]['title'] if info else 'docs'
    for k, i in enumerate(info):
        nav = ''
        for sec, ns in sidebar():
            items = ''.join(f'<li><a href="{names[n]}"{" aria-current=page" if n == i["nb"] else ""}>'
                            f'{html.escape(next(o["title"] for o in info if o["nb"] == n))}</a></li>' for n in ns)
            nav += (f'<p class="pb-section">{html.escape(sec)}</p>' if sec else '') + f'<ul>{items}</ul>'
        body, _ = ex.from_notebook_node(prepare(nbs[i['nb']]))
        body = fold(body, nbs[i['nb']].metadata.get('pb_folds', []))
        prev = (info[k-1]['page'], info[k-1]['title']) if k else None
        nxt = (info[k+1]['page'], info[k+1]['title']) if k+1 < len(info) else None
        (out/i['page']).write_text(page(i['title'], i.get('description', ''), local_links(body, url, names), nav, prev, nxt, site_title))
    return info

def readme_text(write:bool=False) -> str:
    "README.md: nbs/index.ipynb after nbdev's processing, as GitHub markdown; figures go to nbs/index_files/ (`write`)."
    import base64
    nb, url = read_proc(process()/'index.ipynb'), doc_url()
    fm, out, nfig = frontmatter(nb), [], 0
    out.append(f"# {fm.get('title', 'petbook')}" + (f"\n\n> {fm['description']}" if fm.get('description') else ''))
    for c in nb.cells[1:]:
        if c.cell_type == 'markdown' and 'AUTOGENERATED' not in c.source:
            md = clean_md(c.source, local=False)
            out.append(re.sub(r'(?<!!)\]\((\w[\w-]*)\.(?:ipynb|html)(#[^)]*)?\)', lambda m: f']({url}{page_name(m[1]+".ipynb")}{m[2] or ""})', md))
        elif c.cell_type == 'code' and '# petbook setup' not in c.source:   # the setup cell says nothing to a README reader
            for o in c.get('outputs', []):
                d = o.get('data', {})
                if 'image/png' in d:
                    nfig += 1; f = NBS/'index_files'/f'figure-{nfig}.png'
                    if write: f.parent.mkdir(exist_ok=True); f.write_bytes(base64.b64decode(d['image/png']))
                    out.append(f'![]({f.relative_to(ROOT).as_posix()})')
                elif 'text/markdown' in d: out.append(clean_md(d['text/markdown'], local=False).strip())
                elif o.get('output_type') == 'stream' or 'text/plain' in d:
                    out.append('```\n' + (o.get('text') or d['text/plain']).rstrip() + '\n```')
    return '\n\n'.join(o for o in out if o.strip()) + '\n'

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('what', nargs='?', default='site', choices=['site', 'readme'])
    ap.add_argument('--force', action='store_true', help='process every notebook again, ignoring the cache')
    a = ap.parse_args()
    if a.what == 'readme': (ROOT/'README.md').write_text(readme_text(write=True)); print('README.md written from nbs/index.ipynb')
    else: print(f'{len(build_site(force=a.force))} pages in {SITE}; open {SITE/"index.html"}')
