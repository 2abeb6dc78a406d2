"""The `petbook` command, run as a subprocess on a tiny synthetic toy set.

train → predict → visualize (one test, in order), demo (one self-contained HTML report), usage errors (exit 2),
a missing data folder (`PetsNotFound`'s message, exit 1, no traceback), and distributed training for real:
two CPU processes (gloo) under `torchrun` and under `accelerate launch`, each with a disjoint shard, only rank 0
writing the model; `--fast` (one process) refused under a launcher.

`CLI` is the command prefix: the `petbook` console script when it is installed, else `python -m petbook.cli`.
The distributed tests launch THIS file (`python tests/test_cli.py SHARDS_DIR train ...`): its `__main__` runs
`petbook.cli.main` with a `ShardLog` callback passed in, which records each rank's items; hostile inputs are in
`hostile.py` / `test_hostile.py`.
"""
import os, sys, re, json, shutil, subprocess
from pathlib import Path
import pytest
from fastai.callback.core import Callback
from fastai.distributed import DistributedTrainer
from fastai.torch_core import rank_distrib, num_distrib
from petbook.data import make_toy_pets, get_pets, PetsNotFound

class ShardLog(Callback):
    "Record, for each training epoch, the items this process was given (its shard of the data)."
    order = DistributedTrainer.order + 1   # after `DistributedTrainer` has wrapped the loader
    def __init__(self): self.epochs = []
    def before_train(self):
        dl, shard = self.learn.dl, []
        self.epochs.append(shard)
        if getattr(dl, '_shard_log', None) is not None: dl._shard_log = shard; return
        get_idxs = dl.get_idxs
        def logged():
            idxs = get_idxs()
            dl._shard_log.extend(str(dl.dataset.items[i]) for i in idxs)
            return idxs
        dl.get_idxs, dl._shard_log = logged, shard

    def dump(self, folder):
        "Write `rank<N>.json` into `folder`: rank, world size, and the items of each epoch."
        folder = Path(folder); folder.mkdir(parents=True, exist_ok=True)
        (folder/f'rank{rank_distrib()}.json').write_text(
            json.dumps(dict(rank=rank_distrib(), world_size=max(num_distrib(), 1), epochs=self.epochs)))

CLI = ['petbook'] if shutil.which('petbook') else [sys.executable, '-m', 'petbook.cli']
HERE = Path(__file__).resolve()
TORCHRUN = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', '-m', 'petbook.cli']
TORCHRUN_LOGGED = TORCHRUN[:-2] + [str(HERE)]   # this file's __main__: `main` with a ShardLog
# accelerate's flag for several processes is `--multi_gpu`, also on CPUs (`--cpu` alone runs one process)
ACCELERATE = [sys.executable, '-m', 'accelerate.commands.launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1',
              '--mixed_precision', 'no', '--dynamo_backend', 'no', str(HERE)]
TINY = ['--size', '32', '--bs', '4', '--num-workers', '0', '--device', 'cpu']   # 32 px, CPU: seconds, not minutes
SECTIONS = ['Data', 'Label counts', 'Training', 'Confusion matrix', 'Top losses', 'One prediction', 'Inside the network']

def run(args, cwd=None, env=None, timeout=600, prefix=None):
    "Run the CLI with `args`; the completed process (text stdout/stderr)."
    e = {**os.environ, 'MPLBACKEND': 'Agg', 'PYTHONWARNINGS': 'ignore', 'OMP_NUM_THREADS': '1', **(env or {})}
    e.pop('PETBOOK_DEBUG', None)
    return subprocess.run((prefix or CLI) + [str(a) for a in args], cwd=cwd, env=e, capture_output=True, text=True, timeout=timeout)

def ok(r):
    "Assert a zero exit, showing the output when not."
    assert r.returncode == 0, f'exit {r.returncode}\nstdout:\n{r.stdout[-3000:]}\nstderr:\n{r.stderr[-3000:]}'
    return r

@pytest.fixture
def toy(tmp_path):
    "20 toy images (4 breeds × 5), 48 px."
    return make_toy_pets(tmp_path/'toy', n_per_breed=5, size=48)

@pytest.mark.slow
def test_train_predict_visualize(toy, tmp_path):
    "train saves a safetensors model; predict labels good images and reports a corrupt one; visualize writes PNGs."
    model = tmp_path/'out'/'toy.safetensors'
    r = ok(run(['train', '--data', toy, '--out', model, '--epochs', '1', *TINY]))
    assert model.exists() and model.stat().st_size > 0
    assert model.read_bytes()[8:9] == b'{', 'not a safetensors file (8-byte header length, then JSON)'
    assert 'saved' in r.stdout

    bad = tmp_path/'Toycat_Disc_99.jpg'; bad.write_bytes(b'this is not a jpeg')
    good = sorted(toy.glob('*.jpg'))[:2]
    r = run(['predict', model, good[0], bad, good[1], '--json', '--device', 'cpu'])
    assert r.returncode == 1, 'some inputs skipped: exit status 1'
    preds = json.loads(r.stdout)
    assert [p['image'] for p in preds] == [str(good[0]), str(good[1])]
    assert all(0 <= p['probability'] <= 1 and p['label'] for p in preds)
    assert str(bad) in r.stderr and 'Traceback' not in r.stderr

    r = run(['predict', model, bad, tmp_path/'missing.jpg', '--device', 'cpu'])
    assert r.returncode == 1 and r.stdout == '' and 'missing.jpg' in r.stderr

    figs = tmp_path/'figs'
    r = ok(run(['visualize', model, '--data', toy, '--out', figs, '--n', '1', '--device', 'cpu']))
    pngs = sorted(figs.glob('*.png'))
    assert pngs and all(p.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' for p in pngs)

def test_demo_report(tmp_path, monkeypatch):
    "demo with no data anywhere falls back to a labelled synthetic set and writes one self-contained report."
    monkeypatch.delenv('PETBOOK_DATA', raising=False)
    env = {'PETBOOK_DATA': '', 'FASTAI_HOME': str(tmp_path/'fastai')}   # no Pets anywhere
    try: get_pets(download=False); synthetic = False
    except PetsNotFound: synthetic = True
    out = tmp_path/'demo'
    r = ok(run(['demo', '--out', out, '--no-download', '--max-images', '20', '--epochs', '1', *TINY], env=env))
    report = out/'report.html'
    assert report.exists() and (out/'model.safetensors').exists()
    page = report.read_text(encoding='utf-8')
    heads = re.findall(r'<h2>(.*?)</h2>', page)
    for s in SECTIONS: assert any(h.startswith(s) for h in heads), (s, heads)
    assert len(re.findall(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{100,}"', page)) >= 6
    assert not re.search(r'<img src="(?!data:)', page), 'every image is embedded'
    assert re.search(r'<table>.*error_rate', page, re.S), 'training table'
    if synthetic:
        assert 'SYNTHETIC' in page and 'class="warn"' in page and 'SYNTHETIC' in r.stderr

def test_usage_errors_exit_2(tmp_path):
    "argparse's usage errors: exit 2 with a usage line on stderr."
    r = run(['train', '--data', tmp_path, '--out', tmp_path/'m.safetensors', '--epochs', 'one'])
    assert r.returncode == 2 and 'usage: petbook train' in r.stderr and "invalid int value: 'one'" in r.stderr

def test_help_pages():
    "Every sub-command has a --help (checked in-process: it is the same parser the command uses)."
    from petbook.cli import _parser, _COMMANDS
    p = _parser()
    for name in _COMMANDS:
        with pytest.raises(SystemExit) as e: p.parse_args([name, '--help'])
        assert e.value.code == 0
    with pytest.raises(SystemExit) as e: p.parse_args([])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e: p.parse_args(['train', '--arch', 'vgg16', '--data', 'd', '--out', 'm'])
    assert e.value.code == 2

@pytest.mark.parametrize('names, refusal', [
    (['Cat_1.jpg', 'dog_2.jpg', 'Bengal_3.jpg'], 'Only one class in'),           # Cat/dog are species, not breeds: one breed left
    (['Bengal_1.jpg', 'Bengal_2.jpg', 'Bengal_3.jpg'], 'Only one class in'),
    (['Cat_1.jpg', 'dog_2.jpg'], 'No usable images'),
])
def test_breed_rules_same_in_notebook_and_cli(tmp_path, names, refusal):
    "`pets_dls(label='breed')` and `petbook train --label breed` refuse the same folder with the same message."
    from PIL import Image
    from petbook.dataloaders import pets_dls
    for i, n in enumerate(names): Image.new('RGB', (40, 30), (40*i, 90, 200)).save(tmp_path/n)
    with pytest.raises(Exception) as e: pets_dls(tmp_path, label='breed', size=32, bs=2, num_workers=0, device='cpu')
    msg = str(e.value)
    assert refusal in msg, msg
    r = run(['train', '--data', tmp_path, '--label', 'breed', '--out', tmp_path/'m.pth'] + TINY)
    assert r.returncode == 1 and 'Traceback' not in r.stderr, r.stderr[-2000:]
    assert msg in r.stdout + r.stderr, (msg, r.stdout[-2000:], r.stderr[-2000:])
    assert not (tmp_path/'m.pth').exists()

def test_missing_data_folder(tmp_path):
    "A data folder that is not there: PetsNotFound's message with its remedies, exit 1, no traceback."
    r = run(['train', '--data', tmp_path/'nowhere', '--out', tmp_path/'m.safetensors', *TINY])
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith('petbook train: error: the path given') and 'is not a folder of images' in r.stderr
    assert 'PETBOOK_DATA' in r.stderr and 'Traceback' not in r.stderr
    assert not (tmp_path/'m.safetensors').exists()

@pytest.mark.slow
@pytest.mark.parametrize('launcher', ['torchrun', 'accelerate'])
def test_distributed_two_cpu_processes(toy, tmp_path, launcher):
    "torchrun or accelerate launch, 2 CPU processes (gloo): each rank trains on a disjoint shard, together the training set; rank 0 saves."
    from petbook.dataloaders import pets_dls
    shards, out = tmp_path/'shards', tmp_path/'ddp'
    prefix = TORCHRUN_LOGGED if launcher == 'torchrun' else ACCELERATE
    r = ok(run([shards, 'train', '--data', toy, '--out', out/'ddp.safetensors', '--epochs', '1', *TINY],
               env={'HF_HOME': str(tmp_path/'hf')}, prefix=prefix))
    assert '2 processes' in r.stdout
    assert sorted(p.name for p in out.iterdir()) == ['ddp.safetensors'], 'one model file, written once'
    logs = [json.loads((shards/f'rank{i}.json').read_text()) for i in (0, 1)]
    assert [l['rank'] for l in logs] == [0, 1] and all(l['world_size'] == 2 for l in logs)
    train_items = {str(p) for p in pets_dls(toy, size=32, num_workers=0, device='cpu', verbose=False).train.items}
    assert len(logs[0]['epochs']) == len(logs[1]['epochs']) >= 1   # one list per training epoch
    for e0, e1 in zip(logs[0]['epochs'], logs[1]['epochs']):
        assert e0 and e1 and not set(e0) & set(e1), 'ranks share items'
        assert set(e0) | set(e1) == train_items and len(e0) == len(e1) == len(train_items)//2

@pytest.mark.slow
def test_fast_refused_when_distributed(toy, tmp_path):
    "`train --fast` keeps the decoded set in one process: under torchrun it exits 2 (usage) with the remedy, and writes nothing."
    r = run(['train', '--data', toy, '--out', tmp_path/'f.safetensors', '--fast', *TINY], prefix=TORCHRUN)
    assert r.returncode != 0
    # each rank says why; torchrun may stop the second rank before it prints, once the first has failed
    assert r.stderr.count('petbook train: error: --fast trains in one process') >= 1
    assert not re.search(r'File "[^"]*petbook[/\\]\w+\.py"', r.stderr), 'a usage error, not a petbook traceback'   # torchrun's own traceback may follow
    assert not (tmp_path/'f.safetensors').exists()

if __name__ == '__main__':   # under a launcher: python tests/test_cli.py SHARDS_DIR COMMAND ARGS...
    from petbook.cli import main
    log = ShardLog()
    code = main(sys.argv[2:], cbs=[log])
    log.dump(sys.argv[1])
    sys.exit(code)
