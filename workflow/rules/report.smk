localrules:
    statistics,
    figures,
    study_report,


rule statistics:
    input:
        **mitigation_inputs(),
        logs=all_experiment_logs(),
        study=study_milestones(),
        study_tests=study_tests(),
    output:
        **cooldown_frontier_output(),
        tests=report(
            f"{RESULTS}/stats/tests.csv",
            caption="../report/tests.rst",
            category="Statistics",
        ),
        decisions=report(
            f"{RESULTS}/decisions.json",
            caption="../report/decisions.rst",
            category="Decisions",
        ),
        frontier=f"{RESULTS}/stats/frontier.csv",
    log:
        f"{RESULTS}/logs/statistics.log",
    benchmark:
        f"{RESULTS}/benchmarks/statistics.tsv"
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        **mitigation_params(),
        cfg=reads("thresholds"),
    script:
        "../scripts/statistics.py"


rule figures:
    input:
        runs=all_runs(),
        logs=all_experiment_logs(),
        calibration=CALIBRATION,
    output:
        figures=report(
            directory(f"{RESULTS}/figures"),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="Figures",
        ),
    log:
        f"{RESULTS}/logs/figures.log",
    benchmark:
        f"{RESULTS}/benchmarks/figures.tsv"
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        cfg=reads("study", "seeds", *ROLE_KEYS),
    script:
        "../scripts/figures.py"


rule study_report:
    input:
        **cooldown_frontier_output(),
        data=f"{RESULTS}/data",
        tests=f"{RESULTS}/stats/tests.csv",
        decisions=f"{RESULTS}/decisions.json",
        figures=f"{RESULTS}/figures",
        runs=f"{RESULTS}/runs/summary.csv",
        frontier=f"{RESULTS}/stats/frontier.csv",
        shadow_logs=shadow_logs(),
    output:
        html=report(
            f"{RESULTS}/report/report.html",
            caption="../report/report.rst",
            category="Report",
        ),
        pdf=report(
            f"{RESULTS}/report/report.pdf",
            caption="../report/report.rst",
            category="Report",
        ),
    log:
        f"{RESULTS}/logs/study_report.log",
    benchmark:
        f"{RESULTS}/benchmarks/study_report.tsv"
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        # the whole config: the report records it (provenance; findings finds the study's config by it)
        cfg=reads(*config),
    script:
        "../scripts/study_report.py"
