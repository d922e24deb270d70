"""The experiments: one module per experiment of the plan, on recorded runs, each writing its logs.

``exp1`` ... ``exp5`` (entry points ``run_exp<N>``), ``gradient_structure`` (Experiment 1's
analysis), ``features`` (what Experiments 2 and 3 read from a run), ``template`` (the plan's
appendix-7 log). Analysis reads run folders through :mod:`predictive_training.records` and never
imports the trainer.
"""
