"""One name per setting: every editing command takes diffusers' names, old spellings still parse."""

import pytest

from editlab.cli.main import build_parser

COMMANDS = {
    "edit": ["edit", "in.png", "make it red", "-o", "out.png"],
    "session new": ["session", "new", "s", "--image", "in.png"],
    "session edit": ["session", "edit", "s", "make it red"],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_diffusers_names_and_hidden_aliases_reach_the_same_setting(command):
    parser = build_parser()
    new = parser.parse_args(COMMANDS[command] + ["--guidance-scale", "3", "--image-guidance-scale", "1.2",
                                                 "--num-inference-steps", "7", "--model", "identity"])
    old = parser.parse_args(COMMANDS[command] + ["--text-guidance", "3", "--image-guidance", "1.2", "--steps", "7",
                                                 "--model", "identity"])
    for args in (new, old):
        assert (args.guidance_scale, args.image_guidance_scale, args.num_inference_steps, args.model) == (3.0, 1.2, 7,
                                                                                                        "identity")


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_one_name_per_setting(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(COMMANDS[command][:2 if command.startswith("session") else 1] + ["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "--guidance-scale" in text and "--num-inference-steps" in text
    for old in ("--text-guidance", "--steps ", "--text-scale ", "--image-scale "):
        assert old not in text
    assert "the model's own" in text  # the defaults are the model's, not a number the default model ignores


def test_editing_parameters_are_checked():
    from editlab.cli.params import editing_parameters
    from editlab.errors import EditlabError

    args = build_parser().parse_args(COMMANDS["edit"] + ["--param", "strength=0.8", "--guidance-scale", "2"])
    assert editing_parameters(args) == {"strength": 0.8, "guidance_scale": 2.0}
    with pytest.raises(EditlabError, match="--guidance-scale must be a number >= 0"):
        editing_parameters(build_parser().parse_args(COMMANDS["edit"] + ["--guidance-scale", "-1"]))
    with pytest.raises(EditlabError, match="--param 'x' is not KEY=VALUE"):
        editing_parameters(build_parser().parse_args(COMMANDS["edit"] + ["--param", "x"]))
