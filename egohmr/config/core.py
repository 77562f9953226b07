"""Generic machinery for typed configs.

A config is a (nested) frozen dataclass. Values are resolved in this order: the dataclass defaults (or a named
preset) <- a YAML file of overrides <- `--set a.b=value` overrides. Unknown keys are errors that list the valid
keys at that level; values are type-checked against the field annotations (`Literal[...]` choices included).
Configs are written as plain YAML with sorted keys and read back only with `yaml.safe_load`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

C = TypeVar("C")


class ConfigError(ValueError):
    """A config file or override names an unknown key or holds a value of the wrong type."""


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Check `value` against a type annotation and convert it (e.g. list -> tuple, int -> float)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping for {annotation.__name__}, got {value!r}")
        return config_from_dict(annotation, value, prefix=where)
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in args:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"{where}: {value!r} matches none of {args}: {'; '.join(errors)}")
    if origin is tuple:
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}")
        return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, str):  # PyYAML reads "1e-4" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                raise ConfigError(f"{where}: expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if annotation is Path:
        if not isinstance(value, str | Path):
            raise ConfigError(f"{where}: expected a path, got {value!r}")
        return Path(value)
    raise ConfigError(f"{where}: unsupported config type {annotation!r}")


def config_from_dict(cls: type[C], data: Mapping[str, Any], prefix: str = "") -> C:
    """Build dataclass `cls` from a mapping; missing keys keep their defaults, unknown keys raise ConfigError."""
    types_by_name = _field_types(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        where = prefix or cls.__name__
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys: {names}")
    values = {
        name: _coerce(value, types_by_name[name], f"{prefix}.{name}" if prefix else name)
        for name, value in data.items()
    }
    return cls(**values)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Plain, YAML-safe dict of a config (tuples -> lists, paths -> strings)."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if isinstance(value, Path):
            return str(value)
        return value

    return plain(cfg)


def config_to_yaml(cfg: Any) -> str:
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=True)


def config_hash(cfg: Any) -> str:
    """Short stable hash of a config's values (for provenance in logs and metric files)."""
    text = json.dumps(config_to_dict(cfg), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def apply_overrides(cfg: C, overrides: Sequence[str] | Mapping[str, Any]) -> C:
    """Return a copy of `cfg` with overrides applied.

    Args:
        cfg: a config dataclass instance.
        overrides: `["train.lr=1e-4", "data.image_size_px=128"]` (values parsed as YAML) or a nested mapping.
    """
    if isinstance(overrides, Mapping):
        update: dict[str, Any] = dict(overrides)
    else:
        update = {}
        for item in overrides:
            if "=" not in item:
                raise ConfigError(f"override {item!r}: expected KEY.PATH=VALUE")
            path, text = item.split("=", 1)
            node = update
            keys = path.strip().split(".")
            for key in keys[:-1]:
                node = node.setdefault(key, {})
            node[keys[-1]] = yaml.safe_load(text)
    return config_from_dict(type(cfg), _merge(config_to_dict(cfg), update))


PACKAGED_CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
"""YAML presets shipped in the package (``egohmr/configs/*.yaml``)."""


def packaged_config(source: str | Path) -> Path | None:
    """The packaged YAML file a bare name (no folder) names, or None: ``stage1_cpu`` and ``stage1_cpu.yaml`` both
    name ``egohmr/configs/stage1_cpu.yaml``."""
    name = str(source)
    if Path(name).name != name:
        return None
    path = PACKAGED_CONFIG_DIR / (name if name.endswith((".yaml", ".yml")) else f"{name}.yaml")
    return path if path.is_file() else None


def load_config(
    cls: type[C],
    source: str | Path | None = None,
    overrides: Sequence[str] = (),
    presets: Mapping[str, C] | None = None,
) -> C:
    """Resolve a config: preset or defaults <- YAML file <- overrides.

    Args:
        cls: the config dataclass.
        source: None (defaults), a preset name from `presets`, a YAML file of overrides, or the name of a YAML file
            shipped in the package (`packaged_config`, e.g. ``stage1_cpu``). A YAML file may name its starting preset
            with a top-level `preset: NAME` key.
        overrides: `KEY.PATH=VALUE` strings applied last.
        presets: named configs to start from.
    """
    presets = presets or {}
    cfg = cls()
    if source is not None:
        text = str(source)
        if text in presets:
            cfg = presets[text]
        else:
            path = Path(source) if Path(source).is_file() else packaged_config(source)
            if path is None:
                raise FileNotFoundError(
                    f"config {text!r} is neither a preset ({sorted(presets)}), an existing YAML file nor a packaged "
                    f"one ({sorted(p.stem for p in PACKAGED_CONFIG_DIR.glob('*.yaml'))})"
                )
            data = yaml.safe_load(path.read_text()) or {}
            if not isinstance(data, Mapping):
                raise ConfigError(f"{path}: expected a mapping at the top level")
            data = dict(data)
            preset = data.pop("preset", None)
            if preset is not None:
                if preset not in presets:
                    raise ConfigError(f"{path}: preset {preset!r} unknown; choose from {sorted(presets)}")
                cfg = presets[preset]
            try:
                cfg = apply_overrides(cfg, data)
            except ConfigError as err:
                raise ConfigError(f"{path}: {err}") from None
    return apply_overrides(cfg, overrides) if overrides else cfg
