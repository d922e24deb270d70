"""Predictors of training dynamics and the correction of their errors; nothing here trains a model.

``protocol`` (what a trainer needs from a predictor: ``Predictor``, ``Observation``,
``PredictedPhase``), ``simple`` (predictors that need no learning, of losses and of weight
deltas, and the span oracle's projection), ``rssm`` (the RSSM-lite dynamics model and its ``Predictor`` adapter), ``corrector``
(the per-layer line search after a Predict phase), ``scores`` (how close a prediction came).
"""
