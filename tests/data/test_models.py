"""Model-backed stages on tiny random models built in code: P2P attention sharing, pair generators,
grounding, CLIP/DINOv2 filters, judges, the specialist router."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from editlab.data.sample import Sample
from editlab.data.stages import build_stage
from editlab.errors import EditlabError

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")


@pytest.fixture(scope="module")
def sampler():
    from editlab.data.stages.pairs import get_sampler

    return get_sampler("tiny", None, "auto", "ddim", "self")


def _setup(spec: dict):
    stage = build_stage(spec)
    stage.setup()
    return stage


def _photo(seed: int = 0, size=(32, 32)) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


# -- Prompt-to-Prompt attention sharing ------------------------------------------------------------
def test_shared_attention_copies_the_source_rows_maps():
    from diffusers.models.attention_processor import Attention, AttnProcessor2_0

    from editlab.data.backends.diffusion import AttentionSharing, SharedAttentionProcessor

    torch.manual_seed(0)
    attn = Attention(query_dim=8, heads=2, dim_head=4).eval()
    x = torch.randn(4, 5, 8)  # pairs (0, 1) and (2, 3)
    sharing = AttentionSharing()
    processor = SharedAttentionProcessor(sharing, share="self")
    with torch.no_grad():
        plain = AttnProcessor2_0()(attn, x)
        sharing.set(None)
        assert torch.allclose(processor(attn, x), plain, atol=1e-6)
        sharing.set(torch.tensor([False, False]))
        assert torch.allclose(processor(attn, x), plain, atol=1e-5)
        sharing.set(torch.tensor([True, False]))
        shared = processor(attn, x)
        # reference: the edited row 1 attends with row 0's probabilities over its own values
        q, k, v = (attn.head_to_batch_dim(f(x)) for f in (attn.to_q, attn.to_k, attn.to_v))
        probs = attn.get_attention_scores(q, k).view(4, 2, 5, 5)
        mixed = torch.einsum("hqk,hkd->hqd", probs[0], v.view(4, 2, 5, 4)[1])
        expected = attn.to_out[0](mixed.permute(1, 0, 2).reshape(5, 8))
    assert torch.allclose(shared[1], expected, atol=1e-5)
    assert torch.allclose(shared[0], plain[0], atol=1e-5)  # the source row is never touched
    assert torch.allclose(shared[2:], plain[2:], atol=1e-5)  # pair 2 is not sharing at this step
    sharing.set(torch.tensor([True, True]))
    with torch.no_grad():  # "self" mode leaves cross-attention alone
        context = torch.randn(4, 3, 8)
        cross = Attention(query_dim=8, cross_attention_dim=8, heads=2, dim_head=4).eval()
        assert torch.allclose(processor(cross, x, context), AttnProcessor2_0()(cross, x, context), atol=1e-6)


def test_prompt_to_prompt_shares_noise_and_is_deterministic(sampler):
    kwargs = dict(steps=3, width=32, height=32)
    none = sampler.prompt_to_prompt("a cat", "a dog", seeds=[7], shares=[0.0], **kwargs)[0]
    full = sampler.prompt_to_prompt("a cat", "a dog", seeds=[7], shares=[1.0], **kwargs)[0]
    assert none[0].tobytes() == full[0].tobytes()  # the source branch never depends on p
    assert none[1].tobytes() != full[1].tobytes()  # sharing changes the edited branch
    batched = sampler.prompt_to_prompt("a cat", "a dog", seeds=[7, 8, 7], shares=[0.0, 0.5, 1.0], batch_size=2, **kwargs)
    assert batched[0][1].tobytes() == none[1].tobytes() and batched[2][1].tobytes() == full[1].tobytes()
    with pytest.raises(EditlabError, match="multiples of 4"):
        sampler.prompt_to_prompt("a", "b", seeds=[1], shares=[0.5], width=30, height=32)


def test_prompt_to_prompt_stage_makes_candidates(ctx):
    stage = _setup({"stage": "prompt-to-prompt", "model": "tiny", "steps": 2, "width": 32, "height": 32,
                    "candidates": 3, "p_min": 0.2, "p_max": 0.4})
    sample = Sample(id="t-0", instruction="make it a dog", meta={"input_caption": "a cat", "output_caption": "a dog"})
    rows = stage.process([sample], ctx)
    assert [r.id for r in rows] == ["t-0-c00", "t-0-c01", "t-0-c02"] and {r.group for r in rows} == {"t-0"}
    ps = [r.provenance["stages"][-1]["p"] for r in rows]
    assert all(0.2 <= p <= 0.4 for p in ps) and len(set(ps)) == 3
    again = stage.process([Sample(id="t-0", instruction="x", meta=dict(sample.meta))], ctx)
    assert [r.png("edited") for r in again] == [r.png("edited") for r in rows]
    assert stage.models()["generator"]["hash"].startswith("sha256:")
    missing = stage.process([Sample(id="t-1", meta={"input_caption": "a cat"})], ctx)[0]
    assert missing.status == "error" and "output captions" in missing.error


def test_an_unfinished_shard_resumes_row_by_row_from_its_journal(ctx, tmp_path):
    from editlab.data.stage import RowCache
    from editlab.data.storage import Storage

    stage = _setup({"stage": "prompt-to-prompt", "model": "tiny", "steps": 2, "width": 32, "height": 32,
                    "candidates": 2})
    assert stage.journaled() and not build_stage({"stage": "classic-edit"}).journaled()
    rows = [Sample(id=f"t-{i}", meta={"input_caption": "a cat", "output_caption": f"a dog {i}"}) for i in range(3)]
    ctx.journal = RowCache(Storage(str(tmp_path)), "journal")
    calls = []
    original = stage.generate
    stage.generate = lambda sample, c: calls.append(sample.id) or original(sample, c)
    first = stage.process([r.derive(r.id) for r in rows[:2]], ctx)  # "crashes" after two rows
    again = stage.process([r.derive(r.id) for r in rows], ctx)  # the rerun: only the third row is made
    assert calls == ["t-0", "t-1", "t-2"]
    assert [r.png("edited") for r in again[:4]] == [r.png("edited") for r in first]
    ctx.journal.clear()
    assert not (tmp_path / "journal").exists()


def test_img2img_p2p_keeps_the_real_image(ctx):
    stage = _setup({"stage": "img2img-p2p", "model": "tiny", "steps": 4, "strength": 0.5, "candidates": 2})
    photo = _photo(1)
    rows = stage.process([Sample(id="t-0", source=photo, meta={"input_caption": "a cat", "output_caption": "a dog"})], ctx)
    assert len(rows) == 2 and all(r.image("source").tobytes() == photo.tobytes() for r in rows)
    assert rows[0].image("edited").size == photo.size and rows[0].provenance["stages"][-1]["strength"] == 0.5


def test_soft_mask_band():
    from editlab.data.stages.pairs import soft_mask

    tight = Image.new("L", (20, 20), 0)
    tight.paste(255, (8, 8, 12, 12))
    weights = soft_mask(tight, 4, high=0.8, low=0.1)
    assert weights[10, 10] == 1.0 and weights[0, 0] == 0.0
    band = weights[(weights > 0) & (weights < 1)]
    assert band.min() == pytest.approx(0.1) and band.max() == pytest.approx(0.8)
    assert weights[10, 7] > weights[10, 5] > weights[10, 4] > weights[10, 3] == 0  # fades over 4 pixels


def test_inpaint_region_keeps_everything_outside_the_soft_mask(ctx):
    stage = _setup({"stage": "inpaint-region", "model": "tiny", "steps": 3, "loose_fraction": 0.1})
    photo = _photo(2)
    mask = Image.new("L", (32, 32), 0)
    mask.paste(255, (10, 10, 20, 20))
    out = stage.process([Sample(id="t-0", source=photo, mask=mask, meta={"output_caption": "a red square"})], ctx)[0]
    assert out.ok, out.error
    soft = np.asarray(out.image("mask"))
    outside = soft == 0
    assert outside.any() and (np.asarray(out.image("edited"))[outside] == np.asarray(photo)[outside]).all()
    assert soft[15, 15] == 255 and 26 <= soft[soft > 0].min() < 255
    no_mask = stage.process([Sample(id="t-1", source=photo)], ctx)[0]
    assert no_mask.status == "error" and "grounding" in no_mask.error


# -- routing -------------------------------------------------------------------------------------
def test_router_reverses_removal_for_addition(ctx):
    router = _setup({"stage": "specialist-router", "tiny": True, "routes": {
        "remove": {"stage": "inpaint-region", "steps": 2}, "add": {"reverse_of": "remove"},
        "tone": {"stage": "classic-edit"}}})
    photo, mask = _photo(3), Image.new("L", (32, 32), 0)
    mask.paste(255, (4, 4, 16, 16))
    add = Sample(id="t-0", source=photo, mask=mask, task="add", instruction="add a cat",
                 meta={"object": "cat", "input_caption": "a cat on a mat", "removal_caption": "a mat"})
    tone = Sample(id="t-1", source=photo, task="tone", instruction="make it sepia", meta={"classic_op": "sepia"})
    style = Sample(id="t-2", source=photo, task="style", instruction="make it a painting")
    rows = router.process([add, tone, style], ctx)
    assert [r.status for r in rows] == ["ok", "ok", "filtered"] and "no specialist for task style" in rows[2].error
    assert rows[0].image("edited").tobytes() == photo.tobytes()  # the real photo is the "after"
    assert rows[0].task == "add" and rows[0].instruction == "add a cat"
    assert rows[0].meta["output_caption"] == "a cat on a mat" and rows[0].meta["input_caption"] == "a mat"
    assert rows[0].provenance["stages"][-1] == {"stage": "specialist-router", "route": "inpaint-region", "reversed": True}
    assert set(router.models()) == {"remove:generator"}


def test_router_validates_routes():
    with pytest.raises(EditlabError, match="not a pair generator"):
        build_stage({"stage": "specialist-router", "routes": {"remove": {"stage": "dedup"}}})
    with pytest.raises(EditlabError, match="needs its own"):
        build_stage({"stage": "specialist-router", "routes": {"add": {"reverse_of": "remove"}}})


# -- grounding -----------------------------------------------------------------------------------
def test_grounding_with_tiny_detector_and_sam(ctx):
    stage = _setup({"stage": "grounding", "detector": "tiny", "segmenter": "tiny", "box_threshold": 0.0,
                    "min_area": 0.0, "max_area": 1.0, "queries": "object", "tasks": ["color"]})
    rows = stage.process([Sample(id="t-0", source=_photo(4), task="color", meta={"object": "cat"}),
                          Sample(id="t-1", source=_photo(5), task="style", meta={"object": "cat"}),
                          Sample(id="t-2", source=_photo(6), task="color")], ctx)
    first = rows[0]
    assert first.ok and first.mask is not None and first.image("mask").size == (32, 32)
    assert first.meta["target"]["name"] == "cat" and all(0 <= v <= 1 for v in first.meta["target"]["box"])
    assert first.scores["mask_area"] == pytest.approx(np.asarray(first.image("mask")).astype(bool).mean(), abs=1e-5)
    assert rows[1].ok and rows[1].mask is None  # style needs no region
    assert rows[2].status == "filtered" and "nothing to look for" in rows[2].error
    assert "grounding_crop_clip" not in first.scores
    cropped = _setup({"stage": "grounding", "detector": "tiny", "segmenter": None, "box_threshold": 0.0,
                      "min_area": 0.0, "max_area": 1.0, "crop_clip_model": "tiny", "min_crop_clip": -1.0})
    out = cropped.process([Sample(id="t-4", source=_photo(4), meta={"object": "cat"})], ctx)[0]
    assert out.ok and -1 <= out.scores["grounding_crop_clip"] <= 1 and "crop CLIP" in cropped.models()
    picky = _setup({"stage": "grounding", "detector": "tiny", "segmenter": None, "box_threshold": 0.0,
                    "min_area": 0.0, "max_area": 1.0, "crop_clip_model": "tiny", "min_crop_clip": 1.01})
    out = picky.process([Sample(id="t-5", source=_photo(4), meta={"object": "cat"})], ctx)[0]
    assert out.status == "filtered" and "crop-to-name CLIP" in out.error
    strict = _setup({"stage": "grounding", "detector": "tiny", "segmenter": None, "box_threshold": 0.0,
                     "min_area": 0.0, "max_area": 0.0001})
    out = strict.process([Sample(id="t-3", source=_photo(4), meta={"object": "cat"})], ctx)[0]
    assert out.status == "filtered" and "with a mask of 0%-0%" in out.error


def test_grounding_with_tiny_grounding_dino(ctx):
    stage = _setup({"stage": "grounding", "detector": "tiny-grounding-dino", "segmenter": None, "box_threshold": 0.0,
                    "text_threshold": 0.0, "min_area": 0.0, "max_area": 1.0})
    out = stage.process([Sample(id="t-0", source=_photo(7), meta={"object": "cat"})], ctx)[0]
    assert out.ok and out.mask is not None and out.scores["grounding_score"] > 0
    assert np.asarray(out.image("mask")).any()  # the box itself is the mask without a segmenter


# -- filters ---------------------------------------------------------------------------------------
def _pair(i: int, group: str = "g") -> Sample:
    return Sample(id=f"t-{i}", source=_photo(i), edited=_photo(i + 100), group=group,
                  meta={"input_caption": "a cat", "output_caption": f"a dog number {i}"})


def test_clip_filter_scores_thresholds_and_top_k(ctx):
    from editlab.data.backends import encoders
    from editlab.data.stages.filters import directional_similarity

    stage = _setup({"stage": "clip-filter", "model": "tiny", "min_caption_image": None, "min_direction": None,
                    "min_image_image": None, "top_k": 2, "batch_size": 3})
    rows = stage.process([_pair(i) for i in range(4)], ctx)
    for key in ("clip_caption_in", "clip_caption_out", "clip_direction", "clip_image"):
        assert all(-1 <= r.scores[key] <= 1 for r in rows)
    kept = sorted((r for r in rows if r.ok), key=lambda r: -r.scores["clip_direction"])
    assert len(kept) == 2 and kept[0].scores["clip_direction_rank"] == 1
    assert all(r.scores["clip_direction"] <= kept[-1].scores["clip_direction"] for r in rows if not r.ok)
    # the directional score is cos(image change, caption change) of unit CLIP embeddings
    encoder = encoders.clip_encoder("tiny")
    img = encoders.images(encoder, [_photo(0), _photo(100)])
    txt = encoders.texts(encoder, ["a cat", "a dog number 0"])
    expected = directional_similarity(img[:1], img[1:], txt[:1], txt[1:])[0]
    assert rows[0].scores["clip_direction"] == pytest.approx(expected, abs=1e-5)
    # thresholds reject with the reason; the scores stay on the row
    strict = _setup({"stage": "clip-filter", "model": "tiny", "min_image_image": 1.01, "min_caption_image": None,
                     "min_direction": None})
    out = strict.process([_pair(5)], ctx)[0]
    assert out.status == "filtered" and "image-image similarity" in out.error and "clip_image" in out.scores


def test_tiny_clip_pools_at_the_end_of_each_caption():
    from editlab.data.backends import encoders

    texts = encoders.texts(encoders.clip_encoder("tiny"), ["a cat", "a cat on a mat", "a cat"])
    assert np.allclose(texts[0], texts[2]) and not np.allclose(texts[0], texts[1], atol=1e-3)


def test_clip_filter_batching_does_not_change_scores(ctx):
    one = _setup({"stage": "clip-filter", "model": "tiny", "top_k": None, "batch_size": 1}).process(
        [_pair(i) for i in range(3)], ctx)
    many = _setup({"stage": "clip-filter", "model": "tiny", "top_k": None, "batch_size": 8}).process(
        [_pair(i) for i in range(3)], ctx)
    for a, b in zip(one, many, strict=True):
        assert a.scores == pytest.approx(b.scores, abs=1e-5)


def test_dino_filter(ctx):
    stage = _setup({"stage": "dino-filter", "model": "tiny", "min_similarity": None, "max_similarity": 0.99})
    same = Sample(id="t-0", source=_photo(1), edited=_photo(1))
    rows = stage.process([same, _pair(2)], ctx)
    assert rows[0].scores["dino_image"] == pytest.approx(1.0, abs=1e-5)
    assert rows[0].status == "filtered" and "no visible edit" in rows[0].error
    assert stage.models()["dino"]["hash"].startswith("sha256:")


@pytest.mark.parametrize("mode", ["score", "threshold", "importance"])
def test_judge_filter_policies(ctx, mode):
    stage = _setup({"stage": "judge-filter", "judge": "viescore", "backend": "dummy", "mode": mode, "min_score": 4.0})
    rows = stage.process([_pair(i) for i in range(8)], ctx)
    assert all({"judge_SC", "judge_PQ", "judge_O"} <= set(r.scores) for r in rows)
    overall = [r.scores["judge_O"] for r in rows]
    assert overall == pytest.approx([np.sqrt(r.scores["judge_SC"] * r.scores["judge_PQ"]) for r in rows])
    if mode == "score":
        assert all(r.ok for r in rows)
    elif mode == "threshold":
        assert [r.ok for r in rows] == [o >= 4.0 for o in overall]
    else:
        kept = [r for r in rows if r.ok]
        assert all(r.scores["judge_keep_prob"] == pytest.approx(min(1, (r.scores["judge_O"] / 10) ** 2)) for r in kept)
        again = _setup({"stage": "judge-filter", "judge": "viescore", "backend": "dummy", "mode": mode,
                        "min_score": 4.0}).process([_pair(i) for i in range(8)], ctx)
        assert [r.status for r in again] == [r.status for r in rows]  # seeded draws
    assert stage.models()["judge"]["id"].startswith("viescore on dummy")
