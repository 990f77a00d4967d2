"""Model out: a standard diffusers StableDiffusionInstructPix2PixPipeline folder plus a model card.

The folder (safetensors weights, fp16 by default to halve the size) loads in plain diffusers
without editlab: `StableDiffusionInstructPix2PixPipeline.from_pretrained(folder)`. The model card
(README.md) records the training config, the data, the metrics and the loss curve (inline SVG).
A model with a mask channel loads in diffusers too but needs editlab's pipeline to be run.
"""

from __future__ import annotations

import copy
import html
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

from editlab.errors import EditlabError, require
from editlab.pipelines.model_defaults import OWN_SCHEDULER, write_model_defaults

#: name -> diffusers scheduler class used for inference in the exported folder
INFERENCE_SCHEDULERS = {
    "euler_ancestral": "EulerAncestralDiscreteScheduler",
    "euler": "EulerDiscreteScheduler",
    "dpmsolver": "DPMSolverMultistepScheduler",
    "ddim": "DDIMScheduler",
    "ddpm": "DDPMScheduler",
    "unipc": "UniPCMultistepScheduler",
}
BENCHMARK_BEGIN = "<!-- editlab:benchmark:begin -->"
BENCHMARK_END = "<!-- editlab:benchmark:end -->"


def inference_scheduler(name: str, noise_scheduler: Any) -> Any:
    diffusers = require("diffusers", "train")
    if name not in INFERENCE_SCHEDULERS:
        raise EditlabError(f"unknown inference_scheduler {name!r}; choose one of {', '.join(INFERENCE_SCHEDULERS)}")
    return getattr(diffusers, INFERENCE_SCHEDULERS[name]).from_config(noise_scheduler.config)


def build_pipeline(unet, vae, text_encoder, tokenizer, noise_scheduler, *, scheduler_name: str = "euler_ancestral"):
    diffusers = require("diffusers", "train")
    pipeline = diffusers.StableDiffusionInstructPix2PixPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
        scheduler=inference_scheduler(scheduler_name, noise_scheduler),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def export_model(pipeline: Any, folder: str | Path, *, config: Any, history: list[dict[str, Any]],
                 final_eval: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write `pipeline` as a diffusers folder + README.md model card, atomically (temp folder + rename)."""
    torch = require("torch", "train")
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[config.export_dtype]
    pipeline = copy.deepcopy(pipeline).to(dtype=dtype)
    # transformers >= 5 loads weights in their saved dtype while diffusers loads fp32: a half text
    # encoder would feed half embeddings to a float UNet. The text encoder is small; keep it fp32.
    pipeline.text_encoder.to(torch.float32)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        pipeline.save_pretrained(tmp, safe_serialization=True)
        _portable_tokenizer_class(tmp)
        (tmp / "editlab_training.json").write_text(json.dumps(
            {"config": config.to_dict(), "final_eval": final_eval, "extra": extra or {}}, indent=2, default=str))
        write_model_defaults(tmp, scheduler=OWN_SCHEDULER, num_inference_steps=config.inference_steps,
                             guidance_scale=config.guidance_scale, image_guidance_scale=config.image_guidance_scale,
                             why=f"the settings this model was evaluated with ({config.inference_scheduler} sampler, "
                                 f"{config.prediction_type or 'epsilon'} prediction)")
        (tmp / "README.md").write_text(model_card(config, history, final_eval, extra or {}, pipeline), encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def _portable_tokenizer_class(folder: Path) -> None:
    """Name a fast tokenizer `PreTrainedTokenizerFast` (transformers 4 and 5), not v5's `TokenizersBackend`."""
    index_path, config_path = folder / "model_index.json", folder / "tokenizer" / "tokenizer_config.json"
    index = json.loads(index_path.read_text())
    if index.get("tokenizer", [None, None])[1] == "TokenizersBackend":
        index["tokenizer"] = ["transformers", "PreTrainedTokenizerFast"]
        index_path.write_text(json.dumps(index, indent=2) + "\n")
        if config_path.exists():
            tok_config = json.loads(config_path.read_text())
            tok_config["tokenizer_class"] = "PreTrainedTokenizerFast"
            config_path.write_text(json.dumps(tok_config, indent=2) + "\n")


def folder_size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file()) / 2**20


def loss_curve_svg(history: list[dict[str, Any]], width: int = 560, height: int = 200) -> str:
    """An inline SVG of the training loss (smoothed) against the step."""
    points = [(r["step"], r["loss"]) for r in history if "loss" in r]
    if len(points) < 2:
        return "<p>(too few steps for a curve)</p>"
    window = max(1, len(points) // 50)
    smooth = []
    for i in range(len(points)):
        chunk = points[max(0, i - window + 1): i + 1]
        smooth.append((points[i][0], sum(v for _, v in chunk) / len(chunk)))
    x0, x1 = smooth[0][0], smooth[-1][0]
    y0, y1 = min(v for _, v in smooth), max(v for _, v in smooth)
    pad = 30

    def xy(step: float, value: float) -> str:
        x = pad + (step - x0) / max(1e-9, x1 - x0) * (width - 2 * pad)
        y = height - pad - (value - y0) / max(1e-9, y1 - y0) * (height - 2 * pad)
        return f"{x:.1f},{y:.1f}"

    stride = max(1, len(smooth) // 400)
    poly = " ".join(xy(s, v) for s, v in smooth[::stride] + [smooth[-1]])
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="training loss">'
        f'<rect width="100%" height="100%" fill="white"/>'
        f'<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{poly}"/>'
        f'<text x="{pad}" y="16" font-size="12">loss {y1:.4f} → {smooth[-1][1]:.4f} (steps {x0}–{x1})</text>'
        f'<text x="{pad}" y="{height - 8}" font-size="11">step</text></svg>'
    )


def _eval_table(final_eval: dict[str, Any] | None) -> str:
    if not final_eval:
        return "No evaluation during training (see the benchmark section)."
    rows = ["| task | oracle success |", "|---|---|"]
    rows += [f"| {task} | {value:.1%} |" for task, value in sorted(final_eval.get("per_task", {}).items())]
    rows.append(f"| **all** | **{final_eval.get('success', 0):.1%}** |")
    return "\n".join(rows)


def model_card(config: Any, history: list[dict[str, Any]], final_eval: dict[str, Any] | None,
               extra: dict[str, Any], pipeline: Any) -> str:
    params = {name: sum(p.numel() for p in getattr(pipeline, name).parameters())
              for name in ("unet", "vae", "text_encoder")}
    steps = max((r.get("step", 0) for r in history), default=0)
    seconds = max((r.get("seconds", 0) for r in history if "seconds" in r), default=0)
    evals = [r for r in history if "eval" in r]
    eval_curve = "\n".join(f"| {r['step']} | {r['eval']['success']:.1%} |" for r in evals)
    front = {"library_name": "diffusers", "pipeline_tag": "image-to-image", "license": "apache-2.0",
             "tags": ["instruct-pix2pix", "image-editing", "editlab"]}
    cfg_yaml = yaml.safe_dump(config.to_dict(), sort_keys=False)
    return f"""---
{yaml.safe_dump(front, sort_keys=False).strip()}
---

# {html.escape(Path(str(config.export_dir or config.output_dir)).name)}: an InstructPix2Pix model trained with editlab

Trained with `editlab train` ({config.model}) on {', '.join(config.data)} ({extra.get('examples', '?')} examples),
{steps} steps of batch {config.batch_size} x {config.gradient_accumulation_steps} accumulation x
{extra.get('num_processes', 1)} processes, {seconds / 60:.1f} minutes of diffusion training
({extra.get('wall_minutes', '?')} minutes wall-clock for the whole run{', stopped by its time budget' if extra.get('stopped_early_by_time_budget') else ''}),
mixed precision {extra.get('mixed_precision')}.
Parameters: UNet {params['unet']:,}, VAE {params['vae']:,}, text encoder {params['text_encoder']:,}.

## Use

```python
from diffusers import StableDiffusionInstructPix2PixPipeline
pipe = StableDiffusionInstructPix2PixPipeline.from_pretrained("path/to/this/folder")
edited = pipe("make the red circle blue", image=image, num_inference_steps={config.inference_steps},
              guidance_scale={config.guidance_scale}, image_guidance_scale={config.image_guidance_scale}).images[0]
```

or with editlab (which reads the recommended settings from `editlab_inference.json`):
`editlab edit in.png "make the red circle blue" -o out.png --model path/to/this/folder`.

## Recipe

InstructPix2Pix (Brooks et al.): source-image latent (VAE posterior mode, unscaled) concatenated to the
noisy latent; conditioning dropout {config.conditioning_dropout:.0%} text / {config.conditioning_dropout:.0%} image /
{config.conditioning_dropout:.0%} both from one uniform draw (null text = empty-string embedding, null
image = zeros), so both classifier-free guidance scales work at inference. EMA
{'on (decay ' + str(config.ema_decay) + ')' if config.use_ema else 'off'}; learning rate {config.learning_rate}
({config.lr_schedule}, {config.lr_warmup_steps} warm-up steps); prediction type
{pipeline.scheduler.config.prediction_type}; UNet init {config.unet_init}; timestep bias power
{config.timestep_bias_power}. VAE stage: {json.dumps(extra.get('vae') or {})}.

## Metrics

Oracle evaluation at the end of training ({config.eval_examples} held-out toyworld cases):

{_eval_table(final_eval)}

{('| step | success |' + chr(10) + '|---|---|' + chr(10) + eval_curve) if evals else ''}

{BENCHMARK_BEGIN}
Benchmark numbers are written here by `benchmarks/toyworld_model.py`.
{BENCHMARK_END}

## Training loss

{loss_curve_svg(history)}

## Training config

```yaml
{cfg_yaml}```
"""


def update_model_card_section(folder: str | Path, markdown: str) -> None:
    """Replace the benchmark section of `<folder>/README.md` (between the editlab markers)."""
    from editlab.io.atomic import write_text

    card_path = Path(folder) / "README.md"
    card = card_path.read_text(encoding="utf-8")
    if BENCHMARK_BEGIN not in card or BENCHMARK_END not in card:
        card += f"\n{BENCHMARK_BEGIN}\n{BENCHMARK_END}\n"
    head, _, rest = card.partition(BENCHMARK_BEGIN)
    _, _, tail = rest.partition(BENCHMARK_END)
    write_text(card_path, f"{head}{BENCHMARK_BEGIN}\n{markdown.strip()}\n{BENCHMARK_END}{tail}")
