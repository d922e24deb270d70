"""RSSM-lite: a small recurrent state-space model of training dynamics, one module per concept.

- :mod:`.features`: the observation of one full training step (:func:`step_features`);
- :mod:`.config`: its hyper-parameters (:class:`RSSMConfig`);
- :mod:`.basis`: the direction basis of recent updates that weight deltas are predicted on
  (:class:`DirectionBasis`);
- :mod:`.replay`: the replay buffer of observed steps and the windows the online training uses
  (:class:`Replay`; its schedule :func:`window_starts`, :func:`online_train_runs`);
- :mod:`.model`: the model and its online training (:class:`RSSMLite`);
- :mod:`.rollout`: one aggregate Y-step prediction (:class:`Rollout`);
- :mod:`.predictor`: the predictor of the study, registry name ``rssm`` (:class:`RSSMPredictor`).

Everything public is re-exported here: ``from predictive_training.dynamics.rssm import RSSMLite``.
"""

from .basis import DirectionBasis
from .config import RSSMConfig
from .features import GRAD_NORM_COL, LOSS_COL, LR_COL, N_GLOBAL_FEATURES, STEP_COL, feature_names, step_features
from .model import RSSMLite
from .predictor import RSSMPredictor
from .replay import STREAM_KEYS, Replay, forecast_starts, online_train_runs, window_starts
from .rollout import Rollout

__all__ = [
    "RSSMConfig",
    "RSSMLite",
    "RSSMPredictor",
    "Replay",
    "STREAM_KEYS",
    "window_starts",
    "forecast_starts",
    "online_train_runs",
    "DirectionBasis",
    "Rollout",
    "step_features",
    "feature_names",
    "LOSS_COL",
    "GRAD_NORM_COL",
    "LR_COL",
    "STEP_COL",
    "N_GLOBAL_FEATURES",
]
