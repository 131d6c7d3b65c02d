"""The architecture registry: one class per network family, its fields being the family's config.

An architecture is a frozen dataclass subclassing :class:`Architecture`: its fields are the
hyper-parameters stored in the manifest (``get_config``) and offered as ``--field`` options by
``python -m sr_codec.train``; :meth:`Architecture.build` makes the Keras model for a scale.
Its module registers it with :func:`register`. This module itself imports no Keras.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from ...errors import ModelError

_REGISTRY: dict[str, type[Architecture]] = {}


@dataclasses.dataclass(frozen=True)
class Architecture:
    """Base class of a registered network family (subclasses are frozen dataclasses)."""

    name: ClassVar[str] = ""
    becomes_default: ClassVar[bool] = True
    """Whether exporting a trained model makes it its scale's default (False for reference models)."""

    def build(self, scale: int):
        """An untrained Keras model upscaling by ``scale``: float32 [N, h, w, 3] in 0..1 -> [N, h*s, w*s, 3]."""
        raise NotImplementedError

    def tag(self) -> str:
        """A short text naming the config in model ids (``fast-x4-<tag>-<hash>``)."""
        raise NotImplementedError

    def get_config(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config: dict) -> Architecture:
        """The architecture of a manifest or checkpoint config; keys that are not fields of ``cls`` are ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in config.items() if key in known})


def register(cls: type[Architecture]) -> type[Architecture]:
    """Class decorator: make ``cls`` available as ``by_name(cls.name)``."""
    if not cls.name or cls.name in _REGISTRY:
        raise ValueError(f"architecture name {cls.name!r} is empty or taken")
    _REGISTRY[cls.name] = cls
    return cls


def names() -> list[str]:
    return sorted(_REGISTRY)


def by_name(name: str) -> type[Architecture]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ModelError(f"unknown architecture {name!r}; registered: {names()}") from None


def from_manifest(info: dict) -> Architecture:
    """The architecture (with its config) of a manifest entry."""
    return by_name(info["arch"]).from_config(info.get("config", {}))
