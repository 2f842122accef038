"""The training harness shipped with the CAKES core.

The core (``shapes``, ``layer_keys``, ``assignment``, ``cost``, ``layers``,
``models``, ``search``, ``checkpoints``, ``visualization``, ``convert``,
``deployment``) defines CAKES networks and never imports this package at
module level. The harness trains, tests and feeds them:

- ``compat``: repairs of the pinned stack, applied here before anything
  imports mmaction2's models;
- ``engine``: crash-safe checkpoints, watchdogs, guards, config checks
  (hooks registered in mmaction2's ``HOOKS``);
- ``datasets``: fault-tolerant datasets and checked transforms (registered
  in ``DATASETS`` and ``TRANSFORMS``);
- ``dataset_check``: the offline dataset checker;
- ``synthetic``: the synthetic temporal-reasoning data generator;
- ``apis``: train, test, infer and demo entry points behind ``tools/``.
"""
from . import compat

compat.apply_all()

from . import datasets, engine  # noqa: E402,F401  (registration)
