"""A tiny rawframe video dataset for the search tests (and docs), and the
shipped demo configs pointed at it.

Layout as the demo dataset: ``<root>/rawframes/<vid>/{:05d}.jpg``
(1-based), ``<root>/train_list.txt`` and ``<root>/val_list.txt`` with lines
``<vid> <num_frames> <label>``. Eight classes, each a bright square on a
noisy background that changes over time in one direction: moves left,
right, up, down; grows, shrinks; brightens, darkens. Deterministic by seed.

    python tests/search/tiny_rawframes.py OUT_DIR [--per-class N]
"""
import argparse
import os
from collections import OrderedDict

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

CLASSES = ('left', 'right', 'up', 'down', 'grow', 'shrink', 'brighten',
           'darken')


def _frame(rng, size, label, t, frames, x0, y0):
    img = rng.integers(0, 40, (size, size), dtype=np.int64).astype(np.uint8)
    progress = t / max(frames - 1, 1)
    side, level = size // 4, 230
    x, y = x0, y0
    travel = size // 2
    if label == 0:
        x = x0 + travel - int(travel * progress)
    elif label == 1:
        x = x0 + int(travel * progress)
    elif label == 2:
        y = y0 + travel - int(travel * progress)
    elif label == 3:
        y = y0 + int(travel * progress)
    elif label in (4, 5):
        grow = progress if label == 4 else 1 - progress
        side = 2 + int((size // 2 - 2) * grow)
    else:
        light = progress if label == 6 else 1 - progress
        level = 60 + int(190 * light)
    img[y:y + side, x:x + side] = level
    return np.repeat(img[:, :, None], 3, axis=2)


def write_tiny_rawframes(root: str,
                         per_class: int = 2,
                         frames: int = 8,
                         size: int = 24,
                         seed: int = 0) -> dict:
    """Write the dataset; train and val lists hold different videos.

    Args:
        root (str): Output folder.
        per_class (int): Videos per class in each split. Defaults to 2.
        frames (int): Frames per video. Defaults to 8.
        size (int): Frame side in pixels. Defaults to 24.
        seed (int): Seed. Defaults to 0.

    Returns:
        dict: ``frames_root``, ``train_list``, ``val_list``.
    """
    rng = np.random.default_rng(seed)
    frames_root = os.path.join(root, 'rawframes')
    lists = {}
    for split in ('train', 'val'):
        lines = []
        for label in range(len(CLASSES)):
            for i in range(per_class):
                vid = f'{split}_{CLASSES[label]}_{i}'
                folder = os.path.join(frames_root, vid)
                os.makedirs(folder, exist_ok=True)
                x0 = int(rng.integers(0, size // 4))
                y0 = int(rng.integers(0, size // 4))
                for t in range(frames):
                    cv2.imwrite(
                        os.path.join(folder, f'{t + 1:05d}.jpg'),
                        _frame(rng, size, label, t, frames, x0, y0))
                lines.append(f'{vid} {frames} {label}')
        path = os.path.join(root, f'{split}_list.txt')
        with open(path, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        lists[f'{split}_list'] = path
    return dict(frames_root=frames_root, **lists)


def _shrink(pipeline, side):
    for step in pipeline:
        if step['type'] == 'Resize':
            step['scale'] = (-1, side + side // 7) if step['scale'][
                0] == -1 else (side, side)
        elif step['type'] == 'MultiScaleCrop':
            step['input_size'] = side
        elif step['type'] == 'CenterCrop':
            step['crop_size'] = side


def demo_config(name: str, data: dict, work_dir: str, epochs: int = 1,
                batch: int = 4, side: int = 28):
    """A shipped demo config, pointed at tiny data, quick and quiet.

    Args:
        name (str): Config path relative to the repository root.
        data (dict): From :func:`write_tiny_rawframes`.
        work_dir (str): The run's work dir.
        epochs (int): Training epochs. Defaults to 1.
        batch (int): Batch size. Defaults to 4.
        side (int): Crop side replacing the config's (smaller is
            quicker). Defaults to 28.

    Returns:
        Config: The config.
    """
    from mmengine.config import Config
    cfg = Config.fromfile(os.path.join(ROOT, name))
    for key, ann in (('train_dataloader', data['train_list']),
                     ('val_dataloader', data['val_list']),
                     ('test_dataloader', data['val_list'])):
        loader = cfg[key]
        loader.dataset.ann_file = ann
        loader.dataset.data_prefix = dict(img=data['frames_root'])
        loader.batch_size = batch
        loader.num_workers = 0
        loader.persistent_workers = False
        _shrink(loader.dataset.pipeline, side)
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


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out')
    parser.add_argument('--per-class', type=int, default=2)
    parser.add_argument('--frames', type=int, default=8)
    parser.add_argument('--size', type=int, default=24)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    print(
        write_tiny_rawframes(args.out, args.per_class, args.frames,
                             args.size, args.seed))
