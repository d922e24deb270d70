"""The on-disk formats of a run and their writers and readers, below both training and analysis.

``jsonl`` (metrics and events logs), ``gradients`` (gradient and update records), ``sketch`` (the
random projection that sketched records use), ``tensor_norms``, ``snapshots`` (weight
snapshots), ``integrity`` (sha256 manifests, checked loading), ``summary`` (``summary.json`` and
the runs table), ``shadow`` (``shadow.jsonl``, the shadow-mode records). Training writes these files, analysis and the report read them; neither imports
the other.
"""
