"""Experiment logs in the plan's appendix-7 template: what every ``exp<N>`` module writes.

Every ``experiments/exp<N>_<name>/seed<k>.json`` holds ``experiment_id``, ``hypothesis``,
``date``, ``seed``, ``config``, ``results``, ``conclusion`` and ``next_steps``. ``results``
carries a ``criteria`` mapping, each ``{estimate, threshold, passed}``; the conclusion says PASS
only when every evaluable criterion passed, and names the ones that failed or could not be
evaluated. These per-seed verdicts are descriptive; the study's decisions come from the
statistics over seeds (:mod:`predictive_training.stats`).
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from ..io import write_json

EXPERIMENTS = {
    1: ("exp1_gradient_structure", "H1", "gradient structure"),
    2: ("exp2_loss_prediction", "H1", "loss prediction"),
    3: ("exp3_weight_delta", "H1", "weight-delta prediction"),
    4: ("exp4_prediction_phases", "H2", "prediction-phase training"),
    5: ("exp5_correction", "H3", "correction effectiveness"),
    # the plan's pivot (Risks 2 and 4), a study experiment with its own declared rule
    6: ("exp6_hyperparameter_search", "pivot (H1 applied: loss prediction for early stopping)",
        "loss prediction for early stopping in a hyperparameter search"),
}

NEXT_STEPS = {
    1: ("Proceed to Experiment 2 (loss prediction)",
        "Risk 1 (gradients not predictable): try other architectures or optimizers, shorter horizons"),
    2: ("Proceed to Experiment 3 (weight-delta prediction)",
        "Decision 1: refine the dynamics model (R^2 0.70-0.85) or pivot (R^2 < 0.70)"),
    3: ("Proceed to Experiment 5, then Experiment 4 (hybrid training)",
        "Risk 2 (weight deltas not predictable): predict only the loss; use it for early stopping"),
    4: ("Scale up (Decision 2)",
        "Decision 2: optimize the implementation (speedup < 2x) or increase correction frequency (quality)"),
    5: ("Prepare the production validation (Milestone 5)",
        "Risk 3 (prediction errors compound): increase correction frequency, shorten the horizon, "
        "add a confidence-based fallback"),
    6: ("Use the confirmatory pruner in the study's own sweeps; repeat the sweep at a larger scale",
        "Keep the standard schedulers (Hyperband) for the search; document the pivot's negative result"),
}


def model_label(cfg: dict, n_params: int | None = None) -> str:
    m = cfg["model"]
    size = f"{n_params / 1e6:.2f}M" if n_params else "?"
    return f"GPT {size} params ({m['n_layer']}x{m['d_model']}, ctx {m['context']})"


def log_config(cfg: dict, n_params: int | None = None, **extra) -> dict:
    return {
        "model_size": model_label(cfg, n_params),
        "dataset": cfg["data"]["source"],
        "steps": cfg["train"]["steps"],
        "study": cfg["study"],
        **extra,
    }


def conclusion(criteria: dict) -> tuple[str, bool | None]:
    failed = [k for k, c in criteria.items() if c.get("passed") is False]
    unknown = [k for k, c in criteria.items() if c.get("passed") is None]
    if failed:
        return f"FAIL - criteria not met: {', '.join(failed)}", False
    if unknown and len(unknown) == len(criteria):
        return f"NOT EVALUATED - {', '.join(unknown)}", None
    note = f" (not evaluable: {', '.join(unknown)})" if unknown else ""
    return f"PASS - all evaluable criteria met{note}", True


def write_log(number: int, seed: int, config: dict, results: dict, out_path: str | Path) -> dict:
    exp_id, hypothesis, _ = EXPERIMENTS[number]
    text, ok = conclusion(results.get("criteria", {}))
    log = {
        "experiment_id": exp_id,
        "hypothesis": hypothesis,
        "date": _dt.date.today().isoformat(),
        "seed": seed,
        "config": config,
        "results": results,
        "conclusion": text,
        "next_steps": NEXT_STEPS[number][0] if ok else NEXT_STEPS[number][1],
    }
    write_json(out_path, log, strict=True)  # experiment logs are strict JSON: null, never NaN
    return log
