"""Training the toyworld editor (`editlab.models.ToyworldEditorModel`): supervised, one step, CPU-sized.

    editlab train --config configs/train/toyworld-editor.yaml
    editlab train --config configs/train/toyworld-editor.yaml --resume

A toyworld edit has one right answer, so each step is plain supervised learning on a pool of
pre-generated examples (`train.toyworld_pool`, generated once and cached, its time not counted):

- **composite loss**: L1 between `(1 - m) * op(source) + m * c` and the target, with the
  changed pixels weighted up (`changed_weight`), where `op` is the example's true picture
  operation (teacher forcing: the operation head learns from its own loss);
- **mask loss**: binary cross-entropy of `m` against the exact change mask;
- **content loss**: L1 of `c` on the changed pixels alone (a direct signal for what to paint);
- **operation loss**: cross-entropy of the operation head against the example's operation;
- **centre loss**: L1 of the predicted zoom centre on zoom examples;
- **Dice loss** on the mask (changed pixels are few: BCE alone under-weights them);
- **referent loss**: cross-entropy of the pointing heatmap against the cell where the edit acts
  (the referred object, the named region; `toyworld_pool.referent_of`).

Word dropout (`word_dropout`) replaces random words by <unk> so the model learns to read past
words it does not know; at inference words never seen in training are read as <unk>.

The run is capped by wall-clock time (`time_budget_minutes`, evaluation included); the learning
rate follows a cosine over that budget. Checkpoints (safetensors + optimizer state + step and
elapsed time) are written atomically every `checkpoint_every_minutes`; `--resume` continues
from the latest. Every `eval_every_minutes` the EMA weights are scored by the toyworld oracle on
fixed held-out cases and the curve goes to `metrics.jsonl`. At the end the EMA weights are
exported as a `ToyworldEditorPipeline` folder.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from editlab.errors import EditlabError
from editlab.io.atomic import write_json
from editlab.pipelines.toyworld_editor import encode_instructions

ARCHITECTURE = "toyworld-editor"


@dataclass
class ToyworldEditorTrainConfig:
    architecture: str = ARCHITECTURE
    output_dir: str = "runs/toyworld-editor"
    export_dir: str | None = None
    resume: bool = False
    # start from a trained toyworld editor (a folder, or "toyworld" for the shipped one) instead of random weights
    init_from: str | None = None
    seed: int = 0
    # data: the pre-generated pool
    pool_size: int = 300_000
    pool_seed: int = 0
    pool_workers: int = 2
    cache_dir: str | None = None
    max_tokens: int = 40
    word_dropout: float = 0.1
    task_weights: dict[str, float] = field(default_factory=dict)
    # model
    channels: int = 64
    deep_channels: int = 128
    text_dim: int = 128
    text_layers: int = 2
    refine_channels: int = 16
    head_channels: int = 192
    # optimisation
    batch_size: int = 64
    learning_rate: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 200
    min_lr_ratio: float = 0.05
    max_grad_norm: float = 1.0
    ema_decay: float = 0.998
    time_budget_minutes: float = 58.0
    max_steps: int = 0
    threads: int = 0
    # losses
    changed_weight: float = 4.0
    mask_weight: float = 1.0
    content_weight: float = 1.0
    op_weight: float = 0.5
    center_weight: float = 2.0
    referent_weight: float = 0.5
    dice_weight: float = 1.0
    # outputs
    log_every: int = 50
    eval_every_minutes: float = 6.0
    eval_examples: int = 150
    checkpoint_every_minutes: float = 5.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> ToyworldEditorTrainConfig:
        if self.architecture != ARCHITECTURE:
            raise EditlabError(f"config architecture: expected {ARCHITECTURE!r}, got {self.architecture!r}")
        positive = ("pool_size", "batch_size", "learning_rate", "time_budget_minutes", "max_tokens", "channels")
        for name in positive:
            if getattr(self, name) <= 0:
                raise EditlabError(f"config {name}: must be > 0, got {getattr(self, name)}")
        if not 0 <= self.word_dropout < 1:
            raise EditlabError(f"config word_dropout: must be in [0, 1), got {self.word_dropout}")
        from editlab.toyworld import TOYWORLD_TASKS

        unknown = sorted(set(self.task_weights) - set(TOYWORLD_TASKS))
        if unknown:
            raise EditlabError(f"config task_weights: unknown tasks {unknown}; choose from {', '.join(TOYWORLD_TASKS)}")
        return self


# ------------------------------------------------------------------------------------------ helpers


def build_tokenizer(max_tokens: int):
    from editlab.models.tokenizer import build_word_tokenizer
    from editlab.toyworld import vocabulary

    return build_word_tokenizer(vocabulary(), model_max_length=max_tokens)


def build_model(config: ToyworldEditorTrainConfig, tokenizer: Any, known_token_ids: list[int]) -> Any:
    """A fresh model for `config`: sized by the config, vocabulary from the tokenizer, words seen in the pool."""
    from editlab.models.toyworld_editor import ToyworldEditorModel

    return ToyworldEditorModel(
        vocab_size=len(tokenizer), max_tokens=config.max_tokens, pad_token_id=tokenizer.pad_token_id,
        unk_token_id=tokenizer.unk_token_id, text_dim=config.text_dim, text_layers=config.text_layers,
        channels=config.channels, deep_channels=config.deep_channels,
        refine_channels=config.refine_channels, head_channels=config.head_channels,
        known_token_ids=known_token_ids,
    )


def _init_folder(spec: str) -> Path:
    """The folder `init_from` names: "toyworld" is the shipped editor."""
    from editlab.pipelines.resolve import TOYWORLD, toyworld_model_path

    return toyworld_model_path() if spec == TOYWORLD else Path(spec)


def _lr_factor(config: ToyworldEditorTrainConfig, step: int, progress: float) -> float:
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return config.min_lr_ratio + (1 - config.min_lr_ratio) * cosine


def _batch_indices(config: ToyworldEditorTrainConfig, step: int, weights: np.ndarray | None, n: int) -> np.ndarray:
    """The examples of step `step`: a pure function of (seed, step), so a resumed run sees the same batches."""
    rng = np.random.default_rng([config.seed, step])
    if weights is None:
        return rng.integers(0, n, config.batch_size)
    return rng.choice(n, size=config.batch_size, p=weights)


def _example_weights(config: ToyworldEditorTrainConfig, pool: Any) -> np.ndarray | None:
    if not config.task_weights:
        return None
    per_task = np.array([config.task_weights.get(t, 1.0) for t in pool.tasks], dtype=np.float64)
    w = per_task[pool.task]
    return w / w.sum()


def losses(model: Any, batch: dict[str, Any], config: ToyworldEditorTrainConfig) -> dict[str, Any]:
    """Every loss term of one batch (see the module docstring) and their weighted sum."""
    import torch
    import torch.nn.functional as F

    from editlab.models.toyworld_editor import GLOBAL_OPS, ZOOM, apply_global_op

    source, target, mask = batch["source"], batch["target"], batch["mask"]
    out = model(source, batch["input_ids"])
    base = apply_global_op(source, batch["global_op"], batch["center"])
    m = torch.sigmoid(out["mask_logits"])
    composite = (1 - m) * base + m * out["content"]
    weight = 1 + config.changed_weight * mask
    terms = {
        "composite": ((composite - target).abs() * weight).mean() / weight.mean(),
        "mask": F.binary_cross_entropy_with_logits(out["mask_logits"], mask),
        "content": ((out["content"] - target).abs() * mask).sum() / (3 * mask.sum()).clamp(min=1),
        "op": F.cross_entropy(out["op_logits"], batch["global_op"]),
    }
    # soft Dice on the mask: BCE alone is dominated by the many unchanged pixels
    has_change = mask.flatten(1).sum(1) > 0
    if bool(has_change.any()):
        p, t = m.flatten(1)[has_change], mask.flatten(1)[has_change]
        terms["dice"] = (1 - (2 * (p * t).sum(1) + 1) / (p.sum(1) + t.sum(1) + 1)).mean()
    else:
        terms["dice"] = source.new_zeros(())
    referent = batch["referent"]
    if bool((referent[:, 2] > 0).any()):
        pick = referent[:, 2] > 0
        cells = out["referent_logits"].shape[1]
        side = int(round(cells ** 0.5))
        col = (referent[pick, 0] * side).long().clamp(0, side - 1)
        row = (referent[pick, 1] * side).long().clamp(0, side - 1)
        terms["referent"] = F.cross_entropy(out["referent_logits"][pick], row * side + col)
    else:
        terms["referent"] = source.new_zeros(())
    is_zoom = batch["global_op"] == GLOBAL_OPS.index("zoom")
    if bool(is_zoom.any()):
        lo, hi = 0.5 / ZOOM, 1 - 0.5 / ZOOM
        terms["center"] = (out["center"][is_zoom].clamp(lo, hi) - batch["center"][is_zoom]).abs().mean()
    else:
        terms["center"] = source.new_zeros(())
    total = (terms["composite"] + config.mask_weight * terms["mask"] + config.content_weight * terms["content"]
             + config.op_weight * terms["op"] + config.center_weight * terms["center"]
             + config.dice_weight * terms["dice"] + config.referent_weight * terms["referent"])
    return {"loss": total, **terms}


class Batches:
    """Tensors of pool examples by index, with word dropout on the instructions."""

    def __init__(self, pool: Any, ids: np.ndarray, unk_id: int, special_ids: set[int]):
        self.pool, self.ids, self.unk_id = pool, ids, unk_id
        self.special = np.array(sorted(special_ids))

    def get(self, index: np.ndarray, *, word_dropout: float = 0.0, rng: np.random.Generator | None = None) -> dict:
        import torch

        index = np.sort(index)  # memory-mapped reads in order
        ids = self.ids[index].copy()
        if word_dropout > 0 and rng is not None:
            drop = (rng.random(ids.shape) < word_dropout) & ~np.isin(ids, self.special)
            ids[drop] = self.unk_id
        to_float = lambda a: torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).float().div_(255)  # noqa: E731
        return {
            "source": to_float(self.pool.source[index]),
            "target": to_float(self.pool.target[index]),
            "mask": torch.from_numpy(np.ascontiguousarray(self.pool.mask[index])).float().unsqueeze(1),
            "input_ids": torch.from_numpy(ids),
            "global_op": torch.from_numpy(self.pool.global_op[index]),
            "center": torch.from_numpy(self.pool.zoom_center[index]),
            "referent": torch.from_numpy(self.pool.referent[index]),
        }


# ------------------------------------------------------------------------------------------ trainer


class ToyworldEditorTrainer:
    def __init__(self, config: ToyworldEditorTrainConfig, log: Any = print):
        self.config = config.validate()
        self.out = Path(config.output_dir)
        self.log = log

    # -- checkpoints
    def checkpoints(self) -> list[Path]:
        return sorted((self.out / "checkpoints").glob("step-*"))

    def save_checkpoint(self, model, ema, optimizer, step: int, elapsed: float) -> None:
        import torch
        from safetensors.torch import save_file

        final = self.out / "checkpoints" / f"step-{step:08d}"
        if final.is_dir():  # this step is already saved (the end of a run right after a periodic save)
            return
        tmp = final.with_name(final.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp / "model.safetensors")
        save_file({k: v.contiguous() for k, v in ema.state_dict().items()}, tmp / "ema.safetensors")
        ema.save_config(tmp)  # config.json: the architecture and the vocabulary seen, for --export-only
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        (tmp / "state.json").write_text(json.dumps({"step": step, "elapsed_seconds": elapsed}))
        tmp.rename(final)
        for old in self.checkpoints()[:-2]:
            shutil.rmtree(old, ignore_errors=True)

    def load_checkpoint(self, model, ema, optimizer) -> tuple[int, float]:
        import torch
        from safetensors.torch import load_file

        latest = self.checkpoints()[-1]
        model.load_state_dict(load_file(latest / "model.safetensors"))
        ema.load_state_dict(load_file(latest / "ema.safetensors"))
        optimizer.load_state_dict(torch.load(latest / "optimizer.pt", weights_only=True))
        state = json.loads((latest / "state.json").read_text())
        return int(state["step"]), float(state["elapsed_seconds"])

    def export_latest(self) -> Path:
        """Export the EMA weights of the latest checkpoint (what the run would export if it ended now)."""
        from safetensors.torch import load_file

        from editlab.models.toyworld_editor import ToyworldEditorModel

        if not self.checkpoints():
            raise EditlabError(f"{self.out} has no checkpoints to export; train first")
        latest = self.checkpoints()[-1]
        tokenizer = build_tokenizer(self.config.max_tokens)
        model = ToyworldEditorModel.from_config(ToyworldEditorModel.load_config(latest))
        model.load_state_dict(load_file(latest / "ema.safetensors"))
        state = json.loads((latest / "state.json").read_text())
        export = Path(self.config.export_dir or self.out / "model")
        self.export(model, tokenizer, export,
                    {"steps": state["step"], "samples": state["step"] * self.config.batch_size,
                     "training_minutes": round(state["elapsed_seconds"] / 60, 2), "final_eval": self._last_eval(),
                     "pool": {"size": self.config.pool_size, "seed": self.config.pool_seed}})
        return export

    def _load_initial_weights(self, model: Any, spec: str) -> None:
        """Fine-tuning: copy a trained editor's weights; its config must match this run's model."""
        from editlab.models.toyworld_editor import ToyworldEditorModel
        from editlab.pipelines.resolve import TOYWORLD

        folder = _init_folder(spec)
        if not (folder / "model").is_dir():
            raise EditlabError(f"config init_from: {spec} is not a toyworld editor folder (no model/ inside); "
                               f"pass a folder written by this trainer or {TOYWORLD!r}")
        trained = ToyworldEditorModel.from_pretrained(folder / "model")
        different = {k: (v, trained.config.get(k)) for k, v in model.config.items()
                     if not k.startswith("_") and trained.config.get(k) != v}
        if different:
            raise EditlabError(f"config init_from: {spec} was trained with other model settings {different}; "
                               "set this config's model fields to match it")
        model.load_state_dict(trained.state_dict())
        # the record of the weights this run starts from, read now: `init_from` may name a folder that is
        # replaced before this run exports (the shipped model, when this run's result is shipped and re-exported)
        if not self._init_record.is_file():
            write_json(self._init_record, self._read_initial_training(folder), indent=1)
        self.log(f"initialised from {folder}")

    @property
    def _init_record(self) -> Path:
        return self.out / "init_training.json"

    def _initial_training(self) -> dict[str, Any]:
        """How the weights this run started from were trained, for the card (as recorded when they loaded)."""
        if self._init_record.is_file():
            return json.loads(self._init_record.read_text(encoding="utf-8"))
        return self._read_initial_training(_init_folder(self.config.init_from))

    def _read_initial_training(self, folder: Path) -> dict[str, Any]:
        path = folder / "editlab_training.json"
        earlier = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        return {"from": self.config.init_from, "training_minutes": earlier.get("training_minutes"),
                "steps": earlier.get("steps"), "samples": earlier.get("samples"), "init": earlier.get("init")}

    def _last_eval(self) -> dict[str, Any] | None:
        path = self.out / "metrics.jsonl"
        evals = [json.loads(line) for line in path.read_text().splitlines() if '"eval"' in line] if path.is_file() else []
        return evals[-1] if evals else None

    # -- the run
    def train(self) -> Path:
        import torch

        from editlab.models.toyworld_editor import ToyworldEditorModel
        from editlab.train.toyworld_pool import PoolSpec, build_pool

        config = self.config
        if config.threads:
            torch.set_num_threads(config.threads)
        if self.checkpoints() and not config.resume:
            raise EditlabError(f"{self.out} already has checkpoints; pass --resume to continue or choose another --output_dir")
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.json").write_text(json.dumps(config.to_dict(), indent=2))

        started = time.time()
        pool = build_pool(PoolSpec(n=config.pool_size, seed=config.pool_seed),
                          cache_dir=Path(config.cache_dir) if config.cache_dir else None,
                          workers=config.pool_workers, log=self.log)
        tokenizer = build_tokenizer(config.max_tokens)
        ids = encode_instructions(tokenizer, pool.instructions, config.max_tokens)
        self.log(f"pool ready: {len(pool)} examples ({time.time() - started:.0f} s, not counted in the budget)")
        known = sorted(int(i) for i in np.unique(ids))
        special = {tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id}
        batches = Batches(pool, ids, tokenizer.unk_token_id, special)
        weights = _example_weights(config, pool)

        torch.manual_seed(config.seed)
        model = build_model(config, tokenizer, known)
        if config.init_from and not (config.resume and self.checkpoints()):
            self._load_initial_weights(model, config.init_from)
        ema = ToyworldEditorModel.from_config(model.config)
        ema.load_state_dict(model.state_dict())
        ema.requires_grad_(False)
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay,
                                      betas=(0.9, 0.99))
        step, elapsed = (self.load_checkpoint(model, ema, optimizer) if config.resume and self.checkpoints() else (0, 0.0))
        if step:
            self.log(f"resumed at step {step} ({elapsed / 60:.1f} min)")
            self._truncate_metrics(step)
        evaluator = QuickEvaluator(config.eval_examples, tokenizer, config.max_tokens)
        budget = config.time_budget_minutes * 60
        n_params = sum(p.numel() for p in model.parameters())
        self.log(f"model: {n_params / 1e6:.2f}M parameters; budget {config.time_budget_minutes} min")

        t0 = time.time() - elapsed
        last_ckpt = time.time()
        next_eval = elapsed + config.eval_every_minutes * 60
        window: dict[str, float] = {}
        window_n, window_t = 0, time.time()
        model.train()
        while True:
            elapsed = time.time() - t0
            if elapsed >= budget or (config.max_steps and step >= config.max_steps):
                break
            factor = _lr_factor(config, step, elapsed / budget)
            for group in optimizer.param_groups:
                group["lr"] = config.learning_rate * factor
            rng = np.random.default_rng([config.seed, step, 1])
            batch = batches.get(_batch_indices(config, step, weights, len(pool)), word_dropout=config.word_dropout, rng=rng)
            terms = losses(model, batch, config)
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            with torch.no_grad():
                decay = min(config.ema_decay, (1 + step) / (10 + step))
                for e, p in zip(ema.parameters(), model.parameters(), strict=True):
                    e.lerp_(p, 1 - decay)
            step += 1
            for k, v in terms.items():
                window[k] = window.get(k, 0.0) + float(v.detach())
            window_n += 1
            if step % config.log_every == 0:
                now = time.time()
                rate = window_n * config.batch_size / (now - window_t)
                record = {"step": step, "minutes": round((now - t0) / 60, 2),
                          "eta_minutes": round(max(0.0, budget - (now - t0)) / 60, 1), "samples": step * config.batch_size,
                          "lr": config.learning_rate * factor, "samples_per_s": round(rate, 1),
                          **{k: round(v / window_n, 5) for k, v in window.items()}}
                self._append_metrics(record)
                self.log(" ".join(f"{k}={v}" for k, v in record.items()))
                window, window_n, window_t = {}, 0, now
            if time.time() - t0 >= next_eval:
                self._evaluate(evaluator, ema, step, t0)
                next_eval = (time.time() - t0) + config.eval_every_minutes * 60
            if time.time() - last_ckpt >= config.checkpoint_every_minutes * 60:
                self.save_checkpoint(model, ema, optimizer, step, time.time() - t0)
                last_ckpt = time.time()
        elapsed = time.time() - t0
        self.save_checkpoint(model, ema, optimizer, step, elapsed)
        final = self._evaluate(evaluator, ema, step, t0)
        export = Path(config.export_dir or self.out / "model")
        self.export(ema, tokenizer, export, {"steps": step, "samples": step * config.batch_size,
                                             "training_minutes": round(elapsed / 60, 2), "final_eval": final,
                                             "pool": {"size": len(pool), "seed": config.pool_seed}})
        self.log(f"exported {export}")
        return export

    def _evaluate(self, evaluator: QuickEvaluator, ema: Any, step: int, t0: float) -> dict[str, Any]:
        result = evaluator.evaluate(ema)
        record = {"eval": True, "step": step, "minutes": round((time.time() - t0) / 60, 2), **result}
        self._append_metrics(record)
        self.log(f"eval step={step} success={result['success']:.3f} " +
                 " ".join(f"{t}={v:.2f}" for t, v in result["per_task"].items()))
        return result

    def _append_metrics(self, record: dict[str, Any]) -> None:
        with open(self.out / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def _truncate_metrics(self, step: int) -> None:
        path = self.out / "metrics.jsonl"
        if path.is_file():
            kept = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
            path.write_text("".join(line + "\n" for line in kept))

    def export(self, model: Any, tokenizer: Any, folder: Path, training: dict[str, Any]) -> None:
        from editlab.pipelines.toyworld_editor import ToyworldEditorPipeline
        from editlab.train.toyworld_editor_card import model_card

        pipeline = ToyworldEditorPipeline(model=model, tokenizer=tokenizer)
        metrics = [json.loads(line) for line in (self.out / "metrics.jsonl").read_text().splitlines() if line]
        record = {"config": self.config.to_dict(), **training}
        if self.config.init_from:
            record["init"] = self._initial_training()
        pipeline.save_pretrained(folder, extra_files={
            "editlab_training.json": json.dumps({**record, "metrics": metrics}, indent=1),
            "README.md": model_card(model, record, metrics),
        })


class QuickEvaluator:
    """Oracle success of a model on fixed toyworld `test` cases, every task (for the training curve)."""

    def __init__(self, n: int, tokenizer: Any, max_tokens: int, split: str = "test", seed: int = 424242):
        from editlab.toyworld import Oracle, generate_examples

        self.examples = list(generate_examples(n, seed=seed, split=split))
        self.oracle = Oracle()
        self.ids = encode_instructions(tokenizer, [e.instruction for e in self.examples], max_tokens)

    def evaluate(self, model: Any) -> dict[str, Any]:
        import torch

        from editlab.pipelines.toyworld_editor import run_model
        from editlab.train.evaluate import score

        was_training = model.training
        model.eval()
        sources = torch.stack([torch.from_numpy(np.array(e.source.convert("RGB"))).permute(2, 0, 1) for e in self.examples])
        outputs = run_model(model, sources.float() / 255, torch.from_numpy(self.ids))
        model.train(was_training)
        return score(self.oracle, self.examples, outputs)


def train_toyworld_editor(config: ToyworldEditorTrainConfig) -> Path:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return ToyworldEditorTrainer(config).train()
