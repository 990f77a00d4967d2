"""IP2P's edit_batch: compatible requests run as one batched pipeline call, each output what its request gives alone."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from editlab.editors import get_editor
from editlab.imaging.masks import default_feather, feather_weights
from editlab.pipelines.instruct_pix2pix import InstructPix2PixPipeline
from editlab.types import EditRequest

#: a batched UNet forward may round differently from a single one (BLAS picks kernels by batch size)
TOLERANCE = 2  # of 255
INSTRUCTIONS = ("make it red", "add a cat", "turn the sky blue")


def noise(seed: int, size: tuple[int, int] = (53, 37)) -> Image.Image:
    width, height = size
    return Image.fromarray(np.random.RandomState(seed).randint(0, 256, (height, width, 3), dtype=np.uint8))


def box_mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    mask = Image.new("L", size, 0)
    mask.paste(255, box)
    return mask


@pytest.fixture
def calls(monkeypatch):
    """The batch size of every pipeline call."""
    sizes: list[int] = []
    original = InstructPix2PixPipeline.__call__

    def counting(self, prompt, image, **kwargs):
        sizes.append(1 if isinstance(prompt, str) else len(prompt))
        return original(self, prompt, image, **kwargs)

    monkeypatch.setattr(InstructPix2PixPipeline, "__call__", counting)
    return sizes


def max_diff(a: Image.Image, b: Image.Image) -> int:
    return int(np.abs(np.asarray(a, dtype=int) - np.asarray(b, dtype=int)).max())


@pytest.mark.parametrize("scheduler", ["dpm++2m", "euler-ancestral"])  # the second draws noise every step
@pytest.mark.parametrize("masked", [False, True])
def test_a_batch_matches_each_request_alone(tiny_model_dirs, calls, scheduler, masked):
    editor = get_editor(f"ip2p:{tiny_model_dirs['ip2p']}", num_inference_steps=3, scheduler=scheduler)
    masks = [box_mask((53, 37), (6 * k, 3, 20 + 6 * k, 30)) if masked else None for k in range(3)]
    requests = [EditRequest(noise(k), INSTRUCTIONS[k], mask=masks[k], seed=10 + k) for k in range(3)]

    batched = editor.edit_batch(requests)
    provenance = editor.last_provenance
    assert calls == [3]
    alone = [editor.edit(request) for request in requests]
    assert calls == [3, 1, 1, 1]
    for k, (together, single) in enumerate(zip(batched, alone, strict=True)):
        assert together.size == (53, 37) and together.mode == "RGB"
        assert max_diff(together, single) <= TOLERANCE, f"request {k}"
    assert [record["seed"] for record in provenance] == [10, 11, 12]
    assert [record["seeds"] for record in provenance] == [[10], [11], [12]]
    assert all(record["mask"] is masked and record["num_inference_steps"] == 3 for record in provenance)
    if masked:  # outside each request's own region its source comes back exactly
        for k, output in enumerate(batched):
            outside = feather_weights(masks[k], default_feather((53, 37))) == 0
            assert outside.any()
            np.testing.assert_array_equal(np.asarray(output)[outside], np.asarray(noise(k))[outside])


def test_incompatible_requests_run_in_groups_in_order(tiny_model_dirs, calls):
    editor = get_editor(f"ip2p:{tiny_model_dirs['ip2p']}", num_inference_steps=2)
    mask = box_mask((53, 37), (0, 0, 20, 20))
    requests = [
        EditRequest(noise(0), "make it red", seed=1),
        EditRequest(noise(1, (40, 40)), "make it red", seed=2),                   # another size
        EditRequest(noise(2), "add a cat", seed=3),                               # joins the first
        EditRequest(noise(3), "add a cat", seed=4, params={"guidance_scale": 3}),  # other params
        EditRequest(noise(4), "add a dog", seed=5, mask=mask),                    # a mask
        EditRequest(noise(5), "add a dog", seed=6, params={"steps": 2}),          # = the defaults: joins the first
    ]
    outputs = editor.edit_batch(requests)
    provenance = editor.last_provenance
    assert sorted(calls) == [1, 1, 1, 3] and len(calls) == 4
    assert [record["seed"] for record in provenance] == [1, 2, 3, 4, 5, 6]
    assert provenance[3]["guidance_scale"] == 3 and provenance[4]["mask"] and not provenance[0]["mask"]
    for request, output in zip(requests, outputs, strict=True):
        assert output.size == request.image.size
        assert max_diff(output, editor.edit(request)) <= TOLERANCE


def test_a_bad_request_fails_the_call_before_any_work(tiny_model_dirs, calls, photo):
    from editlab.errors import EditlabError

    editor = get_editor(f"ip2p:{tiny_model_dirs['ip2p']}", num_inference_steps=2)
    with pytest.raises(EditlabError, match="empty instruction"):
        editor.edit_batch([EditRequest(photo, "make it red", seed=0), EditRequest(photo, "  ", seed=0)])
    assert calls == []


def test_on_step_counts_the_steps_of_the_whole_call(tiny_model_dirs, photo):
    editor = get_editor(f"ip2p:{tiny_model_dirs['ip2p']}", num_inference_steps=3)
    seen: list[tuple[int, int]] = []
    # two compatible requests step together (3 steps), the third runs on its own (2 steps)
    requests = [EditRequest(photo, "make it red", seed=0), EditRequest(photo, "add a cat", seed=1),
                EditRequest(photo, "make it red", seed=0, params={"num_inference_steps": 2})]
    editor.edit_batch(requests, on_step=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]

    seen.clear()  # heun takes two timesteps for most steps: still steps 1..n of n
    editor.edit(EditRequest(photo, "make it red", seed=0, params={"scheduler": "heun"}))  # no callback: fine
    editor.edit_batch([EditRequest(photo, "make it red", seed=0, params={"scheduler": "heun"})],
                      on_step=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (3, 3) and all(total == 3 for _, total in seen)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_pipeline_takes_one_mask_per_image(tiny_model_dirs):
    import torch

    pipe = get_editor(f"ip2p:{tiny_model_dirs['ip2p']}").pipeline
    images = [noise(0), noise(1)]
    with pytest.raises(ValueError, match="got 3 masks for 2 images"):
        pipe(["a", "b"], images, mask_image=[box_mask((53, 37), (0, 0, 9, 9))] * 3, num_inference_steps=1)
    # one mask for all images still works, and equals that mask given once per image
    mask = box_mask((53, 37), (0, 0, 20, 20))
    shared = pipe(["a", "b"], images, mask_image=mask, num_inference_steps=1, output_type="np",
                  generator=[torch.Generator().manual_seed(s) for s in (1, 2)]).images
    listed = pipe(["a", "b"], images, mask_image=[mask, mask], num_inference_steps=1, output_type="np",
                  generator=[torch.Generator().manual_seed(s) for s in (1, 2)]).images
    np.testing.assert_allclose(shared, listed, atol=1e-6)

