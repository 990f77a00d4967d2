import pytest
import yaml

from editlab.errors import EditlabError
from editlab.train.config import TrainConfig, load_config, parse_overrides, save_config


def test_precedence_command_line_over_file_over_defaults(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("max_steps: 7\nlearning_rate: 3.0e-4\nbatch_size: 2\n")
    config = load_config(path, ["--max_steps", "9", "--use-ema", "false"])
    assert config.max_steps == 9  # command line wins
    assert config.learning_rate == 3e-4  # from the file
    assert config.batch_size == 2
    assert config.use_ema is False
    assert config.seed == TrainConfig().seed  # default


def test_typed_values_lists_and_maps():
    config = load_config(None, ["--data", "a,b", "--column_map", "source=src,edited=dst,instruction=txt",
                                "--task_groups", "{hard: [count, text]}", "--lmtl", "inverse_frequency",
                                "--resume", "--max_examples", "none"])
    assert config.data == ["a", "b"]
    assert config.column_map == {"source": "src", "edited": "dst", "instruction": "txt"}
    assert config.task_groups == {"hard": ["count", "text"]}
    assert config.resume is True and config.max_examples is None


@pytest.mark.parametrize("argv, message", [
    (["--max_stepz", "3"], "did you mean 'max_steps'"),
    (["--max_steps", "many"], "expected int"),
    (["--use_ema", "perhaps"], "true/false"),
    (["--mixed_precision", "fp8"], "choose one of"),
    (["--attention", "flash"], "choose one of"),
    (["--conditioning_dropout", "0.5"], "[0, 1/3]"),
    (["--lmtl", "gradnorm"], "needs task_groups"),
    (["--unet_init", "identity"], "needs prediction_type: sample"),
    (["--unet_init", "identity", "--prediction_type", "sample", "--model", "org/sd"], "built from scratch"),
    (["--unet_init", "zeros"], "choose default or identity"),
    (["--timestep_bias_power", "0"], "must be > 0"),
])
def test_bad_values_are_one_line_errors(argv, message):
    with pytest.raises(EditlabError) as info:
        load_config(None, argv)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_unknown_key_in_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("learning_rat: 1\n")
    with pytest.raises(EditlabError, match="did you mean 'learning_rate'"):
        load_config(path)


def test_resolved_config_round_trips(tmp_path):
    config = load_config(None, ["--max_steps", "5", "--data", "x"])
    path = save_config(config, tmp_path / "config.yaml")
    assert load_config(path) == config
    assert yaml.safe_load(path.read_text())["max_steps"] == 5


def test_parse_overrides_forms():
    assert parse_overrides(["--a=1", "--b", "2", "--flag"]) == {"a": "1", "b": "2", "flag": "true"}
    with pytest.raises(EditlabError):
        parse_overrides(["stray"])


def test_shipped_configs_are_valid():
    from pathlib import Path

    from editlab.train.config import config_architecture
    from editlab.train.toyworld_editor import ToyworldEditorTrainConfig

    configs = sorted(Path(__file__).resolve().parents[2].joinpath("configs/train").glob("*.yaml"))
    assert configs
    for path in configs:
        load_config(path, None, ToyworldEditorTrainConfig if config_architecture(path) == "toyworld-editor" else None)
