"""A config as mmengine merges it, for ``tools/misc/print_config.py``."""
from typing import Any, Dict, Optional

from mmengine.config import Config

from .train import _load

__all__ = ['load_config', 'config_text']


def load_config(config: Any,
                cfg_options: Optional[Dict[str, Any]] = None) -> Config:
    """Load a config (its bases merged) and apply ``--cfg-options``.

    Args:
        config (str | Config): Config file, or a loaded config (copied).
        cfg_options (dict, optional): ``key.sub=value`` overrides.
            Defaults to None.

    Returns:
        Config: The merged config.
    """
    cfg = _load(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def config_text(config: Any,
                cfg_options: Optional[Dict[str, Any]] = None) -> str:
    """The merged config as Python text (what the tools run with).

    Args:
        config (str | Config): Config file, or a loaded config.
        cfg_options (dict, optional): ``key.sub=value`` overrides.
            Defaults to None.

    Returns:
        str: mmengine's ``pretty_text`` of the merged config.
    """
    return load_config(config, cfg_options).pretty_text
