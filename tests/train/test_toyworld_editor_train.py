"""The toyworld editor's trainer: learns (the loss falls on a fixed batch), checkpoints, resumes, exports a folder
that `editlab edit --model` loads, and its config is checked like the IP2P trainer's."""

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from editlab.cli.main import main  # noqa: E402
from editlab.errors import EditlabError  # noqa: E402
from editlab.train.config import load_config  # noqa: E402
from editlab.train.toyworld_editor import (  # noqa: E402
    ToyworldEditorTrainConfig,
    ToyworldEditorTrainer,
    losses,
)
from editlab.train.toyworld_pool import PoolSpec, build_pool, canonical_example  # noqa: E402

TINY = {"pool_size": 45, "pool_workers": 1, "batch_size": 8, "channels": 16, "deep_channels": 32, "text_dim": 32,
        "head_channels": 32, "max_tokens": 32, "eval_examples": 15, "log_every": 5, "warmup_steps": 2}


def _config(tmp_path, **kw):
    return ToyworldEditorTrainConfig(output_dir=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"), **{**TINY, **kw})


def test_training_lowers_the_loss_on_a_fixed_batch(tmp_path):
    from editlab.train.toyworld_editor import Batches, build_model, build_tokenizer, encode_instructions

    config = _config(tmp_path)
    pool = build_pool(PoolSpec(n=45), cache_dir=tmp_path / "cache", workers=1)
    tokenizer = build_tokenizer(config.max_tokens)
    ids = encode_instructions(tokenizer, pool.instructions, config.max_tokens)
    batch = Batches(pool, ids, tokenizer.unk_token_id, set()).get(list(range(16)))
    torch.manual_seed(0)
    model = build_model(config, tokenizer, sorted(set(ids.ravel().tolist())))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(40):
        loss = losses(model, batch, config)["loss"]
        first = float(loss) if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(loss) < 0.6 * first, (first, float(loss))


def test_run_resume_and_export(tmp_path):
    from editlab.pipelines.toyworld_editor import ToyworldEditorPipeline

    trainer = ToyworldEditorTrainer(_config(tmp_path, max_steps=6, checkpoint_every_minutes=0.0))
    folder = trainer.train()
    assert (folder / "model" / "model.safetensors").is_file()
    record = json.loads((folder / "editlab_training.json").read_text())
    assert record["steps"] == 6 and any(m.get("eval") for m in record["metrics"])
    with pytest.raises(EditlabError, match="--resume"):
        ToyworldEditorTrainer(_config(tmp_path, max_steps=8)).train()
    ToyworldEditorTrainer(_config(tmp_path, max_steps=8, resume=True)).train()
    steps = [m["step"] for m in map(json.loads, (tmp_path / "run" / "metrics.jsonl").read_text().splitlines())
             if not m.get("eval")]
    assert steps == sorted(steps) and steps[-1] <= 8
    assert ToyworldEditorTrainer(_config(tmp_path, max_steps=8)).export_latest() == folder  # --export-only
    pipe = ToyworldEditorPipeline.from_pretrained(folder)
    from editlab import toyworld

    example = toyworld.generate_example(3)
    assert pipe(prompt=example.instruction, image=example.source).images[0].size == (64, 64)
    example.source.save(tmp_path / "in.png")
    out = tmp_path / "edited.png"
    assert main(["edit", str(tmp_path / "in.png"), example.instruction, "-o", str(out), "--model", str(folder)]) == 0
    assert out.is_file()


def test_config_is_checked(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("architecture: toyworld-editor\nbatch_sise: 4\n")
    with pytest.raises(EditlabError, match="did you mean 'batch_size'"):
        load_config(path, [], ToyworldEditorTrainConfig)
    path.write_text("architecture: toyworld-editor\ntask_weights: {colour: 2}\n")
    with pytest.raises(EditlabError, match="unknown tasks"):
        load_config(path, [], ToyworldEditorTrainConfig)
    path.write_text("architecture: toyworld-editor\n")
    assert main(["train", "--config", str(path), "--print-config", "--batch_size", "16"]) == 0


def test_canonical_placements_pass_the_oracle():
    from editlab import toyworld

    oracle = toyworld.Oracle()
    for task in ("add", "count"):
        for index in range(8):
            example = toyworld.generate_example(11, task=task, index=index)
            assert oracle.score(example, canonical_example(example).target).success


def test_init_from_starts_at_the_trained_weights_and_the_card_says_so(tmp_path):
    from editlab.models.toyworld_editor import ToyworldEditorModel

    first = ToyworldEditorTrainer(_config(tmp_path, max_steps=2)).train()
    trained = ToyworldEditorModel.from_pretrained(first / "model")
    second = ToyworldEditorTrainer(_config(tmp_path / "b", init_from=str(first), seed=1, max_steps=0,
                                           time_budget_minutes=1e-9))
    folder = second.train()  # no step: the export is the starting point
    started = ToyworldEditorModel.from_pretrained(folder / "model")
    for (name, a), (_, b) in zip(trained.state_dict().items(), started.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    card = (folder / "README.md").read_text()
    assert "in 2 runs" in card and "run 2: " in card and "from run 1's weights" in card
    # a third run from the second; the record of where its weights came from is read when they load, so
    # replacing the second folder afterwards (as shipping a model does) does not change the third's card
    third = ToyworldEditorTrainer(_config(tmp_path / "c3", init_from=str(folder), seed=2, max_steps=0,
                                          time_budget_minutes=1e-9))
    last = third.train()
    (folder / "editlab_training.json").write_text('{"training_minutes": 999, "steps": 999}')
    third.export_latest()
    card = (last / "README.md").read_text()
    assert "in 3 runs" in card and "from run 2's weights" in card and "999" not in card
    with pytest.raises(EditlabError, match="other model settings"):
        ToyworldEditorTrainer(_config(tmp_path / "c", init_from=str(first), channels=24, max_steps=1)).train()
