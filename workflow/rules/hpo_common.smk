# Helpers of Experiment 6's rules (the rules are in hpo.smk): paths, the sweep's configurations,
# input functions. Included after common.smk, before the rules that use them.
import json

HPO_DIR = f"{RESULTS}/hpo"
HPO_POINTS = list(study_config.hpo_points(config)) if HPO else []
HPO_LIVE = list(config["hpo"]["live"]["policies"]) if HPO else []


wildcard_constraints:
    point=r"lr[^/]+",
    policy=r"[A-Za-z0-9_.]+",


localrules:
    hpo_top,
    hpo_curves,
    hpo_second_seed,


def hpo_run(point, seed):
    return f"{HPO_DIR}/runs/{point}/seed{seed}"


def hpo_sweep_runs():
    return [hpo_run(p, config["hpo"]["seed"]) for p in HPO_POINTS]


def hpo_second_seed_runs(wildcards):
    """The runs of the best configurations at the second seed (known once the sweep has run)."""
    if not config["hpo"]["seed_noise"]["top"]:
        return []
    top = json.loads(Path(checkpoints.hpo_top.get().output[0]).read_text())["top"]
    return [hpo_run(p, config["hpo"]["seed_noise"]["seed"]) for p in top]


def hpo_top_points(wildcards):
    if not config["hpo"]["seed_noise"]["top"]:
        return []
    return json.loads(Path(checkpoints.hpo_top.get().output[0]).read_text())["top"]


def hpo_config_file():
    """The config file that declares the rule (the last one given; config/config.yaml without --configfile)."""
    files = [str(f) for f in workflow.configfiles] or ["config/config.yaml"]
    return files[-1]


def hpo_targets():
    return [
        f"{RESULTS}/report/exp6.html",
        f"{RESULTS}/report/exp6.pdf",
        f"{RESULTS}/decisions.json",
        f"{RESULTS}/stats/tests.csv",
    ]
