"""Repair: distributed runs without CUDA (gloo, no device ids)."""
import os
from typing import Any

import torch

__all__ = ['init_cpu_distributed']


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
