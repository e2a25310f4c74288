"""Shared behaviour of the model config dataclasses: plain values in, plain values out."""

from __future__ import annotations

import dataclasses
from typing import Any


class PlainConfig:
    """Mixin for a config dataclass whose fields hold only int, float, str, bool or tuples of them.

    `to_dict()` gives JSON- and `torch.load(weights_only=True)`-safe values (tuples become
    lists); `from_dict()` accepts that back, turning lists into tuples and rejecting unknown
    keys with one sentence.
    """

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None):
        values = dict(values or {})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(
                f"Unknown setting(s) {', '.join(unknown)} for {cls.__name__}; known settings are {', '.join(sorted(names))}."
            )
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def _plain(v):
    return [_plain(x) for x in v] if isinstance(v, (tuple, list)) else v
