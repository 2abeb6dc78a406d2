import os
os.environ.setdefault('MPLBACKEND', 'Agg')
os.environ.setdefault('PYTHONWARNINGS', 'ignore::FutureWarning')
