"""cakes-mmaction: CAKES (channel-wise automatic kernel shrinking) for
mmaction2.

Importing the package repairs the pinned stack first (``_compat``), then
registers its modules in mmaction2's registries.
"""
from . import _compat

_compat.apply_all()

from . import models  # noqa: E402,F401  (registration side effects)
from . import datasets, engine, search  # noqa: E402,F401
from .assignment import Assignment, AssignmentError, list_presets  # noqa
from .layers import CAKESConv3d  # noqa: E402
from .models import ResNet3dCAKES  # noqa: E402

__version__ = '0.1.0'

__all__ = [
    'Assignment', 'AssignmentError', 'CAKESConv3d', 'ResNet3dCAKES',
    'list_presets', '__version__'
]
