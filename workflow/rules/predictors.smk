# The leave-one-seed-out predictors (nowcaster, rssm_pretrained): one model per
# held-out seed, trained on the OTHER seeds' baselines (their offline training time is in each
# rule's log and benchmark, apart from any run's cost), and their shadow scores from a replay of
# the held-out seed's baseline (rule shadow_replay).


rule train_nowcaster:
    input:
        runs=lambda w: other_baselines(w.seed),
    output:
        model=f"{RESULTS}/predictors/nowcaster/seed{{seed}}.pt",
        log_json=f"{RESULTS}/predictors/nowcaster/seed{{seed}}.json",
    log:
        f"{RESULTS}/logs/train_nowcaster/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_nowcaster/seed{{seed}}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        cfg=loso_config("nowcaster"),
    script:
        "../scripts/train_predictor.py"


rule train_rssm_pretrained:
    input:
        runs=lambda w: other_baselines(w.seed),
    output:
        model=f"{RESULTS}/predictors/rssm_pretrained/seed{{seed}}.pt",
        log_json=f"{RESULTS}/predictors/rssm_pretrained/seed{{seed}}.json",
    log:
        f"{RESULTS}/logs/train_rssm_pretrained/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_rssm_pretrained/seed{{seed}}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        cfg=loso_config("rssm_pretrained"),
    script:
        "../scripts/train_predictor.py"


rule shadow_replay:
    input:
        unpack(replay_inputs),
    output:
        directory(f"{RESULTS}/shadow_replay/seed{{seed}}"),
    log:
        f"{RESULTS}/logs/shadow_replay/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/shadow_replay/seed{{seed}}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: train_threads()
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        cfg=train_config(BASELINE),
    script:
        "../scripts/shadow_replay.py"
