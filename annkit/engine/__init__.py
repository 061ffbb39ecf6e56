"""annkit.engine — training, evaluation and prediction with the paper's recipe (Zhu et al. 2019, Sec. 4.1).

- ``resolve`` (``annkit.presets``): a preset + ``key=value`` overrides → checked model and train configs
  (``annkit.config``: SGD, poly LR, OHEM, aux weight 0.4, …);
- ``trainer.train``: the iteration-based loop (AMP, clipping, evaluation, best model, atomic checkpoints, resume);
- ``evaluate``: whole-image / sliding-window inference, multi-scale + flip, mIoU from a confusion matrix;
- ``predict``: palette PNGs and overlays for images; ``distributed``: DDP through torchrun;
- ``launch.train_runs``: several trainings at once, one single-thread ``annkit train`` process each;
- ``quickstart``: the synthetic long-range experiment, ANN vs the local baseline, with a report.
Only ``annkit.cli`` imports this package.
"""

from annkit.config import ConfigError, EvalConfig, TrainConfig, parse_overrides
from annkit.engine.evaluate import evaluate, predict_probabilities
from annkit.engine.metrics import ConfusionMatrix
from annkit.engine.trainer import TrainingError, read_metrics, train
from annkit.presets import resolve

__all__ = [
    "ConfigError",
    "ConfusionMatrix",
    "EvalConfig",
    "TrainConfig",
    "TrainingError",
    "evaluate",
    "parse_overrides",
    "predict_probabilities",
    "read_metrics",
    "resolve",
    "train",
]
