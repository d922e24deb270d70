rule exp1_gradient_structure:
    input:
        run=run_dir(BASELINE, "{seed}"),
    output:
        f"{RESULTS}/experiments/exp1_gradient_structure/seed{{seed}}.json",
    log:
        f"{RESULTS}/logs/exp1/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/exp1/seed{{seed}}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cfg=reads(*LOG_KEYS, "thresholds", "record"),
    script:
        "../scripts/exp1.py"


rule exp4_prediction_phases:
    input:
        unpack(lambda w: {arm: run_dir(arm, w.seed) for arm in ARMS}),
        calibration=CALIBRATION,
    output:
        f"{RESULTS}/experiments/exp4_prediction_phases/seed{{seed}}.json",
    log:
        f"{RESULTS}/logs/exp4/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/exp4/seed{{seed}}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        cfg=reads(*LOG_KEYS, *ROLE_KEYS, "thresholds", "frontier"),
    script:
        "../scripts/exp4.py"


rule exp5_correction:
    input:
        unpack(lambda w: {arm: run_dir(arm, w.seed) for arm in EXP5_ARMS}),
    output:
        f"{RESULTS}/experiments/exp5_correction/seed{{seed}}.json",
    log:
        f"{RESULTS}/logs/exp5/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/exp5/seed{{seed}}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        cfg=reads(*LOG_KEYS, *ROLE_KEYS, "thresholds"),
    script:
        "../scripts/exp5.py"


rule exp2_loss_prediction:
    input:
        run=run_dir(BASELINE, "{seed}"),
    output:
        f"{RESULTS}/experiments/exp2_loss_prediction/seed{{seed}}.json",
    log:
        f"{RESULTS}/logs/exp2/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/exp2/seed{{seed}}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        cfg=plan_reads(*LOG_KEYS, "thresholds", "dynamics", "hybrid.rssm", "seeds"),
    script:
        "../scripts/exp2.py"


rule exp3_weight_delta:
    input:
        run=run_dir(BASELINE, "{seed}"),
        replay=lambda w: replay_dir(w.seed),
    output:
        f"{RESULTS}/experiments/exp3_weight_delta/seed{{seed}}.json",
    log:
        f"{RESULTS}/logs/exp3/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/exp3/seed{{seed}}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        cfg=plan_reads(*LOG_KEYS, "thresholds", "dynamics", "record.shadow"),
    script:
        "../scripts/exp3.py"
