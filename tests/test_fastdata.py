"Plain tests of `petbook.fastdata` and `petbook.fastlearn` beyond their notebooks: the crop box against fastai's own `Resize`, on random shapes; the progress bar's host reads."
import numpy as np
from PIL import Image
from hypothesis import given, settings, strategies as st
from fastai.vision.all import Resize, PILImage
from petbook.fastdata import square_crop


@settings(max_examples=40, deadline=None)
@given(w=st.integers(2, 300), h=st.integers(2, 300), size=st.integers(4, 128))
def test_square_crop_is_fastais_validation_crop(w, h, size):
    "Cropping `square_crop`'s box and resizing with PIL gives exactly `Resize(size)` at validation."
    rng = np.random.default_rng(w*1000 + h)
    im = PILImage.create(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    want = np.asarray(Resize(size)(im, split_idx=1))
    l, t, side = square_crop(w, h, size)
    got = np.asarray(Image.fromarray(np.asarray(im)[t:t+side, l:l+side]).resize((size, size), Image.BILINEAR))
    assert side <= min(w, h) and l >= 0 and t >= 0
    np.testing.assert_array_equal(got, want)


def test_bar_reads_the_loss_only_when_it_redraws():
    "In 200 quick batches fastai's bar reads the loss 200 times; under `NoHostSync` only when it redraws (a few times)."
    from collections import Counter
    from types import SimpleNamespace
    import torch
    from fastprogress.fastprogress import ConsoleProgressBar
    from fastai.callback.progress import ProgressCallback
    from petbook.fastlearn import _SyncMode, _bar_after_batch

    def reads(after_batch):
        cb = ProgressCallback()
        cb.pbar = ConsoleProgressBar(range(200), display=False)
        cb.learn = SimpleNamespace(smooth_loss=torch.tensor(0.5))   # `cb.smooth_loss` reads the learner's
        sites = Counter()
        with _SyncMode(sites):
            cb.pbar.update(0)
            for i in range(200): cb.iter = i; after_batch(cb)
        return sum(sites.values()), cb.pbar.comment

    n_stock, _ = reads(ProgressCallback.after_batch)
    n_ours, comment = reads(_bar_after_batch)
    assert n_stock == 200, n_stock
    assert 1 <= n_ours <= 10, n_ours
    assert comment == '0.5000'
