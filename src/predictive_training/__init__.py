"""Predictive training study: can a learned dynamics model skip whole phases of backward passes?

One folder per concept; each part imports only from the parts listed after it (checked by
import-linter, ``pyproject.toml``):

- ``cli``: the command line (``python -m predictive_training validate|prepare|train``).
- ``report``: figures, the HTML and PDF reports, their assembly with provenance; a study's committed
  findings (``findings/<study>/``) and ``FINDINGS.md``.
- ``stats``: tests over seeds (bootstrap, t, TOST, Bonferroni), test rows per experiment, decisions.
- ``analysis`` and ``training`` (neither imports the other): one module per experiment, on
  recorded runs; the trainers (conventional, hybrid phase machine, controls), recorders, checkpoints.
- ``dynamics``: the Predictor protocol, the simple predictors, the RSSM-lite, the corrector.
- ``model`` (the GPT) and ``records`` (the on-disk formats, readers and writers).
- ``data``: text sources, synthetic stories, byte-level BPE, token arrays.
- ``config`` (load and validate a study config, torch-free), ``phase_plan`` (the nominal phase
  schedule, torch-free), ``io`` (atomic files).

Design notes: ``docs/design.md``.
"""

__version__ = "0.1.0"
