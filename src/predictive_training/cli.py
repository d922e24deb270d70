"""Command-line entry points: ``python -m predictive_training <command>``.

Snakemake rules call these through thin scripts; people can call them directly:

    python -m predictive_training validate config/config.yaml
    python -m predictive_training prepare config/config.yaml results/default/data
    python -m predictive_training train config/config.yaml results/default/data baseline 0 OUT
    python -m predictive_training calibrate config/config.yaml results/default/data OUT.json
    python -m predictive_training plan --configfile config/paper.yaml [--json OUT.json]
    python -m predictive_training findings results/default [--out findings/default]
    python -m predictive_training findings --index
    python -m predictive_training scaling findings/scale_base findings/scale_d192 ... [--out findings/scaling]
    python -m predictive_training optimizers findings/mit_opt_adamw findings/mit_opt_sgd ... [--out findings/optimizers]
    python -m predictive_training corpus-stats config/config.yaml
    python -m predictive_training lr-sweep config/mitigations/opt_sgd.yaml --lrs 0.01 0.03 0.1 --seed 9 --out F.json
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
    p = sub.add_parser("calibrate", help="measure the unit costs of training work (run it alone on the machine)")
    p.add_argument("config")
    p.add_argument("data_dir", help="a prepared data folder, or '-' for random tokens")
    p.add_argument("out")
    p.add_argument("--calls", type=int, default=12, help="timed calls per unit and repeat (default 12)")
    p.add_argument("--repeats", type=int, default=None,
                   help="whole calibrations, combined by median ratios (default: the config's calibration.repeats)")
    p = sub.add_parser("plan", help="measure a study's unit costs, memory and disk at its scale; print estimates")
    p.add_argument("--configfile", required=True)
    p.add_argument("--calls", type=int, default=3, help="timed calls per unit (default 3)")
    p.add_argument("--train-calls", type=int, default=2, help="predictor optimisation runs timed (default 2)")
    p.add_argument("--max-step-s", type=float, default=60.0,
                   help="measure the Full step at the config's batch only if it takes at most this (default 60)")
    p.add_argument("--tokens", type=int, default=None,
                   help="training + validation tokens (for the data arrays' memory; default: the study's data/meta.json)")
    p.add_argument("--batches", default="1,4",
                   help="the two reduced batch sizes of the Full step when the config's does not fit (default 1,4)")
    p.add_argument("--warmup", type=int, default=1, help="untimed calls before the timed ones (default 1)")
    p.add_argument("--json", default=None, help="also write the plan here")
    p = sub.add_parser("findings", help="write findings/<study>/, the committed summary of results/<study>/; "
                                        "or, with --index, FINDINGS.md from every findings/*/")
    p.add_argument("results", nargs="?", help="a finished study's results folder, e.g. results/default")
    p.add_argument("--out", default=None, help="the findings folder (default: findings/<name of the results folder>)")
    p.add_argument("--configfile", default=None,
                   help="the study's config (default: the file under config/ whose validated content equals the config "
                        "the results' report records)")
    p.add_argument("--command", dest="study_command", default=None,
                   help="the command that produced the results (default: the study command for the config)")
    p.add_argument("--wall-time", type=float, default=None,
                   help="the study's measured wall time in seconds (default: derived from its benchmarks and logs)")
    p.add_argument("--index", action="store_true",
                   help="regenerate FINDINGS.md and findings/performance_profile.png from every findings/*/")
    p = sub.add_parser("scaling", help="findings/scaling/: trends across the grid's studies (config/scaling/*.yaml) "
                                       "and the break-even analysis, from their committed findings folders")
    p.add_argument("folders", nargs="+", help="the points' findings folders, e.g. findings/scale_base findings/scale_d192")
    p.add_argument("--out", default=None, help="the aggregate's folder (default: findings/scaling)")
    p = sub.add_parser("optimizers", help="findings/optimizers/: the optimiser mitigation's table across its studies "
                                          "(config/mitigations/opt_*.yaml), from their committed findings folders")
    p.add_argument("folders", nargs="+", help="the studies' findings folders, e.g. findings/mit_opt_adamw ...")
    p.add_argument("--out", default=None, help="the aggregate's folder (default: findings/optimizers)")
    p = sub.add_parser("corpus-stats", help="print the statistics of the corpus that a config's data.source names, "
                                            "beside real TinyStories, without preparing the data")
    p.add_argument("config", help="a study config (YAML); its data section names the corpus")
    p = sub.add_parser("lr-sweep", help="the learning-rate check of a config's train.optimizer: its baseline at "
                                        "each learning rate on a seed the study does not evaluate; writes the "
                                        "curves and the chosen learning rate")
    p.add_argument("config", help="a study config (YAML)")
    p.add_argument("--lrs", type=float, nargs="+", required=True, help="the learning rates (3-5 points)")
    p.add_argument("--seed", type=int, required=True, help="a seed not in the config's seeds")
    p.add_argument("--data", default=None, help="the prepared data folder (default: results/<study>/data, prepared "
                                                "there if missing)")
    p.add_argument("--out", required=True, help="the JSON file to write (e.g. findings/<study>/lr_sweep.json)")
    args = parser.parse_args(argv)
    setup_logging()
    if args.command == "findings":
        return _findings(parser, args)
    if args.command == "scaling":
        from .report.findings import repo_root
        from .report.scaling import ScalingError, aggregate

        root = repo_root()
        try:
            print(aggregate(args.folders, args.out or root / "findings" / "scaling", root))
        except ScalingError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.command == "optimizers":
        from .report.findings import repo_root
        from .report.mitigations import MitigationError, optimizer_aggregate

        root = repo_root()
        try:
            print(optimizer_aggregate(args.folders, args.out or root / "findings" / "optimizers", root))
        except (MitigationError, config_mod.ConfigError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    try:
        cfg = config_mod.load(args.configfile if args.command == "plan" else args.config,
                              lr_from=args.command != "lr-sweep")
        if args.command == "validate":
            print(json.dumps(cfg, indent=2))
        elif args.command == "corpus-stats":
            from .data.corpus_stats import TINYSTORIES, corpus_stats
            from .data.sources import load_documents

            stats = corpus_stats(load_documents(cfg["data"]))
            stats["reference_tinystories"] = TINYSTORIES
            print(json.dumps(stats, indent=2))
        elif args.command == "prepare":
            from .data.prepare import prepare

            prepare(cfg, args.out_dir)
        elif args.command == "train":
            from .training.run import run_training

            run_training(cfg, args.data_dir, args.arm, args.seed, args.out_dir)
        elif args.command == "lr-sweep":
            return _lr_sweep(cfg, args)
        elif args.command == "calibrate":
            from .training.calibrate import calibrate

            calibrate(cfg, None if args.data_dir == "-" else args.data_dir, args.out, calls=args.calls,
                      repeats=args.repeats or cfg["calibration"]["repeats"])
        elif args.command == "plan":
            from .training.plan import format_plan, plan

            b1, _, b2 = args.batches.partition(",")
            result = plan(cfg, calls=args.calls, warmup=args.warmup, train_calls=args.train_calls,
                          max_step_s=args.max_step_s, tokens=args.tokens, batches=(int(b1), int(b2 or b1)),
                          say=lambda m: print(m, file=sys.stderr, flush=True))
            print(format_plan(result))
            if args.json:
                from .io import write_json

                write_json(args.json, result)
    except config_mod.ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _lr_sweep(cfg: dict, args: argparse.Namespace) -> int:
    from pathlib import Path

    from .data.prepare import prepare
    from .io import write_json
    from .training.search import lr_sweep

    if args.seed in cfg["seeds"]:
        print(f"error: --seed {args.seed} is one of the config's seeds {cfg['seeds']}: choose the learning rate "
              "on a seed the study does not evaluate", file=sys.stderr)
        return 2
    data = Path(args.data or f"results/{cfg['study']}/data")
    if not (data / "meta.json").exists():
        prepare(cfg, data)
    result = lr_sweep(cfg, data, args.lrs, args.seed, say=lambda m: logging.getLogger("lr-sweep").info(m))
    result["config"] = args.config
    write_json(args.out, result)
    print(f"{result['optimizer']}: chosen lr {result['chosen_lr']:g}" + (" (at the edge of the grid: widen it)"
                                                                        if result["edge"] else ""))
    return 0


def _findings(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from .report.findings import FindingsError, repo_root, write_findings
    from .report.findings_index import write_index

    if args.index == bool(args.results):
        parser.error("findings: give a results folder, or --index (not both)")
    try:
        if args.index:
            root = repo_root()
            print(write_index(root / "findings", root / "FINDINGS.md"))
        else:
            print(write_findings(args.results, args.out, configfile=args.configfile, command=args.study_command,
                                 wall_time_s=args.wall_time))
    except FindingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
