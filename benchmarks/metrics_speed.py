"""Speed of editlab's batched metrics vs pair-by-pair evaluation as MagicBrush's script does it.

Same N image pairs, same encoders (randomly initialised at real ViT-B/32-CLIP-like and
ViT-S/16-DINO-like input sizes, so no download is needed): editlab's batched `l1`,
`clip_image_similarity` and `dino_similarity` against a loop that, like MagicBrush's
evaluation script, opens each pair, preprocesses and encodes one image at a time and takes the
cosine. Prints a Markdown table and writes benchmarks/results/metrics_speed.json atomically.

    python benchmarks/metrics_speed.py            # 200 pairs
    python benchmarks/metrics_speed.py --quick    # 16 pairs, smaller encoders (smoke test)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

from editlab.bench.metrics import pixel, similarity  # noqa: E402
from editlab.bench.metrics.encoders import load_encoder  # noqa: E402
from editlab.io import load_image, write_json  # noqa: E402
from editlab.io.pool import parallel_map  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "metrics_speed.json"


def make_pairs(n: int, size: int, seed: int = 0) -> list[tuple[Image.Image, Image.Image]]:
    """Smooth random images (upsampled noise) and a perturbed copy: photo-like, not pure noise."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(n):
        base = Image.fromarray(rng.integers(0, 256, (size // 16, size // 16, 3), dtype=np.uint8)).resize((size, size), Image.BICUBIC)
        noise = rng.normal(0, 12, (size, size, 3))
        other = Image.fromarray(np.clip(np.asarray(base, np.float64) + noise, 0, 255).astype(np.uint8))
        pairs.append((other, base))
    return pairs


def build_encoders(folder: Path, quick: bool) -> tuple[str, str]:
    """CLIP (ViT-B/32 geometry, 224 px) and DINO ViT-S/16 (224 px), random weights, saved to `folder`."""
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer, ViTConfig, ViTModel

    torch.manual_seed(0)
    width, layers = (64, 2) if quick else (384, 6)
    clip = CLIPConfig(
        text_config=dict(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_hidden_layers=1, vocab_size=600,
                         max_position_embeddings=77, eos_token_id=0, bos_token_id=1, pad_token_id=0),
        vision_config=dict(hidden_size=width, intermediate_size=4 * width, num_attention_heads=width // 64 or 1,
                           num_hidden_layers=layers, image_size=224, patch_size=32),
        projection_dim=256,
    )
    CLIPModel(clip).eval().save_pretrained(folder / "clip")
    vocab = {"<|endoftext|>": 0, "<|startoftext|>": 1, **{chr(c) + "</w>": i + 2 for i, c in enumerate(range(97, 123))}}
    (folder / "clip" / "vocab.json").write_text(json.dumps(vocab))
    (folder / "clip" / "merges.txt").write_text("#version: 0.2\n")
    CLIPTokenizer(str(folder / "clip" / "vocab.json"), str(folder / "clip" / "merges.txt")).save_pretrained(folder / "clip")
    dino = ViTConfig(hidden_size=width, intermediate_size=4 * width, num_attention_heads=width // 64 or 1,
                     num_hidden_layers=layers, image_size=224, patch_size=16)
    ViTModel(dino, add_pooling_layer=False).eval().save_pretrained(folder / "dino")
    return str(folder / "clip"), str(folder / "dino")


def pair_by_pair(files: list[tuple[Path, Path]], clip, dino) -> dict[str, list[float]]:
    """MagicBrush's evaluation script: one pass per metric, each opening every pair again and
    encoding one image at a time (batch of 1), cosine per pair."""
    out: dict[str, list[float]] = {"l1": [], "clip_i": [], "dino": []}
    with torch.no_grad():
        for gen_path, gt_path in files:  # eval_distance(metric="l1")
            gen, gt = Image.open(gen_path).convert("RGB"), Image.open(gt_path).convert("RGB")
            a = torch.from_numpy(np.asarray(gen.resize(gt.size, Image.BICUBIC), np.float32) / 255)
            b = torch.from_numpy(np.asarray(gt, np.float32) / 255)
            out["l1"].append(torch.mean(torch.abs(a - b)).item())
        for name, enc in (("clip_i", clip), ("dino", dino)):  # eval_clip_i(metric="clip_i" / "dino")
            for gen_path, gt_path in files:
                gen, gt = Image.open(gen_path).convert("RGB"), Image.open(gt_path).convert("RGB")
                fa = enc._image_features(enc.preprocess([gen]).to(enc.device)).float()
                fb = enc._image_features(enc.preprocess([gt]).to(enc.device)).float()
                out[name].append(F.cosine_similarity(fa, fb).item())
    return out


def batched(files: list[tuple[Path, Path]], clip, dino) -> dict[str, list[float]]:
    # Each file decoded once, on the preprocessing thread pool (as the harness reads precomputed outputs).
    images = parallel_map(load_image, [path for pair in files for path in pair])
    gens, gts = images[0::2], images[1::2]
    return {
        "l1": pixel.l1(gens, gts).tolist(),
        "clip_i": similarity.clip_image_similarity(gens, gts, encoder=clip).tolist(),
        "dino": similarity.dino_similarity(gens, gts, encoder=dino).tolist(),
    }


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--size", type=int, default=512, help="image side (MagicBrush targets are 512x512)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="16 pairs, 256 px, small encoders")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    args = parser.parse_args(argv)
    if args.quick:
        args.pairs, args.size = 16, 256

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        clip_path, dino_path = build_encoders(tmp_path, args.quick)
        device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        clip = load_encoder("clip", clip_path, device=device, batch_size=args.batch_size)
        dino = load_encoder("dino", dino_path, device=device, batch_size=args.batch_size)
        files = []
        for index, (gen, gt) in enumerate(make_pairs(args.pairs, args.size)):
            files.append((tmp_path / f"{index}_gen.png", tmp_path / f"{index}_gt.png"))
            gen.save(files[-1][0])
            gt.save(files[-1][1])
        batched(files[:4], clip, dino)  # warm-up both paths (allocator, kernels)
        pair_by_pair(files[:2], clip, dino)

        start = time.perf_counter()
        reference = pair_by_pair(files, clip, dino)
        _sync(device)
        reference_s = time.perf_counter() - start
        start = time.perf_counter()
        ours = batched(files, clip, dino)
        _sync(device)
        ours_s = time.perf_counter() - start

    max_diff = {k: float(np.max(np.abs(np.asarray(ours[k]) - np.asarray(reference[k])))) for k in ours}
    result = {
        "benchmark": "metrics_speed",
        "pairs": args.pairs, "image_size": args.size, "batch_size": args.batch_size, "quick": args.quick,
        "metrics": ["l1", "clip_i", "dino"],
        "encoders": {"clip": "random CLIP, ViT-B/32 geometry at 224 px" if not args.quick else "tiny random CLIP",
                     "dino": "random ViT at 224 px, patch 16 (DINO ViT-S/16 geometry)" if not args.quick else "tiny random ViT"},
        "device": device, "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
        "python": sys.version.split()[0], "torch": torch.__version__,
        "pair_by_pair": {"seconds": reference_s, "pairs_per_second": args.pairs / reference_s},
        "editlab_batched": {"seconds": ours_s, "pairs_per_second": args.pairs / ours_s},
        "speedup": reference_s / ours_s,
        "max_abs_difference": max_diff,
        "targets": {"speedup": ">= 3x", "max_abs_difference": "<= 1e-5"},
        "meets_targets": reference_s / ours_s >= 3 and max(max_diff.values()) <= 1e-5,
    }
    print("| method | pairs/s | seconds | max abs diff (l1 / clip_i / dino) |")
    print("|---|---|---|---|")
    print(f"| pair by pair (MagicBrush script) | {result['pair_by_pair']['pairs_per_second']:.2f} | {reference_s:.2f} | - |")
    print(f"| editlab batched | {result['editlab_batched']['pairs_per_second']:.2f} | {ours_s:.2f} | "
          f"{max_diff['l1']:.1e} / {max_diff['clip_i']:.1e} / {max_diff['dino']:.1e} |")
    print(f"\nspeedup {result['speedup']:.2f}x on {device} ({torch.get_num_threads()} threads), "
          f"{args.pairs} pairs of {args.size}px; targets met: {result['meets_targets']}")
    write_json(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
