"""Fixtures of the search tests: tiny generated rawframes."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from tiny_rawframes import write_tiny_rawframes  # noqa: E402


@pytest.fixture(scope='session')
def tiny_data(tmp_path_factory):
    """One video per class and split, 8 frames of 24 x 24."""
    return write_tiny_rawframes(
        str(tmp_path_factory.mktemp('tiny_rawframes')), per_class=1)
