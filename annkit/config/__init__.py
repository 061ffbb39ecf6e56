"""annkit.config — the settings of a model and of a run, as checked dataclasses.

- ``model``: the model schema (``ModelConfig``: backbone, heads, input contract, evaluation protocol, runtime);
- ``train``: the train schema (``TrainConfig``: the paper's optimisation recipe, data, ``EvalConfig``);
- ``values``: the one parser between plain mappings (YAML, a checkpoint's saved config) and these dataclasses;
- ``overrides``: dotted ``key=value`` overrides from the command line.

The presets, named recipes that fill both sections, live in ``annkit.presets``.
"""

from annkit.config.model import (
    AMP_DTYPES,
    CHANNEL_ORDERS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    BackboneConfig,
    HeadConfig,
    ModelConfig,
    RuntimeConfig,
)
from annkit.config.overrides import merge, parse_overrides
from annkit.config.train import EvalConfig, LossConfig, OptimizerConfig, ScheduleConfig, TrainConfig
from annkit.errors import ConfigError

__all__ = [
    "AMP_DTYPES",
    "CHANNEL_ORDERS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "BackboneConfig",
    "ConfigError",
    "EvalConfig",
    "HeadConfig",
    "LossConfig",
    "ModelConfig",
    "OptimizerConfig",
    "RuntimeConfig",
    "ScheduleConfig",
    "TrainConfig",
    "merge",
    "parse_overrides",
]
