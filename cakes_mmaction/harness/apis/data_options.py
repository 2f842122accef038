"""Point a config's dataloaders at other data, as ``--cfg-options``."""
from typing import Any, Dict, Mapping, Optional

from ..synthetic.generator import SyntheticDataset

__all__ = ['data_cfg_options', 'synthetic_cfg_options']

LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def data_cfg_options(cfg: Mapping[str, Any],
                     ann_files: Mapping[str, str],
                     data_prefix: Mapping[str, str],
                     class_file: Optional[str] = None,
                     num_classes: Optional[int] = None) -> Dict[str, Any]:
    """``--cfg-options`` that point the dataloaders of a config elsewhere.

    Args:
        cfg (Mapping): The loaded config (only read, to find the
            dataloaders and the pipeline steps that take a ``class_file``).
        ann_files (Mapping[str, str]): Annotation file per dataloader:
            keys ``'train'``, ``'val'``, ``'test'``; a dataloader without an
            entry (or absent from the config) is left alone.
        data_prefix (Mapping[str, str]): The datasets' ``data_prefix``,
            e.g. ``dict(img=frames_root)`` or ``dict(video=videos_root)``.
        class_file (str, optional): Given to every dataset and pipeline
            step that has a ``class_file`` (the dataset's class names,
            which its flip reads). Defaults to None.
        num_classes (int, optional): Given to every dataset that has a
            ``num_classes`` (the robust datasets check labels against it)
            and to the head (``model.cls_head.num_classes``), which must
            match. Defaults to None.

    Returns:
        dict[str, Any]: Keys such as ``'train_dataloader.dataset.ann_file'``
        and ``'train_dataloader.dataset.class_file'``, for
        :meth:`mmengine.config.Config.merge_from_dict`.
    """
    options: Dict[str, Any] = {}
    head = (cfg.get('model') or {}).get('cls_head') or {}
    if num_classes is not None and 'num_classes' in head:
        options['model.cls_head.num_classes'] = num_classes
    for loader in LOADERS:
        split = loader.split('_')[0]
        if split not in ann_files or not cfg.get(loader):
            continue
        key = f'{loader}.dataset'
        options[f'{key}.ann_file'] = ann_files[split]
        options[f'{key}.data_prefix'] = dict(data_prefix)
        dataset = cfg[loader]['dataset']
        if num_classes is not None and 'num_classes' in dataset:
            options[f'{key}.num_classes'] = num_classes
        if class_file is not None and 'class_file' in dataset:
            options[f'{key}.class_file'] = class_file
        pipeline = cfg[loader]['dataset'].get('pipeline', [])
        for i, step in enumerate(pipeline):
            if class_file is not None and 'class_file' in step:
                options[f'{key}.pipeline.{i}.class_file'] = class_file
    return options


def synthetic_cfg_options(cfg: Mapping[str, Any],
                          data: SyntheticDataset,
                          fmt: str = 'rawframes',
                          train_split: str = 'train',
                          test_split: str = 'val') -> Dict[str, Any]:
    """``--cfg-options`` that train and test a config on synthetic data.

    Args:
        cfg (Mapping): The loaded config.
        data (SyntheticDataset): From
            :func:`~cakes_mmaction.harness.datasets.generate_synthetic_dataset`.
        fmt (str): ``'rawframes'`` (RawframeDataset configs) or
            ``'videos'`` (VideoDataset configs). Defaults to
            ``'rawframes'``.
        train_split (str): Split for training. Defaults to ``'train'``.
        test_split (str): Split for validation and test. Defaults to
            ``'val'``.

    Returns:
        dict[str, Any]: The options, class file and the datasets' class
        count included.
    """
    if fmt == 'rawframes':
        lists, prefix = data.rawframe_list, dict(img=data.rawframes)
    elif fmt == 'videos':
        lists, prefix = data.video_list, dict(video=data.videos)
    else:
        raise ValueError(f"fmt must be 'rawframes' or 'videos', got {fmt!r}")
    ann_files = dict(
        train=lists(train_split), val=lists(test_split),
        test=lists(test_split))
    return data_cfg_options(cfg, ann_files, prefix, data.class_file,
                            data.num_classes)
