import numpy as np
import pytest
from PIL import Image

from editlab.errors import EditlabError
from editlab.imaging.masks import (
    check_mask,
    composite,
    feather_weights,
    latent_mask,
    mask_from_box,
    mask_from_polygon,
    parse_box,
    parse_polygon,
)


def test_box_and_polygon():
    box = np.asarray(mask_from_box((10, 8), (2, 1, 6, 4)))
    assert box.sum() // 255 == 12 and box[1:4, 2:6].min() == 255
    poly = np.asarray(mask_from_polygon((10, 10), [(1, 1), (8, 1), (8, 8), (1, 8)]))
    assert poly[1:9, 1:9].min() == 255 and poly[0].max() == 0


@pytest.mark.parametrize("text,error", [("1,2,3", "4 numbers"), ("a,b,c,d", "not a comma-separated")])
def test_parse_box_errors(text, error):
    with pytest.raises(EditlabError, match=error):
        parse_box(text)


def test_parse_polygon():
    assert parse_polygon("0,0, 10,0, 5,5") == [(0, 0), (10, 0), (5, 5)]
    with pytest.raises(EditlabError, match="at least 6"):
        parse_polygon("0,0,1,1")


def test_box_outside_image():
    with pytest.raises(EditlabError, match="covers no pixels"):
        mask_from_box((10, 10), (20, 20, 30, 30))


def test_check_mask():
    with pytest.raises(EditlabError, match="mask is 4x4 but the image is 5x5"):
        check_mask(Image.new("L", (4, 4), 255), (5, 5))
    with pytest.raises(EditlabError, match="no pixel"):
        check_mask(Image.new("L", (5, 5), 0), (5, 5))


def test_feather_ramp_is_exactly_zero_beyond_band():
    mask = mask_from_box((40, 40), (15, 15, 25, 25))
    weights = feather_weights(mask, 4)
    assert weights[15:25, 15:25].min() == 1.0
    assert 0 < weights[14, 20] < 1 and weights[11, 20] > 0
    assert weights[10, 20] == 0 and weights[:10].max() == 0 and weights[:, 30:].max() == 0
    assert np.all(np.diff(weights[20, 10:16]) > 0)  # monotone ramp towards the region


def test_composite_exact_outside_and_edit_inside():
    rng = np.random.RandomState(0)
    src = Image.fromarray(rng.randint(0, 256, (20, 20, 3), dtype=np.uint8))
    out = Image.fromarray(rng.randint(0, 256, (20, 20, 3), dtype=np.uint8))
    weights = feather_weights(mask_from_box((20, 20), (5, 5, 10, 10)), 2)
    res = np.asarray(composite(src, out, weights))
    zero, one = weights == 0, weights == 1
    np.testing.assert_array_equal(res[zero], np.asarray(src)[zero])
    np.testing.assert_array_equal(res[one], np.asarray(out)[one])


def test_latent_mask_is_soft_at_the_border():
    soft = latent_mask(mask_from_box((32, 32), (0, 0, 12, 32)), (8, 8), grow=1)
    assert soft.shape == (1, 1, 8, 8)
    row = soft[0, 0, 4].tolist()
    assert row[:3] == [1.0, 1.0, 1.0] and row[3] == 0.5 and row[5:] == [0.0, 0.0, 0.0]
