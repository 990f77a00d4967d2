import numpy as np
import pytest
from PIL import Image

from editlab.errors import EditlabError
from editlab.imaging.sizing import from_working, mask_to_working, plan_size, to_working


@pytest.mark.parametrize("size", [(301, 97), (40, 160), (160, 40), (1, 4), (4, 1), (1, 1), (2, 3), (64, 64), (513, 1)])
@pytest.mark.parametrize("budget", [None, 256 * 256])
def test_round_trip_restores_exact_size(size, budget):
    plan = plan_size(*size, multiple=64, target_pixels=budget)
    assert plan.working[0] % 64 == 0 and plan.working[1] % 64 == 0
    assert plan.working[0] >= plan.resized[0] and plan.working[1] >= plan.resized[1]
    image = Image.fromarray(np.random.RandomState(0).randint(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    work = to_working(image, plan)
    assert work.size == plan.working
    assert from_working(work, plan).size == size


def test_no_budget_is_lossless_and_keeps_aspect():
    image = Image.fromarray(np.random.RandomState(1).randint(0, 256, (97, 301, 3), dtype=np.uint8))
    plan = plan_size(301, 97, multiple=64)
    assert plan.working == (320, 128) and plan.pad == (19, 31)
    work = to_working(image, plan)
    np.testing.assert_array_equal(np.asarray(work)[:97, :301], np.asarray(image))
    np.testing.assert_array_equal(np.asarray(from_working(work, plan)), np.asarray(image))
    # reflect padding: the first padded column mirrors the column before the edge
    np.testing.assert_array_equal(np.asarray(work)[:97, 301], np.asarray(image)[:, 299])


def test_budget_keeps_aspect_ratio():
    plan = plan_size(40, 160, multiple=64, target_pixels=512 * 512)
    assert plan.resized == (256, 1024)
    plan = plan_size(4000, 3000, multiple=64, target_pixels=512 * 512)
    assert abs(plan.resized[0] / plan.resized[1] - 4 / 3) < 0.01


def test_mask_padding_is_never_editable():
    mask = Image.new("L", (30, 10), 255)
    work = mask_to_working(mask, plan_size(30, 10, multiple=16))
    array = np.asarray(work)
    assert work.size == (32, 16) and array[:10, :30].min() == 255 and array[10:].max() == 0 and array[:, 30:].max() == 0


def test_bad_sizes():
    with pytest.raises(EditlabError, match="no pixels"):
        plan_size(0, 10)
    with pytest.raises(EditlabError, match="pad mode"):
        plan_size(10, 10, pad_mode="wrap")
