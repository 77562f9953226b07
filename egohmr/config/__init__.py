"""Typed configuration: frozen dataclasses, YAML override files and `key.path=value` overrides."""

from egohmr.config.core import (
    ConfigError,
    apply_overrides,
    config_from_dict,
    config_hash,
    config_to_dict,
    config_to_yaml,
    load_config,
    packaged_config,
)

__all__ = [
    "ConfigError",
    "apply_overrides",
    "config_from_dict",
    "config_hash",
    "config_to_dict",
    "config_to_yaml",
    "load_config",
    "packaged_config",
]
