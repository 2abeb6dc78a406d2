import os, json
os.environ.setdefault('MPLBACKEND', 'Agg')
os.environ.setdefault('PYTHONWARNINGS', 'ignore::FutureWarning')

# ---- "Run all" times (tests/test_runall.py records them with `record_property('runall', ...)`) -------------------
# Reports reach this hook in the main process, with pytest-xdist too; the table is printed at the end of the run
# and, when PETBOOK_RUNALL_TIMES names a file, written there as JSON.
_RUNALL = []

def pytest_runtest_logreport(report):
    if report.when == 'call':
        _RUNALL.extend(v for k, v in report.user_properties if k == 'runall')

def pytest_terminal_summary(terminalreporter):
    if not _RUNALL: return
    tr = terminalreporter
    tr.section('"Run all": seconds per notebook (tests/test_runall.py)')
    rows = sorted(_RUNALL, key=lambda r: (r['case'], r['nb']))
    for r in rows: tr.write_line(f"  case {r['case']}  {r['nb']:<16} {r['seconds'] if r['seconds'] is not None else '-':>7}s  {'ok' if r['ok'] else 'FAILED'}")
    for case in sorted({r['case'] for r in rows}):
        tr.write_line(f"  case {case}  total {sum(r['seconds'] or 0 for r in rows if r['case'] == case):.0f}s")
    if out := os.environ.get('PETBOOK_RUNALL_TIMES'):
        with open(out, 'w') as f: json.dump(rows, f, indent=1)
