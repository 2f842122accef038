"""cakes-mmaction: CAKES (channel-wise automatic kernel shrinking) for
mmaction2.

Importing the package repairs the pinned stack first (``harness.compat``),
then registers its modules in mmaction2's registries. The CAKES core
(``layers``, ``models``, ``search``, ...) is apart from the training
harness it ships with (``harness``: engine, datasets, apis, compat). Old
import paths of moved modules keep working (``_moved``).
"""
from . import _moved

_moved.install()

from . import harness  # noqa: E402,F401  (stack repairs, registration)
from . import models, search  # noqa: E402,F401  (registration)
from .assignment import Assignment, AssignmentError, list_presets  # noqa
from .layers import CAKESConv3d  # noqa: E402
from .models import ResNet3dCAKES  # noqa: E402

__version__ = '0.1.0'

__all__ = [
    'Assignment', 'AssignmentError', 'CAKESConv3d', 'ResNet3dCAKES',
    'list_presets', '__version__'
]
