# Helpers shared by the rules: config validation (before any job), paths, input functions.
import copy
from pathlib import Path

from snakemake.utils import update_config

import predictive_training.config as study_config
from predictive_training.analysis.exp5 import exp5_arms

# No --configfile: the embedded default study, with any --config overrides on top. With
# --configfile: those files alone (cluster jobs receive the same files, so they agree).
if not workflow.overwrite_configfiles:
    _default = study_config.load(Path(workflow.basedir) / "config" / "config.yaml")
    update_config(_default, dict(config))
    config.clear()
    config.update(_default)

try:
    _validated = study_config.validate(config, base_dir=workflow.basedir)
    # outside predictors (and per-arm options) are checked against their classes before any job
    # (this imports them, and torch, only when the config names one)
    if study_config.needs_predictor_check(_validated):
        from predictive_training.dynamics.base import check_config_predictors

        check_config_predictors(_validated)
except study_config.ConfigError as exc:
    raise WorkflowError(f"invalid study config: {exc}")
config.clear()
config.update(_validated)

RESULTS = f"results/{config['study']}"
# Experiment 6 (workflow/rules/hpo.smk): the hyperparameter-search pivot runs when the config has
# an hpo block; with hpo.only, the study runs nothing of the plan (no arms, no plan experiments)
HPO = "hpo" in config
HPO_ONLY = HPO and config["hpo"]["only"]
CALIBRATION = f"{RESULTS}/calibration.json"
ARMS = list(config["arms"])
SEEDS = list(config["seeds"])
# which arm plays which part (config.roles): rules find arms through it, never by name
ROLES = study_config.roles(config)
BASELINE = ROLES.baseline


def reads(*paths, **extra):
    """The part of the study config a rule's script reads, as the rule's ``cfg`` param: each path a
    top-level key (``train``) or a dotted key (``train.batch_size``). Scripts read only this
    (tests/test_workflow.py checks that no script reads ``snakemake.config``), so a rule reruns
    when a key it reads changes, and a read of a key it does not declare fails with a KeyError.
    ``extra``: top-level keys given other values (a reduced ``arms``, the resolved ``roles``).
    """
    out = {}
    for path in paths:
        *parents, last = path.split(".")
        src, dst = config, out
        for key in parents:
            src, dst = src[key], dst.setdefault(key, {})
        dst[last] = copy.deepcopy(src[last])
    out.update(copy.deepcopy(extra))
    return out


def resolved_roles(**override):
    """The roles block with the baseline resolved (for a rule that gets a reduced ``arms``)."""
    return {
        "baseline": BASELINE,
        "plan_r25": None,
        "plan_r50": None,
        "controls": None,
        "frontier": None,
        **override,
    }


#: What every experiment log records of the study (analysis/template.py: log_config).
LOG_KEYS = ("study", "data.source", "model", "train")
#: What reading arms through their roles needs (config.roles: the arms, the roles block, the horizon).
ROLE_KEYS = ("arms", "roles", "hybrid.horizon")


def plan_reads(*paths):
    """``reads(paths)`` with the arms reduced to the baseline and the plan's arms (Experiments 2 and 3
    need only which predictor the plan's arms run: config.plan_predictor)."""
    plan = [a for a in (BASELINE, ROLES.plan_r50, ROLES.plan_r25) if a is not None]
    return reads(
        *paths,
        "hybrid.horizon",
        arms={a: config["arms"][a] for a in plan},
        roles=resolved_roles(plan_r25=ROLES.plan_r25, plan_r50=ROLES.plan_r50),
    )


def loso_config(name):
    """What training a leave-one-seed-out predictor reads: its settings and the horizons it predicts
    (its arms and the baseline's shadow)."""
    arms = [a for a in ARMS if study_config.loso_model_name(config, a) == name] + [
        BASELINE
    ]
    return reads(
        "model",
        "hybrid",
        "record.shadow",
        arms={a: config["arms"][a] for a in dict.fromkeys(arms)},
        roles=resolved_roles(),
    )


def train_config(arm):
    """What a training job reads: the sections of training, its own arm and the baseline (its name,
    through the roles), and for the baseline also the leave-one-seed-out arms (they decide what the
    baseline records for them); shadow mode's settings only for the arms that carry it.
    """
    arms = [arm, BASELINE]
    if arm == BASELINE:
        arms += [a for a in ARMS if study_config.loso_model_name(config, a)]
    record = copy.deepcopy(config["record"])
    if arm not in record["shadow"]["arms"]:
        record["shadow"] = {
            "arms": []
        }  # no shadows ride along: none of their settings is read
    return reads(
        "device",
        "threads",
        "model",
        "train",
        "hybrid",
        "predictors",
        "thresholds.exp3_cosine",
        record=record,
        arms={a: config["arms"][a] for a in dict.fromkeys(arms)},
        roles=resolved_roles(),
    )


wildcard_constraints:
    seed=r"\d+",
    arm="|".join(ARMS),


def run_dir(arm, seed):
    return f"{RESULTS}/runs/{arm}/seed{seed}"


def all_runs():
    return [run_dir(a, s) for a in ARMS for s in SEEDS]


def experiment_logs(name):
    return [f"{RESULTS}/experiments/{name}/seed{s}.json" for s in SEEDS]


# Exp 5 reads every predicted arm that is not a control, their skip and repeat controls and the
# baseline (analysis/exp5.py: exp5_arms)
EXP5_ARMS = exp5_arms(config)


def experiments():
    """Experiments the configured arms support (Exp 2 and 3 need the baseline's shadow records,
    Exp 4 a second arm, Exp 5 a predicted arm that is not a control)."""
    if HPO_ONLY:  # a search-only study has no plan experiment
        return []
    names = ["exp1_gradient_structure"]
    if BASELINE in config["record"]["shadow"]["arms"]:
        names += ["exp2_loss_prediction", "exp3_weight_delta"]
    if len(ARMS) > 1:
        names.append("exp4_prediction_phases")
    if EXP5_ARMS:
        names.append("exp5_correction")
    return names


EXPERIMENTS = experiments()


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
    return [run_dir(BASELINE, s) for s in SEEDS if int(s) != int(seed)]


def train_inputs(wildcards):
    """The train rule's inputs: the data, and for a leave-one-seed-out predictor's arm its model."""
    out = {"data": f"{RESULTS}/data"}
    name = study_config.loso_model_name(config, wildcards.arm)
    if name is not None:
        out[name] = loso_model(name, wildcards.seed)
    return out


def replay_inputs(wildcards):
    """The shadow_replay rule's inputs: the data, the baseline run it replays, the models."""
    out = {"data": f"{RESULTS}/data", "run": run_dir(BASELINE, wildcards.seed)}
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
    # Experiment 6's targets (hpo.smk) when the config has an hpo block
    return ([] if HPO_ONLY else plan) + (hpo_targets() if HPO else [])


def study_milestones():
    """The study records of the study's own experiments (STUDY.md section 7), merged into decisions.json
    by the statistics job (Exp 6)."""
    return [f"{RESULTS}/hpo/milestones.json"] if HPO else []


def cooldown_frontier_output():
    """The second frontier's table (stats/frontier_cooldown.csv) where the study has one
    (roles.cooldown_frontier: wsd branches of the conventional arms)."""
    if ROLES.cooldown_frontier:
        return {"frontier_cooldown": f"{RESULTS}/stats/frontier_cooldown.csv"}
    return {}


def mitigation_inputs():
    """What the mitigation's record reads beside the statistics (the data's meta: when the first job ran)."""
    return {"data": f"{RESULTS}/data"} if "mitigation" in config else {}


def mitigation_params():
    """The mitigation's declared block and the config file that declares it (config.mitigation)."""
    if "mitigation" not in config:
        return {}
    files = [str(f) for f in workflow.configfiles] or ["config/config.yaml"]
    return {"mitigation": config["mitigation"], "configfile": files[-1]}


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
