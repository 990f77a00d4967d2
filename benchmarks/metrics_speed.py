"""Speed of editlab's batched L1 / CLIP-I / DINO against MagicBrush's own evaluation loop.

The reference (`reference_loop`) follows MagicBrush's `evaluation/image_eval.py`
(osu-nlp-group/MagicBrush): `eval_distance` opens every pair, resizes the output to the ground
truth's size, converts both to [0, 1] tensors and takes the mean absolute difference;
`eval_clip_i` (run once for CLIP-I, once more for DINO) opens every pair again, encodes the two
images one at a time (batch of 1) and takes 1 - scipy's cosine distance. Its preprocessing is
written here from the published recipes, without editlab's code: OpenAI CLIP's transform
(shorter side to 224 with bicubic resampling, long side `int(224 * long / short)`, centre crop
224, mean (0.48145466, 0.4578275, 0.40821073), std (0.26862954, 0.26130258, 0.27577711)) and the
DINO transform MagicBrush uses (shorter side to 256 bicubic, centre crop 224, ImageNet mean/std),
in PIL + numpy; features from the transformers models directly (CLIP: the projected pooled vision output =
OpenAI `encode_image`; the CLS token after the final norm for DINO = torch.hub `dino_vits16`).
editlab's side is `editlab.metrics` (`pixel.l1`, `similarity.clip_image_similarity`,
`similarity.dino_similarity`): each file decoded once, batches, a preprocessing thread pool.

Both sides use the same randomly initialised encoders (ViT-B/32-CLIP and ViT-S/16-DINO input
geometry, no download) and the same PNG files; each side runs in its own warm process, whole
passes over all pairs interleaved (see `_timing.py`); the scores of both must agree (<= 1e-5).

    python benchmarks/metrics_speed.py                 # 200 pairs of 512 px, 5 passes a side
    python benchmarks/metrics_speed.py --quick         # 16 pairs, 256 px, tiny encoders
    python benchmarks/metrics_speed.py --device cuda   # on a GPU (the device name is recorded)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import Worker, finish, header, interleave, ratio, serve, summary, write_result  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "metrics_speed.json"
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
TARGETS = {"speedup": 3.0, "max_abs_difference": 1e-5}


# ----------------------------------------------------------------------------- data and encoders


def make_pairs(n: int, size: int, folder: Path, seed: int = 0) -> list[tuple[str, str]]:
    """Smooth random images (upsampled noise) and a noisy copy, saved as PNG: photo-like, not pure noise."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    files = []
    for index in range(n):
        small = rng.integers(0, 256, (size // 16, size // 16, 3), dtype=np.uint8)
        base = Image.fromarray(small).resize((size, size), Image.BICUBIC)
        noisy = np.clip(np.asarray(base, np.float64) + rng.normal(0, 12, (size, size, 3)), 0, 255).astype(np.uint8)
        gen, gt = folder / f"{index}_gen.png", folder / f"{index}_gt.png"
        Image.fromarray(noisy).save(gen)
        base.save(gt)
        files.append((str(gen), str(gt)))
    return files


def build_encoders(folder: Path, quick: bool) -> dict[str, str]:
    """Random CLIP (ViT-B/32 geometry, 224 px) and DINO-like ViT (patch 16, 224 px), saved to `folder`."""
    import torch
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer, ViTConfig, ViTModel

    torch.manual_seed(0)
    width, layers = (64, 2) if quick else (384, 6)
    clip = CLIPConfig(
        text_config=dict(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_hidden_layers=1,
                         vocab_size=600, max_position_embeddings=77, eos_token_id=0, bos_token_id=1, pad_token_id=0),
        vision_config=dict(hidden_size=width, intermediate_size=4 * width, num_attention_heads=max(width // 64, 1),
                           num_hidden_layers=layers, image_size=224, patch_size=32),
        projection_dim=256,
    )
    CLIPModel(clip).eval().save_pretrained(folder / "clip")
    vocab = {"<|endoftext|>": 0, "<|startoftext|>": 1, **{chr(c) + "</w>": i + 2 for i, c in enumerate(range(97, 123))}}
    (folder / "clip" / "vocab.json").write_text(json.dumps(vocab))
    (folder / "clip" / "merges.txt").write_text("#version: 0.2\n")
    CLIPTokenizer(str(folder / "clip" / "vocab.json"), str(folder / "clip" / "merges.txt")).save_pretrained(folder / "clip")
    dino = ViTConfig(hidden_size=width, intermediate_size=4 * width, num_attention_heads=max(width // 64, 1),
                     num_hidden_layers=layers, image_size=224, patch_size=16)
    ViTModel(dino, add_pooling_layer=False).eval().save_pretrained(folder / "dino")
    return {"clip": str(folder / "clip"), "dino": str(folder / "dino"),
            "described": {"clip": f"random CLIP, ViT patch 32 at 224 px, width {width}, {layers} layers",
                          "dino": f"random ViT, patch 16 at 224 px, width {width}, {layers} layers"}}


# ----------------------------------------------------------------------------- the reference


def resize_shorter_side(image, size: int):
    """Shorter side to `size`, long side int(size * long / short), PIL bicubic (CLIP's Resize)."""
    from PIL import Image

    width, height = image.size
    if width <= height:
        new = (size, int(size * height / width))
    else:
        new = (int(size * width / height), size)
    return image if new == image.size else image.resize(new, Image.BICUBIC)


def crop_centre(image, size: int):
    width, height = image.size
    left, top = int(round((width - size) / 2.0)), int(round((height - size) / 2.0))
    return image.crop((left, top, left + size, top + size))


def to_input(image, resize: int, crop: int, mean, std):
    """ToTensor + Normalize of the resized, cropped image: a (1, 3, crop, crop) float32 tensor."""
    import numpy as np
    import torch

    pixels = np.asarray(crop_centre(resize_shorter_side(image, resize), crop), dtype=np.float32) / 255.0
    pixels = (pixels - np.array(mean, np.float32)) / np.array(std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))[None]


def reference_worker(encoders: dict[str, str], device: str) -> int:
    import numpy as np
    import torch
    from PIL import Image
    from transformers import CLIPModel, ViTModel

    torch.set_num_threads(os.cpu_count() or 1)
    clip = CLIPModel.from_pretrained(encoders["clip"]).eval().to(device)
    dino = ViTModel.from_pretrained(encoders["dino"], add_pooling_layer=False).eval().to(device)

    def clip_features(x):  # OpenAI encode_image: final-norm CLS token, then the visual projection
        return clip.visual_projection(clip.vision_model(pixel_values=x).pooler_output)

    def dino_features(x):
        return dino(pixel_values=x).last_hidden_state[:, 0]

    def cosine(a, b) -> float:  # 1 - scipy.spatial.distance.cosine(a, b), in float64
        a, b = a.double().cpu().numpy().ravel(), b.double().cpu().numpy().ravel()
        return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))

    def eval_distance(files):
        scores = []
        for gen_path, gt_path in files:
            gen, gt = Image.open(gen_path).convert("RGB"), Image.open(gt_path).convert("RGB")
            gen = gen.resize(gt.size)  # MagicBrush: the PIL default filter (bicubic for RGB)
            a = np.asarray(gen, np.float32) / 255.0
            b = np.asarray(gt, np.float32) / 255.0
            scores.append(float(np.abs(a - b).mean()))
        return scores

    def eval_clip_i(files, features, resize, mean, std):
        scores = []
        for gen_path, gt_path in files:
            with torch.no_grad():
                fa = features(to_input(Image.open(gen_path).convert("RGB"), resize, 224, mean, std).to(device)).float()
                fb = features(to_input(Image.open(gt_path).convert("RGB"), resize, 224, mean, std).to(device)).float()
            scores.append(cosine(fa, fb))
        return scores

    def run(files) -> dict[str, Any]:
        files = [tuple(pair) for pair in files]
        sync(device)
        start = time.perf_counter()
        scores = {"l1": eval_distance(files),
                  "clip_i": eval_clip_i(files, clip_features, 224, CLIP_MEAN, CLIP_STD),
                  "dino": eval_clip_i(files, dino_features, 256, IMAGENET_MEAN, IMAGENET_STD)}
        sync(device)
        return {"seconds": time.perf_counter() - start, "scores": scores}

    return serve({"run": run})


def editlab_worker(encoders: dict[str, str], device: str, batch_size: int) -> int:
    import torch

    from editlab.io import load_image
    from editlab.io.pool import parallel_map
    from editlab.metrics import pixel, similarity
    from editlab.metrics.encoders import load_encoder

    torch.set_num_threads(os.cpu_count() or 1)
    clip = load_encoder("clip", encoders["clip"], device=device, batch_size=batch_size)
    dino = load_encoder("dino", encoders["dino"], device=device, batch_size=batch_size)

    def run(files) -> dict[str, Any]:
        sync(device)
        start = time.perf_counter()
        images = parallel_map(load_image, [path for pair in files for path in pair])  # each file decoded once
        gens, gts = images[0::2], images[1::2]
        scores = {"l1": pixel.l1(gens, gts).tolist(),
                  "clip_i": similarity.clip_image_similarity(gens, gts, encoder=clip).tolist(),
                  "dino": similarity.dino_similarity(gens, gts, encoder=dino).tolist()}
        sync(device)
        return {"seconds": time.perf_counter() - start, "scores": scores}

    return serve({"run": run})


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=None, help="image pairs (default 200; quick 16)")
    parser.add_argument("--size", type=int, default=None, help="image side (default 512 as MagicBrush; quick 256)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per side (at least 5)")
    parser.add_argument("--quick", action="store_true", help="16 pairs, 256 px, tiny encoders")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--encoders", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        encoders = json.loads(args.encoders)
        if args.worker == "reference":
            return reference_worker(encoders, args.device)
        return editlab_worker(encoders, args.device, args.batch_size)
    if args.repeats < 5:
        parser.error("--repeats must be at least 5")
    pairs = args.pairs or (16 if args.quick else 200)
    size = args.size or (256 if args.quick else 512)
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    device_name = torch.cuda.get_device_name(0) if device.startswith("cuda") else None

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    result = header("metrics_speed", argv, args.quick)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        encoders = build_encoders(folder, args.quick)
        files = make_pairs(pairs, size, folder)
        common = ["--device", device, "--batch-size", str(args.batch_size),
                  "--encoders", json.dumps({k: encoders[k] for k in ("clip", "dino")})]
        env = {"OMP_NUM_THREADS": str(os.cpu_count() or 1)}
        with Worker("reference", __file__, common, env) as ref, Worker("editlab", __file__, common, env) as ours:
            for worker in (ref, ours):
                worker.request("run", files=files[:4])  # warm-up: kernels, allocator, thread pools
            replies = interleave({"magicbrush_loop": lambda i: ref.request("run", files=files),
                                  "editlab_batched": lambda i: ours.request("run", files=files)},
                                 args.repeats, log=log)
            memory = {"magicbrush_loop": ref.request("memory"), "editlab_batched": ours.request("memory")}

    import numpy as np

    first = {name: rows[0]["scores"] for name, rows in replies.items()}
    max_diff = {k: float(np.max(np.abs(np.asarray(first["editlab_batched"][k]) - np.asarray(first["magicbrush_loop"][k]))))
                for k in ("l1", "clip_i", "dino")}
    sides = {name: {"seconds_per_pass": summary([r["seconds"] for r in rows]), **memory[name]}
             for name, rows in replies.items()}
    for side in sides.values():
        side["pairs_per_second_median"] = round(pairs / side["seconds_per_pass"]["median"], 2)
    speedup = ratio(sides["magicbrush_loop"]["seconds_per_pass"], sides["editlab_batched"]["seconds_per_pass"])
    met = speedup["median"] >= TARGETS["speedup"] and max(max_diff.values()) <= TARGETS["max_abs_difference"]
    result.update({
        "pairs": pairs, "image_size": size, "batch_size": args.batch_size, "repeats": args.repeats,
        "device": device, "device_name": device_name or result["machine"]["cpu_model"],
        "torch_threads": os.cpu_count(), "encoders": encoders["described"],
        "reference": "MagicBrush evaluation/image_eval.py loop (eval_distance l1, eval_clip_i for CLIP-I and DINO), "
                     "preprocessing written independently in PIL + numpy",
        "sides": sides, "speedup": speedup, "max_abs_difference": max_diff,
        "targets": {"speedup_at_least": TARGETS["speedup"], "max_abs_difference_at_most": TARGETS["max_abs_difference"]},
        "target_met": met,
    })
    finish(result)
    print("| side | s / pass (median, min-max) | pairs/s | peak RSS MB |\n|---|---|---|---|")
    for name, side in sides.items():
        s = side["seconds_per_pass"]
        print(f"| {name} | {s['median']:.2f} ({s['min']:.2f}-{s['max']:.2f}) | {side['pairs_per_second_median']} | "
              f"{side['peak_rss_mb']:.0f} |")
    print(f"\nspeed-up {speedup['median']}x (range {speedup['low']}-{speedup['high']}x) on {result['device_name']}, "
          f"{pairs} pairs of {size} px; max abs difference l1 {max_diff['l1']:.1e}, clip_i {max_diff['clip_i']:.1e}, "
          f"dino {max_diff['dino']:.1e}; targets (>= 3x, <= 1e-5) {'met' if met else 'MISSED'}")
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
