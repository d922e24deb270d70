# Helpers shared by the rules: config validation (before any job), paths, input functions.
from pathlib import Path

from snakemake.utils import update_config

import predictive_training.config as study_config

# No --configfile: the embedded default study, with any --config overrides on top. With
# --configfile: those files alone (cluster jobs receive the same files, so they agree).
if not workflow.overwrite_configfiles:
    _default = study_config.load(Path(workflow.basedir) / "config" / "config.yaml")
    update_config(_default, dict(config))
    config.clear()
    config.update(_default)

try:
    _validated = study_config.validate(config, base_dir=workflow.basedir)
except study_config.ConfigError as exc:
    raise WorkflowError(f"invalid study config: {exc}")
config.clear()
config.update(_validated)

RESULTS = f"results/{config['study']}"
# Experiment 6 (issue 26, workflow/rules/hpo.smk): the hyperparameter-search pivot runs when the config has
# an hpo block; with hpo.only, the study runs nothing of the plan (no arms, no plan experiments)
HPO = "hpo" in config
HPO_ONLY = HPO and config["hpo"]["only"]
CALIBRATION = f"{RESULTS}/calibration.json"
ARMS = list(config["arms"])
SEEDS = list(config["seeds"])


wildcard_constraints:
    seed=r"\d+",
    arm="|".join(ARMS),


def run_dir(arm, seed):
    return f"{RESULTS}/runs/{arm}/seed{seed}"


def all_runs():
    return [run_dir(a, s) for a in ARMS for s in SEEDS]


def experiment_logs(name):
    return [f"{RESULTS}/experiments/{name}/seed{s}.json" for s in SEEDS]


def experiments():
    """Experiments the configured arms support (Exp 2 and 3 need the baseline's shadow records,
    Exp 5 needs hybrid_r50, Exp 4 a second arm)."""
    if HPO_ONLY:  # issue 26: a search-only study has no plan experiment
        return []
    names = ["exp1_gradient_structure"]
    if "baseline" in config["record"]["shadow"]["arms"]:
        names += ["exp2_loss_prediction", "exp3_weight_delta"]
    if len(ARMS) > 1:
        names.append("exp4_prediction_phases")
    if "hybrid_r50" in ARMS:
        names.append("exp5_correction")
    return names


EXPERIMENTS = experiments()
# Exp 5 reads hybrid_r50 (the plan's arm), the baseline (the shortfall) and the controls present
EXP5_ARMS = [
    a for a in ("hybrid_r50", "baseline", "repeat_r50", "skip_r50") if a in ARMS
]


def shadow_logs():
    """The Exp 2 and Exp 3 logs (the report's shadow-mode section reads them)."""
    names = [
        n for n in ("exp2_loss_prediction", "exp3_weight_delta") if n in EXPERIMENTS
    ]
    return [log for name in names for log in experiment_logs(name)]


def all_experiment_logs():
    return [log for name in EXPERIMENTS for log in experiment_logs(name)]


def loso_model(name, seed):
    """The model of leave-one-seed-out predictor ``name`` (nowcaster, rssm_pretrained) for ``seed``."""
    return f"{RESULTS}/predictors/{name}/seed{seed}.pt"


def other_baselines(seed):
    """The baseline runs a leave-one-seed-out model of ``seed`` trains on: every seed but ``seed``."""
    return [run_dir("baseline", s) for s in SEEDS if int(s) != int(seed)]


def train_inputs(wildcards):
    """The train rule's inputs: the data, and for a nowcaster or rssm_pretrained arm its model."""
    out = {"data": f"{RESULTS}/data"}
    kind = config["arms"][wildcards.arm]["kind"]
    if kind in study_config.LEAVE_ONE_SEED_OUT:
        out[kind] = loso_model(kind, wildcards.seed)
    return out


def replay_inputs(wildcards):
    """The shadow_replay rule's inputs: the data, the baseline run it replays, the models."""
    out = {"data": f"{RESULTS}/data", "run": run_dir("baseline", wildcards.seed)}
    for name in study_config.loso_shadow(config):
        out[name] = loso_model(name, wildcards.seed)
    return out


def replay_dir(seed):
    """The shadow records of the leave-one-seed-out predictors for ``seed`` (none if not configured)."""
    if not study_config.loso_shadow(config):
        return []
    return [f"{RESULTS}/shadow_replay/seed{seed}"]


def all_targets():
    plan = [
        f"{RESULTS}/runs/summary.csv",
        f"{RESULTS}/report/report.html",
        f"{RESULTS}/report/report.pdf",
    ]
    # issue 26: Experiment 6's targets (hpo.smk) when the config has an hpo block
    return ([] if HPO_ONLY else plan) + (hpo_targets() if HPO else [])


def study_milestones():
    """The study records of the study's own experiments (STUDY.md section 7), merged into decisions.json
    by the statistics job (issue 26, Exp 6)."""
    return [f"{RESULTS}/hpo/milestones.json"] if HPO else []


def study_tests():
    """Their tests-table rows (appended to stats/tests.csv with their own rule's adjustment)."""
    return [f"{RESULTS}/hpo/tests.csv"] if HPO else []


def train_threads():
    return config["threads"]


def all_cores():
    """Every core Snakemake was given (``--cores``): the calibration job holds the whole machine so that
    nothing runs beside it. Cluster executors give no core count; there the SLURM profile asks for an
    exclusive node instead, and the job takes the training threads."""
    try:
        return workflow.cores
    except WorkflowError:
        return config["threads"]
