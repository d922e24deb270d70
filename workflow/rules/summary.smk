localrules:
    summarize_runs,


rule summarize_runs:
    input:
        runs=all_runs(),
        calibration=CALIBRATION,
    output:
        report(
            f"{RESULTS}/runs/summary.csv",
            caption="../report/runs.rst",
            category="Runs",
        ),
    log:
        f"{RESULTS}/logs/summarize_runs.log",
    benchmark:
        f"{RESULTS}/benchmarks/summarize_runs.tsv"
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/summarize_runs.py"
