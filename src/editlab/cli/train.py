"""`editlab train --config FILE [--key value ...]`: train an instruction-editing model.

Every field of `editlab.train.TrainConfig` is a `--key value` override (command line > config
file > defaults). `--resume` continues the run in --output_dir from its last checkpoint.
"""

from __future__ import annotations

import argparse

from editlab.cli.main import add_subcommand


def register(subparsers) -> None:
    parser = add_subcommand(
        subparsers, "train",
        "train an InstructPix2Pix-style editing model (accelerate; any --key of the config overrides it)",
        [
            "editlab train --config configs/train/tiny.yaml --max_steps 50 --output_dir runs/tiny",
            "editlab train --config configs/train/tiny.yaml --output_dir runs/tiny --resume",
            "editlab train --config configs/train/tiny.yaml --output_dir runs/tiny --export-only --inference_scheduler ddim",
            "editlab train --config configs/train/toyworld.yaml     # the shipped toyworld model",
            "accelerate launch -m editlab train --config configs/train/sd15-ip2p.yaml   # many GPUs",
        ],
    )
    parser.allow_abbrev = False  # "--export false" is the config key, not an abbreviation of --export-only
    parser.add_argument("--config", help="YAML config file (configs/train/*.yaml)")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument("--export-only", action="store_true",
                        help="export the run's latest checkpoint (to export_dir) without training")
    parser.set_defaults(func=run, overrides=[])
    _collect_overrides(parser)
    parser.epilog = (
        "config keys (see docs/training.md): model, data, column_map, column_preset, resolution, buckets, cache,\n"
        "  batch_size, max_steps, learning_rate, use_ema, mixed_precision, gradient_checkpointing,\n"
        "  mask_conditioning, task_groups, dmtl_stages, lmtl, output_dir, checkpoint_every, resume, ...\n\n"
        + parser.epilog
    )


def _collect_overrides(parser: argparse.ArgumentParser) -> None:
    """Hand every `--key value` argparse does not know to the config loader (type checks, did-you-mean)."""
    parse_known = parser.parse_known_args

    def parse_known_args(args=None, namespace=None):
        namespace, extras = parse_known(args, namespace)
        namespace.overrides = list(getattr(namespace, "overrides", None) or []) + list(extras)
        return namespace, []

    parser.parse_known_args = parse_known_args  # type: ignore[method-assign]


def run(args) -> int:
    from editlab.train.config import config_architecture, load_config, save_config

    overrides = list(args.overrides)
    if config_architecture(args.config) == "toyworld-editor":
        return _run_toyworld_editor(args, overrides)
    config = load_config(args.config, overrides)
    if args.print_config:
        import sys
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as tmp:
            path = save_config(config, Path(tmp) / "config.yaml")
            sys.stdout.write(path.read_text())
        return 0
    from editlab.cli.main import set_thread_env
    from editlab.train.loop import train

    set_thread_env()
    if args.export_only:
        from editlab.train.loop import Trainer

        folder = Trainer(config).export_checkpoint()
        print(f"exported {folder}")
        return 0
    result = train(config)
    print(f"trained {result.steps} steps; outputs in {result.output_dir}"
          + (f"; model in {result.export_dir}" if result.export_dir else ""))
    return 0


def _run_toyworld_editor(args, overrides: list[str]) -> int:
    """The toyworld editor (configs/train/toyworld-editor.yaml): a one-step composite model, its own trainer."""
    import sys

    import yaml

    from editlab.cli.main import set_thread_env
    from editlab.train.config import load_config
    from editlab.train.toyworld_editor import ToyworldEditorTrainConfig, train_toyworld_editor

    config = load_config(args.config, overrides, ToyworldEditorTrainConfig)
    if args.print_config:
        sys.stdout.write(yaml.safe_dump(config.to_dict(), sort_keys=False))
        return 0
    if args.export_only:
        from editlab.train.toyworld_editor import ToyworldEditorTrainer

        print(f"exported {ToyworldEditorTrainer(config).export_latest()}")
        return 0
    set_thread_env()
    folder = train_toyworld_editor(config)
    print(f"model in {folder}")
    return 0
