"""Training configuration: the run's settings, the command line, and checkpoint configs of older runs."""

from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass, field

from ..zoo import manifest as zoo

DEFAULT_QUALITY_RANGE = {1: (20, 90), 2: (0, 70), 4: (0, 90), 10: (10, 95)}
_LEGACY_ARCH_KEYS = ("width", "blocks", "transpose")  # flat architecture keys of checkpoints before the registry


@dataclass
class TrainConfig:
    scale: int = 4
    arch: str = "fast"
    arch_config: dict = field(default_factory=dict)
    """The architecture's own settings (its dataclass fields, e.g. width and blocks); missing ones take its defaults."""
    data: list[str] = field(default_factory=list)
    val: str | None = None
    val_codec: str | None = None
    patch: int = 96
    batch: int = 16
    loss: str = "l1"
    vgg_weights: str | None = None
    lr: float = 1e-3
    lr_min: float = 1e-5
    minutes: float = 30.0
    inner: str = "avif"
    quality_min: int = 0
    quality_max: int = 90
    variants: int = 4
    clean_fraction: float = 0.25
    seed: int = 0
    role: str = "codec"
    init_from: dict | None = None

    def architecture(self):
        """The registered architecture with this run's settings (imports Keras)."""
        from ..nn.architectures import by_name

        return by_name(self.arch).from_config(self.arch_config)

    @classmethod
    def from_saved(cls, saved: dict) -> TrainConfig:
        """A config as ``state.json`` holds it, including those of runs before the architecture registry."""
        saved = dict(saved)
        legacy = {key: saved.pop(key) for key in _LEGACY_ARCH_KEYS if key in saved}
        saved.setdefault("arch_config", {})
        saved["arch_config"] = {**legacy, **saved["arch_config"]}
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in saved.items() if key in known})


def _add_architecture_options(p: argparse.ArgumentParser) -> dict[str, set[str]]:
    """One ``--<field>`` option per field of every registered architecture; returns {arch name: its fields}."""
    from ..nn import architectures

    fields_of: dict[str, set[str]] = {}
    added: set[str] = set()
    for name in architectures.names():
        cls = architectures.by_name(name)
        fields_of[name] = set()
        for f in dataclasses.fields(cls):
            fields_of[name].add(f.name)
            if f.name in added:
                continue
            added.add(f.name)
            flag = "--" + f.name.replace("_", "-")
            if f.type in (bool, "bool"):
                p.add_argument(flag, action="store_true", default=None, help=f"{name}: {f.name} (default {f.default})")
            else:
                kind = {"int": int, "float": float}.get(f.type if isinstance(f.type, str) else f.type.__name__, str)
                p.add_argument(flag, type=kind, default=None, help=f"{name}: {f.name} (default {f.default})")
    return fields_of


def parse_args(argv: list[str] | None = None) -> tuple[TrainConfig, argparse.Namespace]:
    from ..nn import architectures

    p = argparse.ArgumentParser(prog="python -m sr_codec.train", description="Train a decoder network.")
    p.add_argument("--scale", type=int, default=4, choices=[1, 2, 4, 10])
    p.add_argument("--arch", default="fast", choices=architectures.names())
    fields_of = _add_architecture_options(p)
    p.add_argument("--data", nargs="+", default=["../shared/data/train"])
    p.add_argument("--val", default="../shared/data/val", help="folder holding Set5/ (and BSD100/) for validation")
    p.add_argument("--val-codec", default="avif")
    p.add_argument("--patch", type=int, default=None, help="HR patch side (default 96, 64 at x2, 160 at x10)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--loss", default="l1", choices=["l1", "mse", "ms-ssim", "perceptual"])
    p.add_argument("--vgg-weights", default=None)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--minutes", type=float, default=30.0, help="training time budget (total, across resumes)")
    p.add_argument("--inner", default="avif")
    p.add_argument("--quality-range", type=int, nargs=2, default=None)
    p.add_argument("--variants", type=int, default=4, help="codec-degraded versions cached per image")
    p.add_argument("--clean-fraction", type=float, default=0.25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--role", default="codec", choices=sorted(zoo.ROLES),
                   help="codec: learn to undo downsampling + inner-codec artifacts (decode's model); "
                        "clean: clean low-res only (upscale()'s model; implies --clean-fraction 1 --variants 0)")
    p.add_argument("--init-from", default=None,
                   help="checkpoint folder of the same architecture to start from (fresh optimizer and schedule)")
    p.add_argument("--checkpoint-dir", default=None, help="default: checkpoints/<arch>_x<scale>[_clean]")
    p.add_argument("--checkpoint-minutes", type=float, default=5.0)
    p.add_argument("--cache-dir", default=os.path.expanduser("~/.cache/sr_codec"))
    p.add_argument("--resume", action="store_true")
    p.add_argument("--overwrite", action="store_true",
                   help="start afresh over an existing checkpoint of another run (default: refuse)")
    p.add_argument("--export", action="store_true", help="export weights + manifest when training ends")
    p.add_argument("--export-only", action="store_true", help="export the checkpoint without training")
    p.add_argument("--weights-dir", default=str(zoo.WEIGHTS_DIR))
    # Several devices (train/distribute.py); without --strategy the single-device loop runs.
    p.add_argument("--strategy", default=None, choices=["default", "mirrored", "multiworker"],
                   help="tf.distribute strategy; --batch becomes the per-replica batch")
    p.add_argument("--logical-cpus", type=int, default=None, help="mirrored: split the CPU into N logical devices")
    p.add_argument("--lr-scaling", default="linear", choices=["linear", "sqrt", "none"],
                   help="with --strategy: scale --lr by the replica count (linear), its square root, or not")
    p.add_argument("--steps", type=int, default=None,
                   help="with --strategy: stop at this total step count (cosine over steps instead of --minutes)")
    a = p.parse_args(argv)
    if a.steps and not a.strategy:
        raise SystemExit("--steps needs --strategy (default|mirrored|multiworker); without it --minutes is the budget")
    all_fields = set().union(*fields_of.values())
    stray = sorted(f for f in all_fields - fields_of[a.arch] if getattr(a, f) is not None)
    if stray:
        p.error(f"--{', --'.join(stray)} does not apply to --arch {a.arch}")
    arch_config = {f: getattr(a, f) for f in fields_of[a.arch] if getattr(a, f) is not None}
    arch_config = architectures.by_name(a.arch).from_config(arch_config).get_config()
    qmin, qmax = a.quality_range or DEFAULT_QUALITY_RANGE[a.scale]
    patch = a.patch or {2: 64, 10: 160}.get(a.scale, 96)
    cfg = TrainConfig(scale=a.scale, arch=a.arch, arch_config=arch_config,
                      data=a.data, val=a.val, val_codec=a.val_codec, patch=patch, batch=a.batch, loss=a.loss,
                      vgg_weights=a.vgg_weights, lr=a.lr, minutes=a.minutes, inner=a.inner, quality_min=qmin,
                      quality_max=qmax, variants=0 if a.role == "clean" else a.variants,
                      clean_fraction=1.0 if a.role == "clean" else a.clean_fraction, seed=a.seed, role=a.role)
    return cfg, a
