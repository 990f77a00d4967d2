"""Oracle evaluation of the shipped toyworld model (or any toyworld-editor or IP2P model folder) on held-out cases.

    python benchmarks/toyworld_model.py              # 20 cases per task + 150 held-out phrasings + 30 episodes
    python benchmarks/toyworld_model.py --quick      # a smoke-test size
    python benchmarks/toyworld_model.py --model runs/toyworld-editor/model --no-card
    python benchmarks/toyworld_model.py --model src/editlab/assets/toyworld-model --out benchmarks/results/toyworld_ip2p_model.json

Suites (all unseen scenes, fixed seeds):
- single-turn: toyworld `test` split (training phrasings), every task;
- held-out phrasings: toyworld `heldout` split (paraphrase families never seen in training);
- multi-turn episodes (memory / understanding / backtracking) played through
  `editlab.session.EditSession`: check out the version the turn edits, edit it with the turn's
  instruction as spoken (pronouns and all), score every turn with the oracle.
Reference in the same run: the identity editor (returns the input) on the same single-turn cases.

Writes benchmarks/results/toyworld_model.json, prints a Markdown table, and (unless --no-card)
rewrites the benchmark section of the model's README.md model card.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "src"))

DEFAULT_MODEL = REPO / "src" / "editlab" / "assets" / "toyworld-editor"
TARGETS = {"single_turn_success": 0.90, "min_task_success": 0.70, "heldout_success": 0.80,
           "preservation": 4.5, "episode_success": 0.70}
SEED = 20260

from editlab.editors.base import Editor  # noqa: E402  (light: PIL only)


class DiffusersEditor(Editor):
    """Plain diffusers StableDiffusionInstructPix2PixPipeline behind editlab's Editor interface."""

    name = "diffusers-ip2p"

    def __init__(self, folder: Path, steps: int, guidance_scale: float, image_guidance_scale: float,
                 batch_size: int = 16):
        import torch
        from diffusers import StableDiffusionInstructPix2PixPipeline

        self.pipeline = StableDiffusionInstructPix2PixPipeline.from_pretrained(folder, dtype=torch.float32)
        self.pipeline.set_progress_bar_config(disable=True)
        self.folder, self.steps, self.batch_size = folder, steps, batch_size
        self.guidance_scale, self.image_guidance_scale = guidance_scale, image_guidance_scale

    def edit_batch(self, requests):
        import torch

        outputs = []
        for start in range(0, len(requests), self.batch_size):
            chunk = requests[start: start + self.batch_size]
            generators = [torch.Generator().manual_seed(int(r.seed or 0)) for r in chunk]
            with torch.no_grad():
                images = self.pipeline(
                    prompt=[r.instruction for r in chunk], image=[r.image.convert("RGB") for r in chunk],
                    num_inference_steps=int(chunk[0].params.get("num_inference_steps", self.steps)),
                    guidance_scale=float(chunk[0].params.get("guidance_scale", self.guidance_scale)),
                    image_guidance_scale=float(chunk[0].params.get("image_guidance_scale", self.image_guidance_scale)),
                    generator=generators,
                ).images
            outputs.extend(image.resize(r.image.size) if image.size != r.image.size else image
                           for image, r in zip(images, chunk, strict=True))
        return outputs

    def describe(self):
        return {"editor": self.name, "model": str(self.folder), "steps": self.steps,
                "guidance_scale": self.guidance_scale, "image_guidance_scale": self.image_guidance_scale}


def score_cases(oracle, examples, outputs) -> dict:
    from editlab.train.evaluate import score  # the trainer's evaluation: one definition of success

    return score(oracle, examples, outputs)


def run_single_turn(editor, oracle, examples) -> tuple[dict, float]:
    from editlab.types import EditRequest

    requests = [EditRequest(image=e.source, instruction=e.instruction, seed=SEED + i) for i, e in enumerate(examples)]
    start = time.perf_counter()
    outputs = editor.edit_batch(requests)
    seconds = time.perf_counter() - start
    return score_cases(oracle, examples, outputs), seconds


def run_episodes(editor, oracle, episodes) -> dict:
    from editlab.session import EditSession
    from editlab.toyworld.episodes import score_episode
    from editlab.toyworld.play import play_episode

    by_kind, results = defaultdict(list), []
    with tempfile.TemporaryDirectory() as tmp:
        for k, episode in enumerate(episodes):
            session = EditSession.create(Path(tmp) / f"ep{k}", episode.turns[0].source, editor=editor, seed=SEED + k)
            outputs = play_episode(episode, session)
            result = score_episode(episode, outputs, oracle)
            results.append(result)
            by_kind[episode.kind].append(result["success"])
    turns = [turn["success"] for r in results for turn in r["turns"]]
    return {"n": len(episodes), "success": sum(r["success"] for r in results) / max(1, len(results)),
            "turn_success": sum(turns) / max(1, len(turns)),
            "per_kind": {kind: sum(v) / len(v) for kind, v in sorted(by_kind.items())}}


def one_edit_latency(editor, example, repeats: int = 20) -> float:
    """Median seconds of one single-picture edit (what a user waits for at the command line, model loaded)."""
    import statistics

    from editlab.types import EditRequest

    request = EditRequest(image=example.source, instruction=example.instruction, seed=SEED)
    editor.edit_batch([request])  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        editor.edit_batch([request])
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def targets_report(result: dict) -> dict:
    single, heldout, episodes = result["single_turn"], result["heldout"], result.get("episodes")
    measured = {
        "single_turn_success": single["success"],
        "min_task_success": min(single["per_task"].values()) if single["per_task"] else 0.0,
        "heldout_success": heldout["success"],
        "preservation": single["preservation"],
        "episode_success": episodes["success"] if episodes else None,
    }
    return {name: {"target": TARGETS[name], "measured": value,
                   "met": value is not None and value >= TARGETS[name],
                   "gap": None if value is None else round(TARGETS[name] - value, 4)}
            for name, value in measured.items()}


def markdown(result: dict) -> str:
    single, identity = result["single_turn"], result["identity_reference"]
    settings = result["settings"]
    how = ("one forward pass, no guidance" if settings["guidance_scale"] is None else
           f"{settings['num_inference_steps']} steps, text/image guidance {settings['guidance_scale']}/"
           f"{settings['image_guidance_scale']}")
    lines = [f"Oracle evaluation (`benchmarks/toyworld_model.py`, {result['timestamp']}, {how}):", "",
             "| target | goal | measured | met |", "|---|---|---|---|"]
    for name, t in result["targets"].items():
        value = "n/a" if t["measured"] is None else (f"{t['measured']:.2f}" if name == "preservation" else f"{t['measured']:.1%}")
        goal = f"{t['target']}" if name == "preservation" else f"{t['target']:.0%}"
        lines.append(f"| {name.replace('_', ' ')} | ≥ {goal} | {value} | {'yes' if t['met'] else 'no'} |")
    lines += ["", "| task | model success | identity (reference) |", "|---|---|---|"]
    for task, value in single["per_task"].items():
        lines.append(f"| {task} | {value:.1%} | {identity['per_task'].get(task, 0):.1%} |")
    lines.append(f"| **all ({single['n']} cases)** | **{single['success']:.1%}** | {identity['success']:.1%} |")
    lines += ["", f"Held-out phrasings: {result['heldout']['success']:.1%} ({result['heldout']['n']} cases). "
              f"Scores 1-5 (single-turn): adherence {single['adherence']:.2f}, quality {single['quality']:.2f}, "
              f"preservation {single['preservation']:.2f}."]
    if result.get("episodes"):
        ep = result["episodes"]
        lines.append(f"Multi-turn episodes through EditSession: {ep['success']:.1%} of {ep['n']} episodes "
                     f"({', '.join(f'{k} {v:.0%}' for k, v in ep['per_kind'].items())}); turns {ep['turn_success']:.1%}.")
    return "\n".join(lines)


def main() -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--per-task", type=int, default=20)
    parser.add_argument("--heldout", type=int, default=150)
    parser.add_argument("--episodes", type=int, default=30)
    parser.add_argument("--steps", type=int, default=None, help="sampling steps (default: the model card's)")
    parser.add_argument("--guidance-scale", type=float, default=None)
    parser.add_argument("--image-guidance-scale", type=float, default=None)
    parser.add_argument("--no-card", action="store_true", help="do not update the model card")
    parser.add_argument("--out", default=str(HERE / "results" / "toyworld_model.json"))
    args = parser.parse_args()
    folder = Path(args.model)
    if not (folder / "model_index.json").is_file():
        print(f"no model at {folder}; train it with: editlab train --config configs/train/toyworld-editor.yaml",
              file=sys.stderr)
        return 2
    if args.quick:
        args.per_task, args.heldout, args.episodes = 2, 15, 3

    import json

    from editlab import toyworld
    from editlab.editors.base import IdentityEditor
    from editlab.io.atomic import write_json

    training = json.loads((folder / "editlab_training.json").read_text()) if (folder / "editlab_training.json").exists() else {}
    cfg = training.get("config", {})
    steps = args.steps or cfg.get("inference_steps", 20)
    guidance = args.guidance_scale if args.guidance_scale is not None else cfg.get("guidance_scale", 7.5)
    image_guidance = args.image_guidance_scale if args.image_guidance_scale is not None else cfg.get("image_guidance_scale", 1.5)
    oracle = toyworld.Oracle()
    from editlab.pipelines.toyworld_editor import is_toyworld_editor_folder

    one_step = is_toyworld_editor_folder(folder)
    if one_step:  # the one-step composite editor: no sampler, no guidance
        from editlab.editors.toyworld_editor import ToyworldEditor

        editor, steps, guidance, image_guidance = ToyworldEditor(str(folder)), 1, None, None
    else:
        editor = DiffusersEditor(folder, steps, guidance, image_guidance)

    single_cases = [toyworld.generate_example(SEED, split="test", task=task, index=i)
                    for task in toyworld.TOYWORLD_TASKS for i in range(args.per_task)]
    heldout_cases = list(toyworld.generate_examples(args.heldout, seed=SEED, split="heldout"))
    start = time.perf_counter()
    single, single_seconds = run_single_turn(editor, oracle, single_cases)
    identity, _ = run_single_turn(IdentityEditor(), oracle, single_cases)
    heldout, _ = run_single_turn(editor, oracle, heldout_cases)
    episodes_list = [toyworld.generate_episode(SEED, split="test", index=i) for i in range(args.episodes)]
    try:
        episodes = run_episodes(editor, oracle, episodes_list) if args.episodes else None
    except ImportError as exc:  # the session package is not there
        print(f"episodes skipped: {exc}", file=sys.stderr)
        episodes = None
    result = {
        "benchmark": "toyworld_model", "model": str(folder), "quick": args.quick,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": {"num_inference_steps": steps, "guidance_scale": guidance, "image_guidance_scale": image_guidance,
                     "seed": SEED, "scheduler": "none (one forward pass)" if one_step
                     else type(editor.pipeline.scheduler).__name__},
        "single_turn": single, "identity_reference": identity, "heldout": heldout, "episodes": episodes,
        "seconds": {"total": time.perf_counter() - start, "single_turn_per_image": single_seconds / max(1, single["n"]),
                    "latency_one_edit": one_edit_latency(editor, single_cases[0])},
        "model_megabytes": round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6, 2),
        "training": ({k: training.get(k) for k in ("training_minutes", "steps", "samples")} if one_step else
                     {k: training.get("extra", {}).get(k) for k in ("wall_minutes", "stopped_early_by_time_budget", "vae")}),
    }
    result["targets"] = targets_report(result)
    table = markdown(result)
    print(table)
    write_json(args.out, result)
    if not args.no_card and (folder / "README.md").exists():
        from editlab.train.export import update_model_card_section

        update_model_card_section(folder, table)
        print(f"updated {folder / 'README.md'}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
