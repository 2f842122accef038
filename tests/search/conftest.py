"""Fixtures of the search tests: the synthetic dataset, tiny."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from search_testing import write_tiny_synthetic  # noqa: E402


@pytest.fixture(scope='session')
def tiny_data(tmp_path_factory):
    """One video per class and split, 8 classes, 8 frames of 24 x 24."""
    return write_tiny_synthetic(
        str(tmp_path_factory.mktemp('tiny_synthetic')), per_class=1)
