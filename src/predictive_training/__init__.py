"""Predictive training study: can a learned dynamics model skip whole phases of backward passes?

Modules, in the order the study uses them:

- ``config``: load and validate a study config (JSON schema, defaults filled in).
- ``data``: synthetic stories, local and Hugging Face sources, byte-level BPE, token arrays.
- ``model``: a small GPT-style decoder.
- ``training``: the conventional trainer and its recording observers.
"""

__version__ = "0.1.0"
