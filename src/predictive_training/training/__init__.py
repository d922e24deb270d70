"""Training: the conventional trainer, the hybrid phase machine and its controls, recording, resumption.

``loop`` (Trainer, Observer, StepInfo, the learning-rate schedule), ``hybrid`` (Warmup, then cycles
of Full, Predict, Correct; the gate; the matched control), ``position`` (where the phase machine
stands, for checkpoints), ``guard`` (the divergence guard), ``checkpoint`` (atomic, checked
checkpoints), ``observers`` (the recorders), ``shadow`` (shadow mode: predictors scored on a
conventional run's real steps), ``energy`` (the energy meter), ``run`` (one job:
``make_trainer``, ``run_training``). Design notes: ``docs/design.md``.
"""
