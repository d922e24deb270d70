# The predictive-training study. Declarative only: config, validation, includes, targets.
# Run: snakemake --cores all                      (config/config.yaml, results/default/)
#      snakemake --cores all --configfile config/smoke.yaml
# The config is read in workflow/rules/common.smk: config/config.yaml when no --configfile is
# given, else only the given file(s) (no silent merge with the default), then validated.
from snakemake.utils import min_version

min_version("9.0")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/hpo_common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/predictors.smk"
include: "workflow/rules/summary.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/hpo.smk"


rule all:
    default_target: True
    input:
        all_targets(),
