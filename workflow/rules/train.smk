rule train:
    input:
        unpack(train_inputs),
    output:
        directory(f"{RESULTS}/runs/{{arm}}/seed{{seed}}"),
    log:
        f"{RESULTS}/logs/train/{{arm}}_seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{arm}}_seed{{seed}}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: train_threads()
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        cfg=lambda w: train_config(w.arm),
    script:
        "../scripts/train.py"


rule calibrate:
    input:
        data=f"{RESULTS}/data",
    output:
        CALIBRATION,
    log:
        f"{RESULTS}/logs/calibrate.log",
    benchmark:
        f"{RESULTS}/benchmarks/calibrate.tsv"
    conda:
        "../../envs/train.yaml"
    threads: all_cores()
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cfg=reads(
            "device",
            "threads",
            "data",
            "model",
            "train",
            "record",
            "hybrid",
            "arms",
            "predictors",
            "calibration",
        ),
    script:
        "../scripts/calibrate.py"
