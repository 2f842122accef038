"""Helpers of the search tests: the project's synthetic dataset, tiny, and
the shipped demo configs pointed at it; a fake 2D ImageNet checkpoint."""
import os
from collections import OrderedDict

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def write_tiny_synthetic(root: str, per_class: int = 1, size: int = 24):
    """The demo's synthetic dataset, tiny: 4 class pairs, rawframes only.

    Args:
        root (str): Output folder.
        per_class (int): Videos per class in the train and val splits.
            Defaults to 1.
        size (int): Frame side in pixels. Defaults to 24.

    Returns:
        SyntheticDataset: Where it was written (8 classes).
    """
    from cakes_mmaction.harness.synthetic import generate_synthetic_dataset
    return generate_synthetic_dataset(
        root, num_per_class=per_class, size=size, num_pairs=4,
        formats=('rawframes', ))


def demo_config(name: str, data, work_dir: str, epochs: int = 1,
                batch: int = 4):
    """A shipped demo config, pointed at tiny data, quick and quiet.

    Args:
        name (str): Config path relative to the repository root.
        data (SyntheticDataset): From :func:`write_tiny_synthetic`.
        work_dir (str): The run's work dir.
        epochs (int): Training epochs. Defaults to 1.
        batch (int): Batch size. Defaults to 4.

    Returns:
        Config: The config.
    """
    from mmengine.config import Config

    from cakes_mmaction.harness.apis.data_options import synthetic_cfg_options
    cfg = Config.fromfile(os.path.join(ROOT, name))
    cfg.merge_from_dict(synthetic_cfg_options(cfg, data))
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg[key]
        loader.batch_size = batch
        loader.num_workers = 0
        loader.persistent_workers = False
    cfg.train_cfg.max_epochs = epochs
    cfg.train_cfg.val_interval = epochs
    cfg.work_dir = work_dir
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = epochs
    cfg.log_level = 'WARNING'
    return cfg


def fake_torchvision_2d(model, seed: int = 0):
    """A random 2D ResNet state dict in torchvision layout fitting ``model``.

    ``model`` is a ResNet3dCAKES or a supernet; a supernet layer's 2D
    width is its ``width``, and the 2D conv3 reads that many channels.

    Args:
        model (nn.Module): The 3D backbone.
        seed (int): Seed. Defaults to 0.

    Returns:
        OrderedDict: ``conv1.weight``, ``layer1.0.bn2.bias`` ...
    """
    import torch
    from mmcv.cnn import ConvModule
    gen = torch.Generator().manual_seed(seed)
    state = OrderedDict()
    for name, module in model.named_modules():
        if not isinstance(module, ConvModule):
            continue
        conv = module.conv
        in_c, out_c = conv.in_channels, getattr(conv, 'width',
                                                conv.out_channels)
        if name.endswith('conv3'):
            in_c = getattr(
                model.get_submodule(name[:-1] + '2').conv, 'width', in_c)
        if 'downsample' in name:
            conv_2d, bn_2d = name + '.0', name + '.1'
        else:
            conv_2d, bn_2d = name, name.replace('conv', 'bn')
        kernel = tuple(conv.kernel_size[1:])
        state[conv_2d + '.weight'] = torch.randn(
            out_c, in_c, *kernel, generator=gen)
        for key in ('weight', 'bias', 'running_mean'):
            state[f'{bn_2d}.{key}'] = torch.randn(out_c, generator=gen)
        state[bn_2d + '.running_var'] = torch.rand(out_c, generator=gen) + .5
    return state
