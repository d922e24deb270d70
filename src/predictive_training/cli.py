"""Command-line entry points: ``python -m predictive_training <command>``.

Snakemake rules call these through thin scripts; people can call them directly:

    python -m predictive_training validate config/config.yaml
    python -m predictive_training prepare config/config.yaml results/default/data
    python -m predictive_training train config/config.yaml results/default/data baseline 0 OUT
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from . import config as config_mod


def setup_logging(log_file: str | None = None) -> None:
    if log_file:
        # One line-buffered stream for log records, progress bars and warnings alike (two handles
        # on one file would interleave partial writes).
        sys.stderr = open(log_file, "w", buffering=1, encoding="utf-8")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        handlers=handlers, force=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="predictive_training", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("validate", help="validate a config and print it with defaults filled in")
    p.add_argument("config")
    p = sub.add_parser("prepare", help="prepare the data folder")
    p.add_argument("config")
    p.add_argument("out_dir")
    p = sub.add_parser("train", help="train one arm and seed into a run folder")
    p.add_argument("config")
    p.add_argument("data_dir")
    p.add_argument("arm")
    p.add_argument("seed", type=int)
    p.add_argument("out_dir")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        cfg = config_mod.load(args.config)
        if args.command == "validate":
            print(json.dumps(cfg, indent=2))
        elif args.command == "prepare":
            from .data.prepare import prepare

            prepare(cfg, args.out_dir)
        elif args.command == "train":
            from .training.run import run_training

            run_training(cfg, args.data_dir, args.arm, args.seed, args.out_dir)
    except config_mod.ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
