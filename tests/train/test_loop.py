"""End-to-end runs of the trainer on a tiny model (seconds each)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("accelerate")

from train_toydata import tiny_overrides, write_shard  # noqa: E402

from editlab.errors import EditlabError  # noqa: E402
from editlab.train import load_config  # noqa: E402
from editlab.train.loop import Trainer, train  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def losses_of(run_dir: Path) -> dict[int, float]:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return {r["step"]: r["loss"] for r in records if "loss" in r}


def test_train_and_export_loads_in_plain_diffusers(tmp_path, shard_dir, vocab_file):
    config = load_config(None, tiny_overrides(tmp_path, shard_dir, vocab_file, max_steps=3, export=True))
    result = train(config, log=lambda _: None)
    assert result.steps == 3 and len(result.losses) == 3 and all(loss == loss for loss in result.losses)
    assert (tmp_path / "run" / "config.yaml").is_file()
    assert load_config(tmp_path / "run" / "config.yaml") == config  # the resolved config is written
    card = (result.export_dir / "README.md").read_text()
    assert "<svg" in card and "InstructPix2Pix" in card and "max_steps: 3" in card

    from diffusers import StableDiffusionInstructPix2PixPipeline
    from PIL import Image

    pipe = StableDiffusionInstructPix2PixPipeline.from_pretrained(result.export_dir)
    pipe.set_progress_bar_config(disable=True)
    image = pipe("make the square red", image=Image.new("RGB", (32, 32), "white"), num_inference_steps=2,
                 generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (32, 32)
    assert list(result.export_dir.rglob("*.safetensors"))


def test_training_overfits_a_single_batch(tmp_path, vocab_file):
    """The trainer learns: on one batch of 4 examples (every step sees the same 4), 60 steps of the
    tiny model bring the loss of a fixed draw (same noise, timesteps) below half its start.
    Measured: 1.176 -> 0.452 (2.6x). A step that does not update the weights, a wrong target or a
    detached graph leaves it near 1x."""
    write_shard(tmp_path / "one" / "p.parquet", 4)
    overrides = tiny_overrides(tmp_path, tmp_path / "one", vocab_file, max_steps=60, batch_size=4,
                               learning_rate=3e-3, conditioning_dropout=0.0, use_ema=False, checkpoint_every=1000)
    trainer = Trainer(load_config(None, overrides), log=lambda _: None)
    trainer.setup()

    def fixed_loss() -> float:  # micro-batch 0: the same examples, noise and timesteps every time
        with torch.no_grad():
            return float(trainer.compute_loss(0)[0])

    before = fixed_loss()
    losses = []
    for _ in range(60):
        losses.append(trainer.train_step()["loss"])
        trainer.state.step += 1
    after = fixed_loss()
    assert after < before / 2, f"fixed-draw loss {before:.3f} -> {after:.3f}: the model did not fit one batch"
    assert sum(losses[-10:]) / 10 < sum(losses[:5]) / 5 / 2, losses


def test_latent_cache_gives_the_same_losses(tmp_path, shard_dir, vocab_file):
    base = tiny_overrides(tmp_path, shard_dir, vocab_file, max_steps=3, train_text_encoder=False)
    plain = train(load_config(None, {**base, "output_dir": str(tmp_path / "a")}), log=lambda _: None)
    cached = train(load_config(None, {**base, "output_dir": str(tmp_path / "b"), "cache": True,
                                      "cache_dir": str(tmp_path / "c")}), log=lambda _: None)
    assert list((tmp_path / "c").glob("latents-*.safetensors"))
    assert cached.losses == pytest.approx(plain.losses, rel=1e-4, abs=1e-6)


def test_options_run_mask_buckets_checkpointing_multitask_bf16(tmp_path, vocab_file):
    from train_toydata import write_shard

    write_shard(tmp_path / "mixed" / "p.parquet", 12, sizes=((32, 32), (64, 16)))
    overrides = tiny_overrides(
        tmp_path, tmp_path / "mixed", vocab_file, max_steps=2, mask_conditioning=True, buckets=True,
        gradient_checkpointing=True, mixed_precision="bf16", task_groups={"hard": ["color"]}, lmtl="gradnorm",
        dmtl_stages=[{"until_step": 1, "weights": {"hard": 3, "other": 1}}, {"weights": {"hard": 1, "other": 1}}],
        gradient_accumulation_steps=2, export=True)
    result = train(load_config(None, overrides), log=lambda _: None)
    assert result.steps == 2
    unet_config = json.loads((result.export_dir / "unet" / "config.json").read_text())
    assert unet_config["in_channels"] == 9  # noisy latent 4 + source latent 4 + mask 1
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert "task_loss" in records[-1] and set(records[-1]["task_loss"]) <= {"color", "style"}
    assert records[0]["dmtl_stage"] == 0 and records[1]["dmtl_stage"] == 1


def test_existing_run_needs_resume(tmp_path, shard_dir, vocab_file):
    overrides = tiny_overrides(tmp_path, shard_dir, vocab_file, max_steps=2)
    train(load_config(None, overrides), log=lambda _: None)
    with pytest.raises(EditlabError, match="--resume"):
        train(load_config(None, overrides), log=lambda _: None)


def test_exact_resume_after_sigkill(tmp_path, shard_dir, vocab_file):
    """Kill -9 a real training process mid-run, resume: the losses continue as if never stopped."""
    steps = 24
    reference = train(load_config(None, tiny_overrides(tmp_path / "ref", shard_dir, vocab_file, max_steps=steps,
                                                       checkpoint_every=4, use_ema=True)), log=lambda _: None)
    run_dir = tmp_path / "killed" / "run"
    overrides = tiny_overrides(tmp_path / "killed", shard_dir, vocab_file, max_steps=steps, checkpoint_every=4)
    argv = [sys.executable, "-m", "editlab", "train"]
    for key, value in overrides.items():
        argv += [f"--{key}", json.dumps(value) if isinstance(value, (list, dict, bool)) else str(value)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if list((run_dir / "checkpoints").glob("step-*/train_state.json")) and len(losses_of(run_dir)) >= 9:
            break
        time.sleep(0.02)
    assert process.poll() is None, f"training ended before it could be killed: {process.stderr.read().decode()[-2000:]}"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    killed_at = max(losses_of(run_dir))
    assert killed_at < steps

    resumed = subprocess.run(argv + ["--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stdout
    after = losses_of(run_dir)
    assert sorted(after) == list(range(1, steps + 1))
    for step, loss in enumerate(reference.losses, start=1):
        assert after[step] == pytest.approx(loss, abs=1e-6), f"step {step} differs after resume (killed at {killed_at})"


def test_export_only_reexports_the_latest_checkpoint(tmp_path, shard_dir, vocab_file):
    overrides = tiny_overrides(tmp_path, shard_dir, vocab_file, max_steps=2)
    train(load_config(None, overrides), log=lambda _: None)
    from editlab.cli.main import main

    argv = ["train", "--export-only"]
    for key, value in {**overrides, "inference_scheduler": "ddim", "export_dir": str(tmp_path / "out")}.items():
        argv += [f"--{key}", json.dumps(value) if isinstance(value, (list, dict, bool)) else str(value)]
    log_before = (tmp_path / "run" / "metrics.jsonl").read_bytes()
    assert main(argv) == 0
    index = json.loads((tmp_path / "out" / "model_index.json").read_text())
    assert index["scheduler"] == ["diffusers", "DDIMScheduler"]
    assert (tmp_path / "run" / "metrics.jsonl").read_bytes() == log_before  # exporting leaves the run's log alone
