"""Models: equivariant (escnn) and plain-CNN autoencoders and classifiers, by registry name."""

from core.models.features import FeatureMap
from core.models.registry import CONFIGS, MODEL_NAMES, build_model, make_config, model_kind

__all__ = ["CONFIGS", "MODEL_NAMES", "FeatureMap", "build_model", "make_config", "model_kind"]
