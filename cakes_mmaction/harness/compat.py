"""Repairs for the pinned stack (mmaction2 1.2.0, mmengine 0.10.7, torch 2.x).

Every repair checks that it is needed before it changes anything, names the
upstream issue it works around, and has a test in ``tests/test_compat.py``.
This module must be imported before anything imports ``mmaction.models``;
``cakes_mmaction/__init__.py`` does so first.
"""
import ast
import builtins
import importlib
import importlib.util
import inspect
import os
import sys
import types
import warnings
from typing import Any, Iterator, List, Optional, Tuple

import torch

__all__ = [
    'apply_all', 'install_drn_stub', 'install_safe_checkpoint_loading',
    'guard_optional_extras', 'safe_checkpoint_globals',
    'init_cpu_distributed', 'UnsafeCheckpointError'
]


class UnsafeCheckpointError(RuntimeError):
    """Raised when a checkpoint asks to run code that is not allow-listed."""


# --------------------------------------------------------------------------
# 1. mmaction2 1.2.0 wheel lacks mmaction/models/localizers/drn/
#    (open-mmlab/mmaction2#2714): `import mmaction.models` fails.
# --------------------------------------------------------------------------
def _drn_missing() -> bool:
    if 'mmaction.models.localizers.drn' in sys.modules:
        return False
    spec = importlib.util.find_spec('mmaction')
    if spec is None or not spec.submodule_search_locations:
        return False
    root = list(spec.submodule_search_locations)[0]
    return not os.path.isdir(os.path.join(root, 'models', 'localizers', 'drn'))


def install_drn_stub() -> bool:
    """Register an empty ``drn`` localizer package when the wheel lacks it.

    DRN is a temporal-grounding localizer that the recognition models never
    use; the stub only lets ``mmaction.models`` import.

    Returns:
        bool: Whether the stub was installed.
    """
    if not _drn_missing():
        return False
    pkg = types.ModuleType('mmaction.models.localizers.drn')
    pkg.__path__ = []  # mark it as a package
    mod = types.ModuleType('mmaction.models.localizers.drn.drn')

    class DRN:  # noqa: D401 - placeholder named as upstream
        """Placeholder: DRN is missing from the mmaction2 1.2.0 wheel."""

        def __init__(self, *args, **kwargs):
            raise ImportError(
                'DRN is not shipped in the mmaction2 1.2.0 wheel '
                '(open-mmlab/mmaction2#2714).')

    mod.DRN = DRN
    pkg.DRN = DRN
    pkg.drn = mod
    sys.modules[pkg.__name__] = pkg
    sys.modules[mod.__name__] = mod
    return True


# --------------------------------------------------------------------------
# 2. torch >= 2.6 loads with weights_only=True; mmengine 0.10.7 checkpoints
#    hold a few non-tensor objects (open-mmlab/mmengine#1613), so resume,
#    load_from and test fail with "Weights only load failed".  We keep the
#    safe unpickler and allow-list exactly what mmengine writes, instead of
#    turning weights_only off (which would let a checkpoint run code).
# --------------------------------------------------------------------------
_HISTORY_BUFFER_STATS = ('min', 'max', 'mean', 'current')


def _restricted_getattr(obj: Any, name: str) -> Any:
    """Stand-in for ``builtins.getattr`` inside checkpoints.

    mmengine pickles ``HistoryBuffer._statistics_methods`` as
    ``getattr(HistoryBuffer, 'min')`` and so on. Only those lookups are
    allowed; anything else in a checkpoint is refused.
    """
    from mmengine.logging import HistoryBuffer
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_STATS:
        return builtins.getattr(obj, name)
    raise UnsafeCheckpointError(
        f'checkpoint asks for getattr({obj!r}, {name!r}), which is not on '
        'the allow-list of cakes_mmaction.harness.compat; refusing to load '
        'it.')


def safe_checkpoint_globals() -> list:
    """The globals an mmengine/mmaction checkpoint may reference.

    Returns:
        list: Objects (and ``(object, name)`` pairs) for
        :func:`torch.serialization.add_safe_globals`.
    """
    import numpy as np
    from mmengine.logging import HistoryBuffer
    multiarray = getattr(np, '_core', None) or np.core
    allowed = [
        HistoryBuffer, multiarray.multiarray._reconstruct,
        multiarray.multiarray.scalar, np.ndarray, np.dtype,
        (_restricted_getattr, 'builtins.getattr')
    ]
    allowed += [c for _, c in inspect.getmembers(np.dtypes, inspect.isclass)]
    try:  # ConfigDict appears in checkpoints saved with a config object.
        from mmengine.config import ConfigDict
        allowed.append(ConfigDict)
    except ImportError:  # pragma: no cover
        pass
    return allowed


def _safe_load_from_local(filename: str,
                          map_location: Optional[Any] = None) -> Any:
    """Load a local checkpoint with torch's safe (weights-only) unpickler.

    Args:
        filename (str): Path of the checkpoint.
        map_location (Any, optional): Same as :func:`torch.load`.

    Returns:
        Any: The loaded checkpoint.
    """
    filename = os.path.expanduser(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return safe_torch_load(filename, map_location=map_location)


def safe_torch_load(filename: str,
                    map_location: Optional[Any] = None,
                    mmap: bool = False) -> Any:
    """``torch.load`` that never executes code from the file.

    Args:
        filename (str): Path of the checkpoint.
        map_location (Any, optional): Same as :func:`torch.load`.
        mmap (bool): Map the tensors instead of reading them (to look at a
            checkpoint's metadata cheaply). Defaults to False.

    Returns:
        Any: The loaded object.

    Raises:
        UnsafeCheckpointError: The file references code outside the
            allow-list (a malicious or foreign pickle), or is no checkpoint.
    """
    try:
        with torch.serialization.safe_globals(safe_checkpoint_globals()):
            return torch.load(
                filename,
                map_location=map_location,
                weights_only=True,
                **(dict(mmap=True) if mmap else {}))
    except (UnsafeCheckpointError, MemoryError):
        raise
    except Exception as err:
        # On arbitrary bytes the weights-only unpickler fails with
        # UnpicklingError, IndexError, KeyError, ...; torch reports a cut
        # zip archive as OSError(EINVAL). A missing or unreadable path
        # stays the OSError it is.
        if isinstance(err, OSError) and not (
                isinstance(filename, (str, os.PathLike))
                and os.path.isfile(filename)):
            raise
        forbidden = _forbidden_global(err)
        if forbidden:
            # torch's message advises retrying with weights_only=False,
            # which would run the payload: say what the file asks for
            # instead, and leave torch's text out of the chain.
            raise UnsafeCheckpointError(
                f'{filename}: refused: loading it would call {forbidden}, '
                f'which a checkpoint of tensors and mmengine run state never '
                f'needs (a malicious or foreign pickle). Nothing from it '
                f'ran; do not load this file.') from None
        detail = _describe_unloadable(filename) or (
            str(err).splitlines() or [type(err).__name__])[0]
        raise UnsafeCheckpointError(
            f'{filename}: not a checkpoint that can be loaded safely '
            f'(expected a torch/mmengine checkpoint holding tensors and '
            f'mmengine run state only): {detail[:300]}') from err


def _forbidden_global(err: BaseException) -> Optional[str]:
    """The global a weights-only unpickler refused, from torch's message."""
    import re
    text = str(err)
    match = re.search(r'GLOBAL ([\w.]+)', text)
    if match:
        return match.group(1)
    match = re.search(r'WeightsUnpickler error: ([^\n]+)', text)
    if match:
        return f'something outside the allow-list ({match.group(1)[:200]})'
    return None


def _describe_unloadable(filename: Any) -> Optional[str]:
    """Name the common cases of a file torch cannot load."""
    if not isinstance(filename, (str, os.PathLike)):
        return None
    import zipfile
    size = os.path.getsize(filename)
    if size == 0:
        return 'the file is empty (0 bytes)'
    with open(filename, 'rb') as f:
        magic = f.read(2)
    if magic == b'PK' and not zipfile.is_zipfile(filename):
        return (f'the file is truncated ({size} bytes, zip archive without '
                f'its central directory): the save or download was cut '
                f'short')
    return None


def install_safe_checkpoint_loading() -> bool:
    """Route mmengine's local checkpoint loading through the safe loader.

    ``CheckpointLoader.register_scheme`` is mmengine's own extension point,
    so ``load_from``, ``--resume``, ``load_checkpoint`` and
    ``init_recognizer`` all use it.

    Returns:
        bool: Whether the loader was replaced.
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    current = CheckpointLoader._schemes.get('')
    if current is _safe_load_from_local:
        return False
    CheckpointLoader.register_scheme(prefixes='', force=True)(
        _safe_load_from_local)
    return True


# --------------------------------------------------------------------------
# 3. Distributed runs on CPU: mmengine never chooses gloo and calls
#    torch.cuda.set_device unconditionally (open-mmlab/mmengine#1329);
#    Runner.wrap_model passes device_ids=[LOCAL_RANK], which DDP rejects
#    for CPU modules.
# --------------------------------------------------------------------------
def init_cpu_distributed(cfg: Any, launcher: str) -> bool:
    """Prepare a config and process group for a CPU distributed run.

    Call it in an entry point after the config is loaded and before the
    Runner is built. It does nothing when CUDA is available or the launcher
    is ``'none'``.

    Args:
        cfg (Config): The run's config; edited in place.
        launcher (str): ``'none'``, ``'pytorch'``, ``'slurm'`` or ``'mpi'``.

    Returns:
        bool: Whether the CPU fix was applied.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return False
    import torch.distributed as dist
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    dist_cfg['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg['model_wrapper_cfg'] = wrapper
    if not dist.is_initialized():
        if launcher == 'slurm':
            _slurm_env_to_torch_env()
        timeout = dist_cfg.get('timeout')
        kwargs = {}
        if timeout is not None:
            import datetime
            kwargs['timeout'] = datetime.timedelta(seconds=int(timeout))
        dist.init_process_group(backend='gloo', init_method='env://',
                                **kwargs)
    return True


def _slurm_env_to_torch_env() -> None:
    """Translate SLURM variables into the ``env://`` ones torch reads."""
    import subprocess
    os.environ.setdefault('RANK', os.environ['SLURM_PROCID'])
    os.environ.setdefault('WORLD_SIZE', os.environ['SLURM_NTASKS'])
    os.environ.setdefault('LOCAL_RANK', os.environ['SLURM_LOCALID'])
    if 'MASTER_ADDR' not in os.environ:
        node_list = os.environ['SLURM_NODELIST']
        addr = subprocess.getoutput(
            f'scontrol show hostname {node_list} | head -n1')
        os.environ['MASTER_ADDR'] = addr
    os.environ.setdefault('MASTER_PORT', '29500')


# --------------------------------------------------------------------------
# 4. Optional mmaction2 extras that are installed but cannot be imported.
#    mmaction2 1.2.0 imports its VindLU multimodal models whenever any
#    ``transformers>=4.28`` is installed (``mmaction.utils.dependency.
#    WITH_MULTIMODAL``); they import names that transformers 5 removed and
#    need ``timm``, so ``import mmaction.models`` fails on many GPU machines.
#    The mmdet (AVA heads), mmpretrain (MobileOne-TSM), wandb (video
#    visualizer) and nltk (Charades-STA) imports sit in ``try/except
#    ImportError``, which does not catch an installed package that fails
#    with another error (a version assert, a binary built for another
#    numpy, a protobuf mismatch). Each extra is probed with exactly the
#    third-party imports its mmaction2 modules make at import time, and
#    switched off only when one of them fails.
# --------------------------------------------------------------------------
# extra: (mmaction2 paths whose imports make it up, how mmaction guards it:
# 'flag' = WITH_MULTIMODAL, 'try' = ``try: import extra`` / except
# ImportError, where only the extra's own imports are probed).
OPTIONAL_EXTRAS = {
    'multimodal': (('models/multimodal/vindlu', ), 'flag'),
    'mmdet': (('models/roi_heads', 'models/task_modules'), 'try'),
    'mmpretrain': (('models/backbones/mobileone_tsm.py', ), 'try'),
    'wandb': (('visualization/video_backend.py', ), 'try'),
    'nltk': (('datasets/charades_sta_dataset.py', ), 'try'),
}


def _module_level_imports(tree: ast.Module) -> Iterator[ast.stmt]:
    """Import statements run when the module is imported (not in defs)."""
    stack = list(tree.body)
    while stack:
        node = stack.pop(0)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            for field in ('body', 'orelse', 'finalbody', 'handlers'):
                stack.extend(getattr(node, field, []))
        elif isinstance(node, ast.ExceptHandler):
            stack.extend(node.body)


def third_party_imports(paths: List[str]) -> List[Tuple[str, Tuple[str]]]:
    """The non-mmaction imports that importing these files runs.

    Args:
        paths (list[str]): Python files or folders of them.

    Returns:
        list[tuple[str, tuple[str]]]: ``(module, names)`` in file order;
        ``names`` is empty for ``import module``.
    """
    files = []
    for path in paths:
        if os.path.isdir(path):
            for root, _, names in sorted(os.walk(path)):
                files += [os.path.join(root, n) for n in sorted(names)
                          if n.endswith('.py')]
        elif os.path.isfile(path):
            files.append(path)
    found = []
    for file in files:
        with open(file, encoding='utf-8') as f:
            tree = ast.parse(f.read(), filename=file)
        for node in _module_level_imports(tree):
            if isinstance(node, ast.Import):
                entries = [(alias.name, ()) for alias in node.names]
            elif node.level == 0 and node.module:
                entries = [(node.module,
                            tuple(alias.name for alias in node.names))]
            else:
                continue  # relative: part of mmaction itself
            for module, names in entries:
                if module.split('.')[0] != 'mmaction' and (
                        module, names) not in found:
                    found.append((module, names))
    return found


def import_failure(
        imports: List[Tuple[str, Tuple[str]]]) -> Optional[BaseException]:
    """Run the imports; return the first error (None when all work).

    Args:
        imports (list[tuple[str, tuple[str]]]): As from
            :func:`third_party_imports`.

    Returns:
        BaseException, optional: The error, its message naming the import.
    """
    for module, names in imports:
        try:
            mod = importlib.import_module(module)
            for name in names:
                if name != '*' and not hasattr(mod, name):
                    try:
                        importlib.import_module(f'{module}.{name}')
                    except ImportError:
                        raise ImportError(
                            f'cannot import name {name!r} from {module!r} '
                            f'({getattr(mod, "__file__", None)})') from None
        except Exception as err:  # any failure disables the extra
            return err
    return None


def _mmaction_root() -> Optional[str]:
    spec = importlib.util.find_spec('mmaction')
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def guard_optional_extras() -> dict:
    """Switch off the optional mmaction2 extras that cannot be imported.

    Call it before anything imports ``mmaction.models``. An extra that is
    not installed, or imports fine, is left exactly as mmaction2 has it.

    Returns:
        dict: Extra name to the reason it was switched off (only those).
    """
    root = _mmaction_root()
    if root is None or 'mmaction.models' in sys.modules:
        return {}
    disabled = {}
    for extra, (paths, guard) in OPTIONAL_EXTRAS.items():
        if guard == 'flag':
            from mmaction.utils import dependency
            if not dependency.WITH_MULTIMODAL:
                continue  # mmaction registers placeholders by itself
        elif importlib.util.find_spec(extra) is None:
            continue  # not installed: mmaction's except handles it
        imports = third_party_imports(
            [os.path.join(root, *p.split('/')) for p in paths])
        if guard == 'try':
            imports = [(m, n) for m, n in imports
                       if m.split('.')[0] == extra]
        err = import_failure(imports)
        if err is None or (guard == 'try' and isinstance(err, ImportError)):
            continue  # works, or mmaction's own except catches it
        reason = f'{type(err).__name__}: {err}'.splitlines()[0][:300]
        if guard == 'flag':
            dependency.WITH_MULTIMODAL = False
        else:  # an ImportError at mmaction's ``from extra ...`` lines
            for name in [n for n in sys.modules
                         if n == extra or n.startswith(extra + '.')]:
                del sys.modules[name]
            sys.modules[extra] = None
        disabled[extra] = reason
        warnings.warn(
            f'mmaction2\'s optional {extra!r} support is switched off '
            f'because an import it needs fails here ({reason}); '
            'recognition models are not affected.', RuntimeWarning)
    return disabled


def apply_all() -> dict:
    """Apply every import-time repair.

    Returns:
        dict: Repair name to whether it changed anything.
    """
    # Always the safe loader, whatever torch's default: a checkpoint from
    # outside (pretrained weights, load_from, a download) must never run
    # code when loaded.
    return dict(
        drn_stub=install_drn_stub(),
        optional_extras_off=sorted(guard_optional_extras()),
        safe_checkpoint_loading=install_safe_checkpoint_loading())
