"""High-level entry points behind ``tools/``: train, test, infer, demo."""
from .train import (build_runner, build_test_cfg, build_train_cfg,  # noqa
                    test, train)

__all__ = [
    'build_runner', 'build_test_cfg', 'build_train_cfg', 'test', 'train'
]
