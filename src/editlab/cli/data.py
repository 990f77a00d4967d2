"""`editlab data`: build a paired edit dataset with a preset's chain of resumable sharded stages."""

from __future__ import annotations

from editlab.cli.main import add_subcommand
from editlab.cli.params import add_output


def register(subparsers) -> None:
    parser = add_subcommand(
        subparsers, "data",
        "build a paired edit dataset (source, instruction, edited, mask, scores) as resumable sharded stages",
        ["editlab data --preset toyworld --n 64 -o runs/data/toyworld",
         "editlab data --preset ip2p --tiny --n 4 -o /tmp/ip2p-plumbing --set prompt-to-prompt.candidates=3",
         "editlab data --list-presets"])
    parser.add_argument("--preset", default=None,
                        help="pipeline: ip2p, ultraedit-freeform, ultraedit-region, imgedit, multiedit, omniedit, "
                             "toyworld, demo, or a .yaml file")
    parser.add_argument("--n", type=int, default=None,
                        help="rows to write (default: the preset's); the job makes source items until this many "
                             "pass every stage")
    add_output(parser, help="output folder or fsspec URL (default runs/data/<preset>)")
    parser.add_argument("--distributor", choices=("local", "ray"), default="local")
    parser.add_argument("--processes", type=int, default=1, help="worker processes (local) or CPUs (local Ray)")
    parser.add_argument("--shard-size", type=int, default=None, help="items per shard (default: the preset's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="STAGE.PARAM=VALUE",
                        help="override a stage parameter (value parsed as YAML); STAGE is a name or an index")
    parser.add_argument("--tiny", action="store_true",
                        help="tiny random models everywhere, filters ranking but not thresholding (plumbing check: "
                             "outputs are meaningless)")
    parser.add_argument("--overwrite", action="store_true", help="rebuild stages whose settings changed")
    parser.add_argument("--no-webdataset", dest="webdataset", action="store_false", help="parquet only")
    parser.add_argument("--preview-rows", type=int, default=48)
    parser.add_argument("--keep-rejected-images", action="store_true",
                        help="keep images of filtered rows in the stage shards (for inspecting the filters)")
    parser.add_argument("--ray-address", default=None, help="connect to a running Ray cluster")
    parser.add_argument("--show", action="store_true", help="print the resolved stages and exit")
    parser.add_argument("--list-presets", action="store_true")
    parser.add_argument("--list-stages", action="store_true")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def _list(args) -> int:
    from editlab.data.presets import list_presets, load_preset
    from editlab.data.stages import STAGES

    if args.list_presets:
        for name in list_presets():
            description = " ".join(str(load_preset(name).get("description", "")).split())
            print(f"{name:20s} {description[:100]}")
    if args.list_stages:
        for name in STAGES.names():
            cls = STAGES.get(name)
            doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
            print(f"{name:20s} {cls.kind:7s} {doc[:90]}")
    return 0


def run(args) -> int:
    import logging
    import sys

    from editlab.errors import EditlabError

    if args.list_presets or args.list_stages:
        return _list(args)
    if not args.preset:
        raise EditlabError("--preset is required; see `editlab data --list-presets`")
    from editlab.data.presets import load_preset, parse_set_option, resolve_stages

    overrides = parse_set_option(args.overrides)
    if args.show:
        import yaml

        stages = resolve_stages(load_preset(args.preset), tiny=args.tiny, overrides=overrides)
        print(yaml.safe_dump({"stages": stages}, sort_keys=False), end="")
        return 0
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s", stream=sys.stderr)
    from editlab.data import build_dataset

    result = build_dataset(
        args.preset, n=args.n, out=args.out, distributor=args.distributor, processes=args.processes,
        shard_size=args.shard_size, seed=args.seed, tiny=args.tiny, overwrite=args.overwrite,
        webdataset=args.webdataset, preview_rows=args.preview_rows, keep_rejected_images=args.keep_rejected_images,
        ray_address=args.ray_address, progress=not args.quiet, overrides=overrides)
    from editlab.data.export.card import pass_rate_text

    print("| stage | rows in | passed | pass rate |\n|---|---|---|---|")
    for stage in result.stats["stages"]:
        rate = pass_rate_text(stage["pass_rate"])
        rows_in = "-" if stage["kind"] == "source" else stage["input_rows"]
        print(f"| {stage['stage']} | {rows_in} | {stage['ok']} | {rate} |")
    if result.stats.get("shortfall"):
        print(f"\nfewer rows than the {result.stats['rows_requested']} asked for: {result.stats['shortfall']}")
    print(f"\n{result.rows} rows in {len(result.data_files)} parquet files under {result.out}/data "
          f"(card: {result.out}/dataset_card.md, preview: {result.out}/preview.html)")
    return 0
