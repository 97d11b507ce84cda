"""Action models: generative models of the dataset's actions that the latent agents act through.

`MODELS` is the one table of them, by the name the registry, the config and the cache use. Adding a decoder
means a module here with an `ActionModel` subclass (its `kind`, `config_class` and `build`) and one entry below.
"""

from __future__ import annotations

from cnfrl.errors import CnfrlError
from cnfrl.models.base import ActionModel
from cnfrl.models.flow import FlowConfig, FlowModel
from cnfrl.models.vae import VAEConfig, VAEModel

MODELS: dict[str, type[ActionModel]] = {model.kind: model for model in (FlowModel, VAEModel)}

__all__ = ["MODELS", "ActionModel", "FlowConfig", "FlowModel", "VAEConfig", "VAEModel", "model_class"]


def model_class(kind: str) -> type[ActionModel]:
    """The action model called `kind`; a one-line error lists the known ones."""
    if kind not in MODELS:
        raise CnfrlError(f"{kind}: unknown action model; choose one of {', '.join(MODELS)}")
    return MODELS[kind]
