"""Configuration: pydantic models (one file per concern) and the YAML loader."""

from edge_inspect.config.app import AppConfig
from edge_inspect.config.loader import build_config, config_schema, load_config

__all__ = ["AppConfig", "build_config", "config_schema", "load_config"]
