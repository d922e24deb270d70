"""The study's report: figures, a self-contained HTML page and a PDF, assembled with provenance.

``figures`` (every figure from the run folders and experiment logs), ``context`` (what the report
shows, the shared formatting), ``html`` (``report.html``: jinja2 template, CSS inline, figures as
base64 ``data:`` URIs, no external fonts, scripts or links), ``pdf`` (``report.pdf``: reportlab,
A4 landscape, extractable text), ``shadow`` (the shadow-mode section: table and the sentence on
H1/H2), ``build`` (the assembly from the study's outputs, with provenance), ``findings`` (a study's
committed summary, ``findings/<study>/``, from its results folder) and ``findings_index``
(``FINDINGS.md``: every study's verdicts, the leaderboard against the frontier, the performance
profile). Templates in ``templates/``. The report reads records, logs and the statistics;
it imports neither the trainer nor the dynamics models.
"""
