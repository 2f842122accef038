"""docs/custom_dataset.md, run as written: its configs are saved as the
page says, the commands of its ``bash`` blocks run in a folder laid out as
the repository (tiny generated data, the tiny network for 2 epochs), and
the ResNet-50 configs it shows are loaded and fed one real sample."""
import os
import os.path as osp
import re
import shlex
import subprocess
import sys

import pytest
from mmaction.registry import DATASETS
from mmengine.config import Config
from mmengine.registry import init_default_scope

from cakes_mmaction.harness.engine.validate import validate_config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DOC = osp.join(ROOT, 'docs', 'custom_dataset.md')
ENV = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')


def doc_blocks():
    """(language, text before the block, code) of every fenced block."""
    text = open(DOC, encoding='utf-8').read()
    blocks = []
    for m in re.finditer(r'```(?P<lang>\w*)\n(?P<code>.*?)```', text, re.S):
        before = text[:m.start()].rstrip().rsplit('\n\n', 1)[-1]
        blocks.append((m['lang'], before, m['code']))
    return blocks


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    """A folder laid out as the repo, where the doc's steps were done."""
    root = tmp_path_factory.mktemp('repo')
    os.mkdir(root / 'configs')
    for name in os.listdir(osp.join(ROOT, 'configs')):
        os.symlink(osp.join(ROOT, 'configs', name), root / 'configs' / name)
    os.symlink(osp.join(ROOT, 'tools'), root / 'tools')
    outputs = []
    for lang, before, code in doc_blocks():
        if lang == 'python':
            target = re.findall(r'`(configs/[\w/]+\.py)`', before)
            assert target, f'a python block without its file: {before!r}'
            mode = 'a' if 'add these lines' in before else 'w'
            with open(root / target[-1], mode) as f:
                f.write(code)
        elif lang == 'bash':
            for line in code.replace('\\\n', ' ').splitlines():
                words = shlex.split(line)
                assert words[0] == 'python', line
                proc = subprocess.run(
                    [sys.executable] + words[1:], cwd=root, env=ENV,
                    capture_output=True, text=True, timeout=600)
                assert proc.returncode == 0, (
                    line + '\n' + proc.stdout[-2000:] + proc.stderr[-3000:])
                outputs.append((line, proc.stdout + proc.stderr))
    return root, outputs


def test_the_commands_of_the_doc_run(workspace):
    root, outputs = workspace
    commands = [line for line, _ in outputs]
    assert any('tools/train.py configs/mydata_tiny.py' in c for c in commands)
    for line, out in outputs:
        if 'check_dataset.py' in line:
            assert 'No problems found' in out, out[-2000:]
        if 'print_config.py' in line:
            assert "class_file='data/mydata/classes.txt'" in out
    work = root / 'work_dirs' / 'mydata_tiny'
    assert (work / 'epoch_2.pth').is_file()
    assert (work / 'loss.png').read_bytes()[:4] == b'\x89PNG'
    log = '\n'.join(p.read_text() for p in work.glob('*/*.log'))
    # the flip's label map, from the user's class file, is logged
    assert ("ClassNameFlip: 2 pair(s) of 10 classes swapped: 0 'moving "
            "something from left to right' <-> 1") in log
    assert 'data/mydata/classes.txt' in log
    assert 'Epoch(train) [1][1/3]' in log  # the first iteration is logged
    test_out = next(out for line, out in outputs if 'tools/test.py' in line)
    assert 'acc/top1' in test_out


@pytest.mark.parametrize('name, prefix', [('mydata_frames.py', 'img'),
                                          ('mydata_videos.py', 'video')])
def test_the_resnet50_configs_use_the_data_everywhere(workspace, name,
                                                      prefix):
    root, _ = workspace
    cwd = os.getcwd()
    os.chdir(root)
    try:
        cfg = Config.fromfile(str(root / 'configs' / name))
        assert cfg.model.cls_head.num_classes == 10
        for split in ('train', 'val', 'test'):
            dataset = cfg[f'{split}_dataloader'].dataset
            assert dataset.ann_file.startswith('data/mydata/')
            assert dataset.data_prefix[prefix].startswith('data/mydata/')
            assert dataset.class_file == 'data/mydata/classes.txt'
            assert dataset.num_classes == 10
        validate_config(cfg, check_checkpoint=False)
        init_default_scope('mmaction')
        split = 'train' if prefix == 'img' else 'test'
        dataset = DATASETS.build(cfg[f'{split}_dataloader'].dataset)
        sample = dataset[0]
        assert sample['data_samples'].gt_label.item() in range(10)
        if prefix == 'img':
            # the doc's swap_words reached the flip of the frames config
            flip = [t for t in dataset.pipeline.transforms
                    if type(t).__name__ == 'ClassNameFlip'][0]
            assert flip.flip_label_map == {0: 1, 1: 0, 6: 7, 7: 6}
            assert tuple(sample['inputs'].shape) == (1, 3, 8, 224, 224)
        else:
            # 10 clips x 3 crops of the Kinetics test
            assert tuple(sample['inputs'].shape) == (30, 3, 8, 256, 256)
    finally:
        os.chdir(cwd)
