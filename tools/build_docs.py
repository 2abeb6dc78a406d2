#!/usr/bin/env python
"""Build petbook's docs offline, and README.md, from the notebooks, with nbdev's own processing.

    python tools/build_docs.py            # the static site: build/site/index.html (open it in a browser)
    python tools/build_docs.py readme     # README.md from nbs/index.ipynb (what `nbdev-readme` makes with Quarto)
    python tools/build_docs.py sidebar    # nbs/sidebar.yml, the Quarto sidebar, in chapter order

GitHub builds the real site with Quarto (`nbdev-docs`, .github/workflows/deploy.yaml); Quarto cannot be
installed everywhere, so this builds a plain static site from the *same* processed notebooks: each notebook
goes through `nbdev.processors.FilterDefaults` exactly as `nbdev-proc-nbs` does (directives removed, `show_doc`
rendered, hidden cells hidden, links to the API added), then each processed notebook is rendered to one HTML
page with the chapter navigation, its figures written next to it, and Quarto-only syntax (frontmatter, cell
options, `::: {.callout-*}` blocks, `{attr}` spans) turned into plain HTML. Needs only PyPI packages
(nbdev, mistune from nbconvert, pygments, pyyaml).
"""
import argparse, base64, html, json, os, re, shutil, sys, time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
BUILD = ROOT/'build'
PROC = BUILD/'_proc'                 # processed notebooks (nbdev-proc-nbs writes the same into _proc/)
SITE = BUILD/'site'
IMG_EXTS = {'.png', '.jpg', '.jpeg', '.gif', '.svg', '.webp'}

# ---------------------------------------------------------------------------------------------------------
# Which notebooks, in which order, and their page names

def chapters(nbs:Path=NBS) -> list:
    "Notebooks of the book in chapter order: index first, then by their number prefix (`_*` files are skipped)."
    nbs = [p for p in Path(nbs).glob('*.ipynb') if not p.name.startswith(('_', '.'))]
    return sorted(nbs, key=lambda p: (p.stem != 'index', p.name))

def page_name(nb:Path) -> str:
    "The HTML page of a notebook, as nbdev and Quarto name it: `00_data.ipynb` → `data.html`."
    from nbdev.config import nbpath2html
    return nbpath2html(Path(nb).name).name

def title_of(nb:Path) -> tuple:
    "(title, description) from a notebook's `# title` / `> description` first cell."
    src = ''.join(json.loads(Path(nb).read_text())['cells'][0]['source'])
    t = re.search(r'^#\s+(.+)$', src, re.M); d = re.search(r'^>\s*(.+)$', src, re.M)
    return (t.group(1).strip() if t else Path(nb).stem), (d.group(1).strip() if d else '')

def write_sidebar(nbs:Path=NBS) -> Path:
    "Write `nbs/sidebar.yml` (Quarto's sidebar, `custom_sidebar = true`) listing the notebooks that exist, in chapter order."
    nbl = chapters(nbs)
    lines = ['website:', '  sidebar:', '    contents:']
    lines += [f'      - {p.name}' for p in nbl if p.stem == 'index']
    rest = [p for p in nbl if p.stem != 'index']
    if rest:
        lines += ['      - section: "The chapter, step by step"', '        contents:']
        lines += [f'          - {p.name}' for p in rest]
    text = '\n'.join(lines) + '\n'
    f = Path(nbs)/'sidebar.yml'
    if not f.exists() or f.read_text() != text: f.write_text(text)
    return f

# ---------------------------------------------------------------------------------------------------------
# nbdev's processing (what `nbdev-proc-nbs` does for each notebook)

def _proc_one(src_dst):
    "Process one notebook with nbdev's `FilterDefaults` (it executes the notebook's import cells); None or the error."
    src, dst = map(Path, src_dst)
    os.chdir(ROOT)                                   # nbdev finds pyproject.toml from the working directory
    os.environ.setdefault('MPLBACKEND', 'Agg')
    import nbdev.serve_drv
    from nbdev.processors import FilterDefaults
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp, err = dst.with_suffix('.tmp'), dst.with_suffix('.error')
    err.unlink(missing_ok=True)
    t0 = time.time()
    try: nbdev.serve_drv.main((src, tmp, FilterDefaults))   # the same call `nbdev.serve.proc_nbs` makes
    except Exception as e:
        msg = f'{type(e).__name__}: {e}'
        err.write_text(msg); dst.unlink(missing_ok=True)
        return f'{src.name}: nbdev could not process it (so `nbdev-docs` fails too): {msg}'
    tmp.replace(dst)
    return f'{src.name}: processed in {time.time()-t0:.0f}s'

def process(nbs:list, dest:Path=PROC, force:bool=False, n_workers:int=2, quiet:bool=False) -> dict:
    "Process `nbs` into `dest`, redoing only those older than their notebook (or this tool): {notebook name: error or None}."
    dest = Path(dest); dest.mkdir(parents=True, exist_ok=True)
    newest_tool = max(Path(__file__).stat().st_mtime, (ROOT/'pyproject.toml').stat().st_mtime)
    todo = []
    for nb in nbs:
        d = dest/nb.name
        if force or not d.exists() or d.stat().st_mtime < max(nb.stat().st_mtime, newest_tool): todo.append((nb, d))
    if todo:
        if n_workers <= 1 or len(todo) == 1: msgs = [_proc_one(o) for o in todo]
        else:
            with ProcessPoolExecutor(min(n_workers, len(todo)), mp_context=get_context('spawn')) as ex: msgs = list(ex.map(_proc_one, todo))
        if not quiet: print('\n'.join(msgs))
    errs = {}
    for nb in nbs:
        e = (dest/nb.name).with_suffix('.error')
        errs[nb.name] = e.read_text() if e.exists() else None
    return errs

# ---------------------------------------------------------------------------------------------------------
# Quarto-only syntax, degraded to plain markdown/HTML

_re_ansi = re.compile(r'\x1B(?:[@-Z\\-_]|\[[0-?]*[ -/]*[@-~])')
_re_opt = re.compile(r'^#\|\s*([\w-]+)\s*:\s*(.*?)\s*$')
_re_fence_open = re.compile(r'^:::+\s*\{([^}]*)\}\s*$')
_re_fence_open_bare = re.compile(r'^:::+\s*([\w-]+)\s*$')
_re_fence_close = re.compile(r'^:::+\s*$')
_re_link_attrs = re.compile(r'(\]\([^)\s]*\))\{[^}]*\}')        # [text](url){target="_blank" ...}
_re_srclink = re.compile(r'\[([^\]]*)\]\(([^)\s]*)\)\{[^}]*float:\s*right[^}]*\}')   # show_doc's [source](url){... float:right}
_re_span = re.compile(r'\[([^\]]*)\]\{[^}]*\}')                   # [text]{.class}
_re_head_attrs = re.compile(r'^(#{1,6}\s.*?)\s*\{([^}]*)\}\s*$', re.M)

def cell_options(src:str) -> tuple:
    "Quarto cell options (`#| key: value` lines at the top of a cell) and the code without them."
    opts, lines = {}, src.splitlines()
    i = 0
    while i < len(lines) and lines[i].startswith('#|'):
        if m := _re_opt.match(lines[i]): opts[m.group(1)] = m.group(2).strip('"\'')
        i += 1
    return opts, '\n'.join(lines[i:]).strip('\n')

def _false(v): return str(v).lower() in ('false', 'no', '0')

def _callout_title(attrs):
    kind = re.search(r'\.callout-(\w+)', attrs)
    t = re.search(r'title="([^"]*)"', attrs)
    return kind.group(1) if kind else None, (t.group(1) if t else None)

def degrade_quarto_md(md:str) -> str:
    "Markdown with Quarto/pandoc extensions turned into plain markdown + HTML: fenced divs, callouts, attributes."
    out = []
    in_code = False
    for line in md.splitlines():
        if line.lstrip().startswith(('```', '~~~')): in_code = not in_code
        if in_code: out.append(line); continue
        if m := _re_fence_open.match(line) or _re_fence_open_bare.match(line):
            attrs = m.group(1)
            classes = ' '.join(c[1:] for c in re.findall(r'\.[\w-]+', attrs))
            kind, title = _callout_title(attrs)
            if kind: classes = ' '.join([c for c in classes.split() if not c.startswith('callout')] + ['callout', f'callout-{kind}'])
            out += ['', f'<div class="{html.escape(classes.strip())}">', '']
            if kind: out += [f'<div class="callout-title">{html.escape(title or kind.capitalize())}</div>', '']
        elif _re_fence_close.match(line): out += ['', '</div>', '']
        else: out.append(line)
    md = '\n'.join(out)
    md = _re_srclink.sub(lambda m: f'<a class="srclink" href="{html.escape(m.group(2), quote=True)}">{m.group(1)}</a>', md)
    md = _re_link_attrs.sub(r'\1', md)
    md = _re_span.sub(r'\1', md)
    return md

# ---------------------------------------------------------------------------------------------------------
# HTML rendering of one processed notebook

def slugify(text:str) -> str:
    "Pandoc's automatic heading identifier (what Quarto uses for anchors)."
    t = re.sub(r'<[^>]+>', '', html.unescape(text))
    t = re.sub(r'[^\w\s.-]', '', t, flags=re.UNICODE).strip().lower()
    t = re.sub(r'\s+', '-', t)
    t = re.sub(r'^[^a-z]+', '', t)
    return t or 'section'

class Page:
    "Renders the cells of one processed notebook to HTML, writing its figures to `files_dir`."
    def __init__(self, name, site, doc_url):
        import mistune
        self.name, self.site, self.doc_url = name, Path(site), doc_url
        self.files_dir = self.site/(Path(name).stem + '_files')
        self.md = mistune.create_markdown(escape=False, plugins=['table', 'strikethrough', 'url'])
        self.nfig, self.ids, self.toc = 0, set(), []
        from pygments.formatters import HtmlFormatter
        self.fmt = HtmlFormatter(nowrap=True)

    def uid(self, i):
        base, n = i, 1
        while i in self.ids: i = f'{base}-{n}'; n += 1
        self.ids.add(i); return i

    def markdown(self, src:str) -> str:
        src = _escape_table_code_pipes(degrade_quarto_md(src))
        explicit = {}
        def _head(m):
            idm = re.search(r'#([\w.:-]+)', m.group(2))
            if idm: explicit[m.group(1).lstrip('#').strip()] = idm.group(1)
            return m.group(1)
        src = _re_head_attrs.sub(_head, src)
        h = self.md(src)
        h = re.sub(r'<code>(.*?)</code>', lambda m: '<code>' + m.group(1).replace('\\|', '|') + '</code>', h, flags=re.S)
        def _hid(m):
            lvl, inner = m.group(1), m.group(3)
            text = re.sub(r'<[^>]+>', '', inner)
            i = self.uid(explicit.get(html.unescape(text).strip()) or slugify(inner))
            if lvl in '23': self.toc.append((int(lvl), i, text))
            return f'<h{lvl} id="{i}" class="anchored">{inner}<a class="anchor" href="#{i}" aria-label="link to this section">¶</a></h{lvl}>'
        return re.sub(r'<h([1-6])(\s[^>]*)?>(.*?)</h\1>', _hid, h, flags=re.S)

    def code(self, src:str) -> str:
        from pygments import highlight
        from pygments.lexers import PythonLexer
        return f'<pre class="sourceCode python"><code>{highlight(src, PythonLexer(), self.fmt)}</code></pre>'

    def figure(self, data:str, ext:str, meta:dict) -> str:
        self.files_dir.mkdir(parents=True, exist_ok=True)
        self.nfig += 1
        fn = self.files_dir/f'fig-{self.nfig}.{ext}'
        if ext == 'svg': fn.write_text(data if isinstance(data, str) else ''.join(data))
        else: fn.write_bytes(base64.b64decode(''.join(data) if isinstance(data, list) else data))
        w = (meta or {}).get('width'); wattr = f' width="{int(w)}"' if w else ''
        return f'<img src="{fn.parent.name}/{fn.name}"{wattr} alt="figure {self.nfig}" class="figure" loading="eager">'

    def output(self, o, asis=False) -> str:
        ot = o.get('output_type')
        if ot == 'stream':
            txt = _re_ansi.sub('', ''.join(o.get('text', '')))
            if not txt.strip(): return ''
            return f'<div class="cell-output cell-output-{o.get("name", "stdout")}"><pre>{html.escape(txt)}</pre></div>'
        if ot == 'error':
            tb = _re_ansi.sub('', '\n'.join(o.get('traceback', [])) or f"{o.get('ename')}: {o.get('evalue')}")
            return f'<div class="cell-output cell-output-error"><pre>{html.escape(tb)}</pre></div>'
        data, meta = o.get('data', {}), o.get('metadata', {})
        j = lambda k: ''.join(data[k]) if isinstance(data[k], list) else data[k]
        if 'application/vnd.jupyter.widget-view+json' in data:
            return ('<div class="cell-output widget-note">An interactive widget is shown here when the notebook runs '
                    'in Jupyter, Colab or Kaggle (use the badges at the top of the page).</div>')
        if asis and 'text/markdown' in data: return self.markdown(j('text/markdown'))
        if 'text/html' in data:
            h = re.sub(r'<script\b.*?</script>', '', j('text/html'), flags=re.S | re.I)
            return f'<div class="cell-output cell-output-display">{h}</div>'
        for mime, ext in (('image/svg+xml', 'svg'), ('image/png', 'png'), ('image/jpeg', 'jpg'), ('image/gif', 'gif')):
            if mime in data: return f'<div class="cell-output cell-output-display">{self.figure(data[mime], ext, meta.get(mime))}</div>'
        if 'text/markdown' in data: return f'<div class="cell-output cell-output-display">{self.markdown(j("text/markdown"))}</div>'
        if 'text/plain' in data:
            return f'<div class="cell-output cell-output-display"><pre>{html.escape(_re_ansi.sub("", j("text/plain")))}</pre></div>'
        return ''

    def cell(self, c) -> str:
        src = ''.join(c.get('source', ''))
        if c['cell_type'] == 'markdown': return self.markdown(src)
        if c['cell_type'] != 'code': return ''
        opts, code = cell_options(src)
        if _false(opts.get('include', 'true')): return ''
        parts = []
        if code.strip() and not _false(opts.get('echo', 'true')):
            block = self.code(code)
            fold = opts.get('code-fold')
            if fold and not _false(fold):
                summ = html.escape(opts.get('code-summary', 'Code'))
                block = f'<details class="code-fold"{" open" if fold == "show" else ""}><summary>{summ}</summary>{block}</details>'
            parts.append(block)
        if not _false(opts.get('output', 'true')):
            asis = opts.get('output') == 'asis'
            parts += [self.output(o, asis) for o in c.get('outputs', [])]
        parts = [p for p in parts if p]
        if not parts: return ''
        return '<div class="cell">' + '\n'.join(parts) + '</div>'

    def local_links(self, h:str) -> str:
        "Links to the hosted docs (nbdev's links to the API) or to notebooks become links to pages of this site."
        def fix(m):
            url, api = html.unescape(m.group(2)), ''
            if self.doc_url and url.startswith(self.doc_url): url, api = url[len(self.doc_url):] or 'index.html', ' data-api'
            u, _, frag = url.partition('#')
            if not re.match(r'^[a-z]+:|^//', u) and u.endswith('.ipynb'): u = page_name(Path(u))
            url = u + ('#' + frag if frag else '')
            return f'{m.group(1)}"{html.escape(url, quote=True)}"{api}'
        return re.sub(r'(<a\s[^>]*?\bhref=)"([^"]*)"', fix, h)

    def offline_images(self, h:str) -> str:
        "Images on the internet (e.g. the Colab/Kaggle badges) become text badges: the offline site loads nothing remote."
        def fix(m):
            alt = re.search(r'alt="([^"]*)"', m.group(0))
            return f'<span class="badge-offline">{alt.group(1) if alt else "image"}</span>'
        return re.sub(r'<img\b[^>]*\bsrc="(?:https?:)?//[^"]*"[^>]*>', fix, h)

def render_nb(proc_nb:Path, name:str, site:Path, doc_url:str) -> dict:
    "Render one processed notebook: {'title', 'description', 'body', 'toc'}."
    import yaml
    nb = json.loads(Path(proc_nb).read_text())
    page = Page(name, site, doc_url)
    shutil.rmtree(page.files_dir, ignore_errors=True)
    fm, body = {}, []
    for c in nb['cells']:
        src = ''.join(c.get('source', ''))
        if c['cell_type'] == 'raw':
            if src.strip().startswith('---'):
                try: fm.update(yaml.safe_load(src.strip().strip('-')) or {})
                except yaml.YAMLError: pass
            continue
        body.append(page.cell(c))
    h = page.offline_images(page.local_links('\n'.join(b for b in body if b)))
    desc = page.md(str(fm.get('description', ''))).strip()        # the description is inline markdown
    desc = re.sub(r'^<p>(.*)</p>$', r'\1', desc, flags=re.S)
    return dict(title=str(fm.get('title', Path(name).stem)), description=desc, body=h, toc=page.toc)

# ---------------------------------------------------------------------------------------------------------
# The page shell: navigation in chapter order, previous/next links

CSS = """
:root { --accent: #2c7be5; --muted: #6c757d; --line: #e3e6ea; --code: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #212529; }
a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
header.top { background: var(--accent); color: white; padding: .6rem 1.2rem; font-size: 1.2rem; font-weight: 600; }
header.top a { color: white; }
.layout { display: flex; max-width: 1280px; margin: 0 auto; }
nav.sidebar { width: 240px; flex: none; padding: 1.2rem 1rem; border-right: 1px solid var(--line); font-size: .95rem; position: sticky; top: 0; align-self: flex-start; max-height: 100vh; overflow-y: auto; }
nav.sidebar ol { list-style: none; padding-left: 0; margin: .3rem 0; }
nav.sidebar li { margin: .25rem 0; }
nav.sidebar li.current > a { font-weight: 700; color: #111; }
nav.sidebar .section { color: var(--muted); text-transform: uppercase; font-size: .75rem; letter-spacing: .05em; margin-top: 1rem; }
main { flex: 1; min-width: 0; padding: 1.2rem 2rem 3rem; }
aside.toc { width: 220px; flex: none; padding: 1.2rem 1rem; font-size: .85rem; position: sticky; top: 0; align-self: flex-start; }
aside.toc ul { list-style: none; padding-left: 0; } aside.toc li.l3 { padding-left: .8rem; }
h1.title { margin-bottom: .2rem; }
h2, h3 { margin-top: 1.8rem; } h1 a.anchor, h2 a.anchor, h3 a.anchor, h4 a.anchor { visibility: hidden; margin-left: .3rem; font-size: .8em; }
h2:hover a.anchor, h3:hover a.anchor, h4:hover a.anchor { visibility: visible; }
pre { background: var(--code); padding: .6rem .8rem; border-radius: 4px; overflow-x: auto; font-size: .86rem; line-height: 1.4; }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .9em; }
p code, li code, td code { background: var(--code); padding: 0 .2rem; border-radius: 3px; }
.cell { margin: 1rem 0; }
.cell-output > pre, .cell-output-stdout > pre { background: none; border-left: 2px solid lightsalmon; margin-left: .8rem; border-radius: 0; }
.cell-output-stderr > pre { background: #fff8e6; border-left: 2px solid #f0ad4e; margin-left: .8rem; color: #6b4c00; }
.cell-output-error > pre { background: #fdecea; border-left: 2px solid #d9534f; }
.cell-output-display { overflow-x: auto; margin: .4rem 0 .4rem .8rem; }
img.figure { max-width: 100%; height: auto; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .92rem; }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .6rem; text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid #adb5bd; }
blockquote { border-left: 3px solid var(--line); margin-left: 0; padding-left: 1rem; color: var(--muted); }
details.code-fold > summary { cursor: pointer; color: var(--muted); font-size: .9rem; }
.callout { border-left: 4px solid var(--accent); background: #f3f7fd; padding: .2rem 1rem; margin: 1rem 0; border-radius: 4px; }
.callout-warning, .callout-caution { border-color: #f0ad4e; background: #fff8e6; }
.callout-important { border-color: #d9534f; background: #fdecea; }
.callout-tip { border-color: #28a745; background: #eef8f0; }
.callout-title { font-weight: 700; margin-top: .5rem; }
.badge-offline { display: inline-block; font-size: .78rem; padding: .1rem .5rem; border-radius: 3px; background: #555; color: white; margin-right: .2rem; }
.widget-note { border: 1px dashed #adb5bd; padding: .5rem .8rem; color: var(--muted); font-size: .9rem; }
nav.pager { display: flex; justify-content: space-between; border-top: 1px solid var(--line); margin-top: 3rem; padding-top: 1rem; }
a.srclink { float: right; font-size: smaller; }
footer { color: var(--muted); font-size: .8rem; margin-top: 2rem; }
"""

def shell(site_title, pages, i, content, extra_css) -> str:
    "One page of the site: header, chapter navigation, content, table of contents, previous/next."
    p = pages[i]
    nav = ['<ol>']
    for j, q in enumerate(pages):
        if j == 1: nav += ['</ol><div class="section">The chapter, step by step</div><ol>']
        cur = ' class="current"' if j == i else ''
        nav.append(f'<li{cur}><a href="{q["page"]}">{html.escape(q["title"])}</a></li>')
    nav.append('</ol>')
    toc = ''.join(f'<li class="l{l}"><a href="#{a}">{t}</a></li>' for l, a, t in content['toc'])
    prev = f'<a href="{pages[i-1]["page"]}">← {html.escape(pages[i-1]["title"])}</a>' if i > 0 else '<span></span>'
    nxt = f'<a href="{pages[i+1]["page"]}">{html.escape(pages[i+1]["title"])} →</a>' if i+1 < len(pages) else '<span></span>'
    desc = f'<div class="description">{content["description"]}</div>' if content['description'] else ''
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(content['title'])} – {html.escape(site_title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="site.css"><style>{extra_css}</style></head>
<body><header class="top"><a href="index.html">{html.escape(site_title)}</a></header>
<div class="layout"><nav class="sidebar" aria-label="chapters">{''.join(nav)}</nav>
<main><h1 class="title" id="title">{html.escape(content['title'])}</h1>{desc}
{content['body']}
<nav class="pager" aria-label="previous and next">{prev}{nxt}</nav>
<footer>Built offline from <code>nbs/{html.escape(p['nb'])}</code> with nbdev's processing (tools/build_docs.py).</footer>
</main><aside class="toc">{'<div class="section">On this page</div><ul>' + toc + '</ul>' if toc else ''}</aside></div>
</body></html>
"""

def _cfg():
    from nbdev.config import get_config
    return get_config(ROOT)

def build_site(out:Path=SITE, force:bool=False, n_workers:int=2, quiet:bool=False) -> list:
    "Process every notebook and write the static site to `out`; returns the pages [{'nb', 'page', 'title'}]."
    t0 = time.time()
    cfg, out = _cfg(), Path(out)
    nbs = chapters(cfg.nbs_path)
    errors = process(nbs, force=force, n_workers=n_workers, quiet=quiet)
    if out.exists(): shutil.rmtree(out)
    out.mkdir(parents=True)
    from pygments.formatters import HtmlFormatter
    (out/'site.css').write_text(CSS + HtmlFormatter().get_style_defs('.sourceCode'))
    extra = (cfg.nbs_path/'styles.css').read_text() if (cfg.nbs_path/'styles.css').exists() else ''
    for f in cfg.nbs_path.rglob('*'):                # images the notebooks' markdown refers to
        if f.suffix.lower() in IMG_EXTS and not any(p.startswith(('.', '_')) or p in ('data', 'models') for p in f.relative_to(cfg.nbs_path).parts):
            (out/f.relative_to(cfg.nbs_path)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, out/f.relative_to(cfg.nbs_path))
    pages = [dict(nb=nb.name, page=page_name(nb), error=errors[nb.name]) for nb in nbs]
    contents = []
    for p, nb in zip(pages, nbs):
        if p['error']:
            t, d = title_of(nb)
            c = dict(title=t, description=html.escape(d), toc=[], body='<div class="callout callout-important"><div class="callout-title">'
                     f'nbdev could not process nbs/{html.escape(nb.name)}</div><pre>{html.escape(p["error"])}</pre></div>')
        else: c = render_nb(PROC/nb.name, p['page'], out, cfg.doc_url)
        p['title'] = c['title']; contents.append(c)
    for i, c in enumerate(contents): (out/pages[i]['page']).write_text(shell(cfg.title, pages, i, c, extra))
    if not quiet: print(f'{len(pages)} pages in {out} ({time.time()-t0:.0f}s): ' + ', '.join(p['page'] for p in pages))
    for p in pages:
        if p['error']: print(f"FAILED: {p['nb']}: {p['error']}", file=sys.stderr)
    return pages

# ---------------------------------------------------------------------------------------------------------
# README.md: nbdev's render of index.ipynb, without Quarto

def _readme_links(md:str, base:str) -> str:
    "Relative doc links (`data.html`, `00_data.ipynb`) → the hosted docs, as nbdev's `readme_filter` does."
    from nbdev.readme_filter import doc_link
    return re.sub(r'(?<!!)(\[[^\]]*\]\()([^)\s]+)(\))', lambda m: m.group(1) + doc_link(m.group(2), base) + m.group(3), md)

def _escape_table_code_pipes(md:str) -> str:
    "In table rows, `|` inside code spans must be escaped for GitHub (`#| slow` → `#\\| slow`)."
    def row(line):
        if not line.lstrip().startswith('|'): return line
        return re.sub(r'`[^`]*`', lambda m: re.sub(r'(?<!\\)\|', r'\\|', m.group(0)), line)
    return '\n'.join(row(l) for l in md.splitlines())

def readme_text(nb:Path=None) -> str:
    "The README.md text for `nbs/index.ipynb` (processed by nbdev as `nbdev-readme` does, rendered to GitHub markdown)."
    import yaml, tempfile
    cfg = _cfg()
    nb = Path(nb or cfg.nbs_path/cfg.readme_nb)
    with tempfile.TemporaryDirectory() as d:
        proc = Path(d)/nb.name
        cwd = os.getcwd()
        try: _proc_one((nb, proc))
        finally: os.chdir(cwd)
        cells = json.loads(proc.read_text())['cells']
    out = []
    for c in cells:
        src = ''.join(c.get('source', ''))
        if c['cell_type'] == 'raw':
            if src.strip().startswith('---'):
                fm = yaml.safe_load(src.strip().strip('-')) or {}
                out.append(f"# {fm.get('title', cfg.lib_name)}" + (f"\n\n> {fm['description']}" if fm.get('description') else ''))
            continue
        if c['cell_type'] == 'markdown':
            md = src
            md = '\n'.join(l for l in md.splitlines() if not (_re_fence_open.match(l) or _re_fence_close.match(l) or _re_fence_open_bare.match(l)))
            md = _re_span.sub(r'\1', _re_link_attrs.sub(r'\1', md))
            out.append(_escape_table_code_pipes(_readme_links(md, cfg.doc_url)).strip())
            continue
        opts, code = cell_options(src)
        if _false(opts.get('include', 'true')): continue
        if code.strip() and not _false(opts.get('echo', 'true')): out.append(f'``` python\n{code}\n```')
        if _false(opts.get('output', 'true')): continue
        for o in c.get('outputs', []):
            data = o.get('data', {})
            j = lambda k: ''.join(data[k]) if isinstance(data[k], list) else data[k]
            if o['output_type'] == 'stream': txt = ''.join(o['text'])
            elif 'text/markdown' in data and opts.get('output') == 'asis': out.append(j('text/markdown').strip()); continue
            elif 'text/markdown' in data: out.append(j('text/markdown').strip()); continue
            elif 'text/plain' in data: txt = j('text/plain')
            else: continue
            txt = _re_ansi.sub('', txt).rstrip()
            if txt: out.append('\n'.join('    ' + l for l in txt.splitlines()))
    return '\n\n'.join(o for o in out if o) + '\n'

def write_readme(check:bool=False) -> bool:
    "Write README.md (or, with `check`, only say whether it is up to date); True when README.md matches."
    cfg = _cfg()
    new, f = readme_text(), cfg.config_path/'README.md'
    same = f.exists() and f.read_text() == new
    if check:
        print('README.md is up to date' if same else 'README.md differs from nbs/index.ipynb: run `python tools/build_docs.py readme`')
        return same
    if not same: f.write_text(new)
    print(f'README.md {"unchanged" if same else "written"} from {cfg.readme_nb}')
    return True

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('what', nargs='?', default='site', choices=['site', 'readme', 'sidebar', 'all'])
    ap.add_argument('--out', default=str(SITE), help='where to write the site (default build/site)')
    ap.add_argument('--force', action='store_true', help='re-process every notebook (ignore the cache in build/_proc)')
    ap.add_argument('--workers', type=int, default=2, help='notebooks processed in parallel (default 2)')
    ap.add_argument('--check', action='store_true', help='readme: only check that README.md is up to date (exit 1 if not)')
    a = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    import build_docs as bd                          # workers unpickle functions from an importable module, not __main__
    write_sidebar, write_readme, build_site = bd.write_sidebar, bd.write_readme, bd.build_site
    if a.what in ('sidebar', 'all'): print('wrote', write_sidebar().relative_to(ROOT))
    if a.what in ('readme', 'all'):
        if not write_readme(a.check): sys.exit(1)
    if a.what in ('site', 'all'):
        if any(p['error'] for p in build_site(Path(a.out), a.force, a.workers)): sys.exit(1)
