"Plain tests of `petbook.fastdata` beyond its notebook: the crop box against fastai's own `Resize`, on random shapes."
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
