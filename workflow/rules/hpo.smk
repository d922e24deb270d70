# Experiment 6: the plan's pivot, loss prediction for early stopping in a hyperparameter
# search. Its rules join the DAG only through hpo_targets() (hpo_common.smk), which rule all requests
# when the config has an hpo block (common.smk: HPO, HPO_ONLY). docs/hpo.md describes the experiment.
rule hpo_train:
    input:
        data=f"{RESULTS}/data",
    output:
        directory(f"{HPO_DIR}/runs/{{point}}/seed{{seed}}"),
    log:
        f"{RESULTS}/logs/hpo_train/{{point}}_seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/hpo_train/{{point}}_seed{{seed}}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: train_threads()
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        trial=lambda w: study_config.hpo_trial_config(config, w.point),
    script:
        "../scripts/hpo_train.py"


checkpoint hpo_top:
    input:
        runs=hpo_sweep_runs(),
    output:
        f"{HPO_DIR}/top.json",
    log:
        f"{RESULTS}/logs/hpo_top.log",
    benchmark:
        f"{RESULTS}/benchmarks/hpo_top.tsv"
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        points=HPO_POINTS,
        top=config["hpo"]["seed_noise"]["top"] if HPO else 0,
    script:
        "../scripts/hpo_top.py"


rule hpo_curves:
    input:
        runs=hpo_sweep_runs(),
    output:
        f"{HPO_DIR}/curves.json",
    log:
        f"{RESULTS}/logs/hpo_curves.log",
    benchmark:
        f"{RESULTS}/benchmarks/hpo_curves.tsv"
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        points=study_config.hpo_points(config) if HPO else {},
        seed=config["hpo"]["seed"] if HPO else 0,
    script:
        "../scripts/hpo_curves.py"


rule hpo_second_seed:
    input:
        runs=hpo_second_seed_runs,
    output:
        f"{HPO_DIR}/second_seed.json",
    log:
        f"{RESULTS}/logs/hpo_second_seed.log",
    benchmark:
        f"{RESULTS}/benchmarks/hpo_second_seed.tsv"
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        points=study_config.hpo_points(config) if HPO else {},
        seed=config["hpo"]["seed_noise"]["seed"] if HPO else 1,
        top=hpo_top_points,
    script:
        "../scripts/hpo_curves.py"


rule hpo_replay:
    input:
        curves=f"{HPO_DIR}/curves.json",
    output:
        replay=f"{HPO_DIR}/replay.csv",
        resamples=f"{HPO_DIR}/resamples.csv",
        predictions=f"{HPO_DIR}/predictions.csv",
        exp2=f"{HPO_DIR}/exp2.csv",
    log:
        f"{RESULTS}/logs/hpo_replay.log",
    benchmark:
        f"{RESULTS}/benchmarks/hpo_replay.tsv"
    conda:
        "../../envs/report.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        policies=study_config.hpo_policies(config) if HPO else {},
        confirmatory=study_config.hpo_confirmatory(config) if HPO else "",
        laws=config["hpo"]["policies"]["predictive"]["laws"] if HPO else [],
        replay=config["hpo"]["replay"] if HPO else {},
        predictors=config["hpo"]["predictors"] if HPO else {},
    script:
        "../scripts/hpo_replay.py"


rule hpo_live:
    input:
        data=f"{RESULTS}/data",
    output:
        db=f"{HPO_DIR}/live/{{policy}}.db",
        record=f"{HPO_DIR}/live/{{policy}}.json",
    log:
        f"{RESULTS}/logs/hpo_live/{{policy}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/hpo_live/{{policy}}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: train_threads()
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        trials={p: study_config.hpo_trial_config(config, p) for p in HPO_POINTS},
        hpo=config.get("hpo", {}),
        spec=lambda w: study_config.hpo_policies(config)[w.policy],
    script:
        "../scripts/hpo_live.py"


rule hpo_statistics:
    input:
        curves=f"{HPO_DIR}/curves.json",
        second_seed=f"{HPO_DIR}/second_seed.json",
        replay=f"{HPO_DIR}/replay.csv",
        resamples=f"{HPO_DIR}/resamples.csv",
        predictions=f"{HPO_DIR}/predictions.csv",
        exp2=f"{HPO_DIR}/exp2.csv",
        live=[f"{HPO_DIR}/live/{p}.json" for p in HPO_LIVE],
    output:
        tests=f"{HPO_DIR}/tests.csv",
        milestones=f"{HPO_DIR}/milestones.json",
        agreement=f"{HPO_DIR}/live_agreement.json",
        policies=f"{RESULTS}/stats/exp6_policies.csv",
        predictions=f"{RESULTS}/stats/exp6_predictions.csv",
        exp2=f"{RESULTS}/stats/exp6_exp2.csv",
        log=f"{RESULTS}/experiments/exp6_hyperparameter_search/seed{config['hpo']['seed'] if HPO else 0}.json",
    log:
        f"{RESULTS}/logs/hpo_statistics.log",
    benchmark:
        f"{RESULTS}/benchmarks/hpo_statistics.tsv"
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        study=config["study"],
        hpo=config.get("hpo", {}),
        thresholds=config["thresholds"],
        policies=study_config.hpo_policies(config) if HPO else {},
        configfile=hpo_config_file(),
    script:
        "../scripts/hpo_statistics.py"


rule hpo_report:
    input:
        rules.hpo_statistics.output,
    output:
        html=f"{RESULTS}/report/exp6.html",
        pdf=f"{RESULTS}/report/exp6.pdf",
        figures=directory(f"{HPO_DIR}/figures"),
    log:
        f"{RESULTS}/logs/hpo_report.log",
    benchmark:
        f"{RESULTS}/benchmarks/hpo_report.tsv"
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        cfg=config,
        results=lambda w, output: str(Path(output.html).parent.parent),
    script:
        "../scripts/hpo_report.py"
