rule prepare_data:
    output:
        directory(f"{RESULTS}/data"),
    log:
        f"{RESULTS}/logs/prepare_data.log",
    benchmark:
        f"{RESULTS}/benchmarks/prepare_data.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cfg=reads("data", "train.batch_size", "model.context"),
    script:
        "../scripts/prepare_data.py"
