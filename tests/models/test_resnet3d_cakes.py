import random
import re

import pytest
import torch
import torch.nn as nn
from mmaction.models.backbones.resnet3d import ResNet3d
from mmengine.runner.checkpoint import load_checkpoint
from torch.nn.modules.batchnorm import _BatchNorm

from cakes_mmaction.assignment import Assignment, AssignmentError, list_presets
from cakes_mmaction.layers import CAKESConv3d
from cakes_mmaction.models import ResNet3dCAKES
from .resnet2d import BasicBlock2d, Bottleneck2d, ResNet2d, randomize

BRANCH = re.compile(r'^(.*)\.conv\.branches\.(\d+x\d+x\d+)\.weight$')
PAPER = dict(conv1_kernel=(1, 7, 7), conv1_stride_t=1, pool1_stride_t=1,
             with_pool2=False)


def _random_layers(net, shapes, seed):
    rng = random.Random(seed)
    layers = {}
    for path, layer in net.cakes_layers.items():
        width = layer.out_channels
        cuts = sorted(rng.randint(0, width) for _ in shapes[1:])
        layers[path] = dict(
            zip(shapes, [b - a for a, b in zip([0] + cuts, cuts + [width])]))
    return layers


def _cakes_to_dense_state(cakes):
    """State dict of the dense ResNet3d equivalent to ``cakes``."""
    out = {}
    dense_weights = {p: m.to_dense()[0] for p, m in cakes.cakes_layers.items()}
    for key, value in cakes.state_dict().items():
        match = BRANCH.match(key)
        if match:
            path = match.group(1)
            out[path + '.conv.weight'] = dense_weights[path]
        else:
            out[key] = value
    return out


def _dense_to_cakes_state(dense, cakes):
    """Copy a ResNet3d into a single-shape CAKES net (weights by mapping)."""
    sd = dense.state_dict()
    out = {}
    for key in cakes.state_dict():
        match = BRANCH.match(key)
        out[key] = sd[match.group(1) + '.conv.weight'] if match else sd[key]
    return out


def _compare(a, b, x, train):
    a.train(train)
    b.train(train)
    with torch.no_grad():
        torch.testing.assert_close(a(x), b(x), rtol=1e-4, atol=1e-4)


SKELETONS = [
    dict(depth=18, base_channels=8, **PAPER),
    dict(depth=50, base_channels=4, **PAPER),
    # mmaction's own I3D-style settings pass through unchanged.
    dict(depth=18, base_channels=8, conv1_kernel=(3, 7, 7), conv1_stride_t=2,
         with_pool2=True, temporal_strides=(1, 1, 2, 1),
         dilations=(1, 1, 1, 2)),
]


@pytest.mark.parametrize('skeleton', SKELETONS)
@pytest.mark.parametrize('shape,inflate', [('3x3x3', 1), ('1x3x3', 0)])
def test_single_shape_equals_resnet3d(skeleton, shape, inflate):
    """All-3x3x3 == inflated ResNet3d; all-1x3x3 == non-inflated ResNet3d."""
    torch.manual_seed(0)
    dense = ResNet3d(inflate=inflate, inflate_style='3x3x3', **skeleton)
    randomize(dense)
    cakes = ResNet3dCAKES(assignment=dict(uniform=[shape]), **skeleton)
    cakes.load_state_dict(_dense_to_cakes_state(dense, cakes))
    assert all(layer.shapes == (shape, )
               for layer in cakes.cakes_layers.values())
    x = torch.randn(2, 3, 8, 32, 32)
    _compare(dense, cakes, x, train=False)
    _compare(dense, cakes, x, train=True)


@pytest.mark.parametrize('depth,base,shapes', [
    (18, 8, ['3x3x3', '1x3x3', '3x1x1']),
    (50, 4, ['3x3x3', '1x3x3', '3x1x1']),
    (18, 8, ['3x3x1', '1x1x3', '1x1x1', '3x3x3']),
])
def test_random_assignment_equals_masked_resnet3d(depth, base, shapes):
    probe = ResNet3dCAKES(assignment=dict(uniform=['3x3x3']), depth=depth,
                          base_channels=base)
    cakes = ResNet3dCAKES(
        assignment=dict(layers=_random_layers(probe, shapes, depth)),
        depth=depth, base_channels=base)
    randomize(cakes, seed=1)
    dense = ResNet3d(inflate=1, inflate_style='3x3x3', depth=depth,
                     base_channels=base, **PAPER)
    dense.load_state_dict(_cakes_to_dense_state(cakes))
    x = torch.randn(2, 3, 6, 32, 32)
    _compare(dense, cakes, x, train=False)


def test_sites_and_paths():
    r18 = ResNet3dCAKES(assignment=dict(uniform='video'), depth=18,
                        base_channels=8)
    assert list(r18.cakes_layers) == [
        f'layer{i}.{j}.conv{k}' for i in range(1, 5) for j in range(2)
        for k in (1, 2)
    ]
    r50 = ResNet3dCAKES(assignment=dict(uniform='video'), depth=50,
                        base_channels=4)
    assert len(r50.cakes_layers) == 16
    assert all(p.endswith('.conv2') for p in r50.cakes_layers)
    for path, site in r50.cakes_sites().items():
        assert site.conv is r50.cakes_layers[path]
        assert isinstance(site.conv, CAKESConv3d) and site.conv.layer_name
    # 1x1 convs and the stem keep their dense kernels.
    assert r50.layer1[0].conv1.conv.kernel_size == (1, 1, 1)
    assert r50.conv1.conv.kernel_size == (1, 7, 7)
    with pytest.raises(ValueError, match="does not take 'inflate'"):
        ResNet3dCAKES(depth=18, inflate=0)
    with pytest.raises(ValueError, match="does not take 'inflate_style'"):
        ResNet3dCAKES(depth=18, inflate_style='3x1x1')


def test_every_preset_builds_the_resnet50():
    with torch.device('meta'):  # shapes only: fast and memory-free
        reference = ResNet3d(depth=50, inflate_style='3x3x3', **PAPER)
    widths = {
        name: m.conv.out_channels
        for name, m in reference.named_modules()
        if name.endswith('conv2') and name.startswith('layer')
    }
    assert len(widths) == 16
    for name in list_presets():
        preset = Assignment.preset(name)
        assert {p: preset.width(p) for p in preset} == widths, name
        with torch.device('meta'):
            net = ResNet3dCAKES(assignment=name)
        assert net.assignment == preset
        for path, layer in net.cakes_layers.items():
            assert dict(layer.counts) == preset[path], (name, path)
        assert net.feat_dim == 2048


def test_assignment_from_file_and_config_errors(tmp_path):
    from mmaction.registry import MODELS
    from mmengine.config import Config
    base = Assignment.uniform({f'layer{i}.0.conv2': 4 * 2**(i - 1)
                               for i in range(1, 5)}, '12d')
    path = tmp_path / 'a.json'
    base.save(path)
    small = dict(depth=50, base_channels=4, stage_blocks=(1, 1, 1, 1))
    net = ResNet3dCAKES(assignment=str(path), **small)
    assert net.assignment == base and net.assignment.source == str(path)
    # A width the assignment cannot fit: the error names the file, the
    # layer, the counts and the expected width.
    cfg = Config(dict(model=dict(type='ResNet3dCAKES', assignment=str(path),
                                 depth=50, base_channels=8,
                                 stage_blocks=(1, 1, 1, 1))))
    with pytest.raises(AssignmentError, match=re.escape(str(path)) +
                       r": layer 'layer1.0.conv2': counts .* sum to 4, "
                       r'expected the layer width 8'):
        MODELS.build(cfg.model)
    with pytest.raises(AssignmentError, match=r"preset:cakes12d_p: layer "
                       r"'layer1.2.conv2' is not a CAKES layer"):
        ResNet3dCAKES(assignment='cakes12d_p', depth=18)
    with pytest.raises(AssignmentError, match=r"no counts for layer "
                       r"'layer1.1.conv2'"):
        ResNet3dCAKES(assignment=str(path), depth=50, base_channels=4,
                      stage_blocks=(2, 1, 1, 1))
    with pytest.raises(AssignmentError, match="'cakes_xyz' is neither a "
                       r'preset \(\[.cakes123d_c.*nor a file path'):
        ResNet3dCAKES(assignment='cakes_xyz')


# --------------------------------------------------------------------------
# ResNet3d options behave as in ResNet3d.
# --------------------------------------------------------------------------
def _cakes_name(name, sites):
    path = name[:-len('.conv.weight')]
    if name.endswith('.conv.weight') and path in sites:
        return f'{path}.conv.branches.3x3x3.weight'
    return name


@pytest.mark.parametrize('depth', [18, 50])
def test_frozen_stages_and_norm_eval_as_resnet3d(depth):
    opts = dict(depth=depth, base_channels=4, frozen_stages=2,
                norm_eval=True, **PAPER)
    dense = ResNet3d(inflate_style='3x3x3', **opts)
    cakes = ResNet3dCAKES(assignment=dict(uniform=['3x3x3']), **opts)
    for mode in (True, False, True):
        dense.train(mode)
        cakes.train(mode)
        grads = {_cakes_name(n, cakes.cakes_layers): p.requires_grad
                 for n, p in dense.named_parameters()}
        assert {n: p.requires_grad
                for n, p in cakes.named_parameters()} == grads
        training = {n: m.training for n, m in dense.named_modules()
                    if isinstance(m, (_BatchNorm, nn.Conv3d))}
        ours = {n: m.training for n, m in cakes.named_modules()
                if isinstance(m, _BatchNorm)}
        assert ours == {n: t for n, t in training.items() if n in ours}
    assert not cakes.layer2[0].conv2.conv.branches['3x3x3'].weight \
        .requires_grad
    assert cakes.layer3[0].conv2.conv.branches['3x3x3'].weight.requires_grad
    assert not any(m.training for m in cakes.modules()
                   if isinstance(m, _BatchNorm))
    assert cakes.layer3.training and not cakes.layer2.training


def test_with_cp_recomputes_and_matches_resnet3d():
    opts = dict(depth=18, base_channels=4, **PAPER)
    x = torch.randn(1, 3, 4, 32, 32)
    outs = {}
    for with_cp in (False, True):
        dense = ResNet3d(inflate_style='3x3x3', with_cp=with_cp, **opts)
        randomize(dense)
        cakes = ResNet3dCAKES(assignment=dict(uniform=['3x3x3']),
                              with_cp=with_cp, **opts)
        cakes.load_state_dict(_dense_to_cakes_state(dense, cakes))
        calls = []
        layer = cakes.cakes_layers['layer2.0.conv1']
        layer.register_forward_hook(lambda *_: calls.append(1))
        for net in (dense, cakes):
            inp = x.clone().requires_grad_()
            out = net(inp)
            out.sum().backward()
            outs.setdefault(with_cp, []).append((out.detach(), inp.grad))
        # Checkpointing runs the block forward again during backward.
        assert len(calls) == (2 if with_cp else 1)
        assert all(block.with_cp == with_cp for block in cakes.layer1)
    for with_cp, ((d_out, d_grad), (c_out, c_grad)) in outs.items():
        torch.testing.assert_close(c_out, d_out, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(c_grad, d_grad, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('depth,bn', [(18, 'conv2'), (50, 'conv3')])
def test_init_weights_and_zero_init_residual(depth, bn):
    for zero in (True, False):
        net = ResNet3dCAKES(assignment=dict(uniform='video'), depth=depth,
                            base_channels=16, zero_init_residual=zero)
        net.init_weights()
        last = getattr(net.layer4[-1], bn).bn.weight
        assert bool(torch.all(last == 0)) == zero
    # Kaiming normal, fan_out, relu: std sqrt(2 / (n_out * |kernel|)).
    layer = net.cakes_layers['layer4.0.conv2' if depth == 50 else
                             'layer4.0.conv1']
    for shape, branch in layer.branches.items():
        fan_out = branch.weight.shape[0] * branch.weight[0, 0].numel()
        std = branch.weight.std().item()
        assert abs(std / (2 / fan_out)**0.5 - 1) < 0.15, shape


# --------------------------------------------------------------------------
# Inflation of a torchvision-layout 2D ResNet.
# --------------------------------------------------------------------------
INFLATION = [
    (18, BasicBlock2d, ['3x3x3'], 0),
    (18, BasicBlock2d, ['1x3x3'], 0),
    (18, BasicBlock2d, ['3x3x3', '1x3x3'], 1),
    (50, Bottleneck2d, ['3x3x3', '1x3x3'], 2),
    (50, Bottleneck2d, ['1x3x3', '3x3x3'], 3),
]


def _inflated_pair(depth, block, shapes, seed, base):
    net2d = randomize(ResNet2d(block, (1, 1, 1, 1), base=base), seed)
    probe = ResNet3dCAKES(assignment=dict(uniform=['3x3x3']), depth=depth,
                          base_channels=base, stage_blocks=(1, 1, 1, 1))
    layers = _random_layers(probe, shapes, seed)
    net3d = ResNet3dCAKES(assignment=dict(layers=layers), depth=depth,
                          base_channels=base, stage_blocks=(1, 1, 1, 1))
    return net2d, net3d


@pytest.mark.parametrize('depth,block,shapes,seed', INFLATION)
def test_inflation_matches_2d_on_clip_constant_in_time(
        depth, block, shapes, seed):
    net2d, net3d = _inflated_pair(depth, block, shapes, seed, base=8)
    used = net3d.inflate_from_state_dict_2d(net2d.state_dict())
    unused = set(net2d.state_dict()) - set(used)
    assert unused == {'fc.weight', 'fc.bias'}
    net2d.eval()
    net3d.eval()
    temporal = sum(1 for layer in net3d.cakes_layers.values()
                   if layer.counts.get('3x3x3'))
    # Zero padding reaches `temporal` frames in from each end.
    frames = max(2 * temporal + 1, 3)
    image = torch.randn(2, 3, 32, 32)
    clip = image[:, :, None].expand(-1, -1, frames, -1, -1).contiguous()
    with torch.no_grad():
        ref = net2d(image)
        out = net3d(clip)
    centre = out[:, :, frames // 2]
    torch.testing.assert_close(centre, ref, rtol=1e-4, atol=1e-4)
    if temporal == 0:  # purely 2D: every frame matches
        for t in range(frames):
            torch.testing.assert_close(out[:, :, t], ref, rtol=1e-4,
                                       atol=1e-4)
    else:  # the border frames do see the temporal zero padding
        assert not torch.allclose(out[:, :, 0], ref, atol=1e-3)


def test_inflation_through_pretrained_file(tmp_path):
    net2d, net3d = _inflated_pair(50, Bottleneck2d, ['3x3x3', '1x3x3'], 4,
                                  base=4)
    path = tmp_path / 'r2d.pth'
    torch.save({'state_dict': net2d.state_dict()}, path)
    from_file = ResNet3dCAKES(
        assignment=net3d.assignment, depth=50, base_channels=4,
        stage_blocks=(1, 1, 1, 1), pretrained=str(path), pretrained2d=True)
    from_file.init_weights()
    net3d.inflate_from_state_dict_2d(net2d.state_dict())
    mine, theirs = from_file.state_dict(), net3d.state_dict()
    assert mine.keys() == theirs.keys()
    for key in mine:
        torch.testing.assert_close(mine[key], theirs[key], msg=key)


def test_inflation_fills_branches_by_position_with_zero_counts():
    """Official defect 6: a zero-count branch must not shift the others."""
    net2d = randomize(ResNet2d(Bottleneck2d, (1, 1, 1, 1), base=4))
    probe = ResNet3dCAKES(assignment=dict(uniform=['3x3x3']), depth=50,
                          base_channels=4, stage_blocks=(1, 1, 1, 1))
    patterns = [(0, 1, 3), (0, 0, 1), (1, 0, 1), (1, 1, 0)]
    layers = {}
    for (path, layer), zeros in zip(probe.cakes_layers.items(), patterns):
        n = layer.out_channels
        parts = [n // 4 * 2, n // 4, n - n // 4 * 3]
        counts = [p * z for p, z in zip(parts, zeros)]
        counts[zeros.index(max(zeros))] += n - sum(counts)
        layers[path] = dict(zip(['3x3x3', '1x3x3', '3x1x1'], counts))
    net3d = ResNet3dCAKES(assignment=dict(layers=layers), depth=50,
                          base_channels=4, stage_blocks=(1, 1, 1, 1))
    sd2d = net2d.state_dict()
    net3d.inflate_from_state_dict_2d(sd2d)
    for path, layer in net3d.cakes_layers.items():
        w2d = sd2d[path + '.weight']
        start = 0
        for shape, n in layer.counts.items():
            if not n:
                assert shape not in layer.branches
                continue
            w = layer.branches[shape].weight
            part = w2d[start:start + n]
            if shape == '3x1x1':
                part = part.sum((2, 3), keepdim=True)
            t = w.shape[2]
            for i in range(t):
                torch.testing.assert_close(w[:, :, i], part / t)
            start += n
        bn = net3d.cakes_sites()[path].bn
        torch.testing.assert_close(bn.running_var,
                                   sd2d[path.replace('conv', 'bn') +
                                        '.running_var'])


# --------------------------------------------------------------------------
# Checkpoints of another assignment.
# --------------------------------------------------------------------------
def _two_assignments():
    probe = ResNet3dCAKES(assignment=dict(uniform=['3x3x3']), depth=18,
                          base_channels=4)
    a = _random_layers(probe, ['3x3x3', '1x3x3', '3x1x1'], 10)
    b = dict(a)
    # Same layer sets; the first difference is in layer2.0.conv2.
    b['layer2.0.conv2'] = dict(reversed(list(a['layer2.0.conv2'].items())))
    b['layer2.0.conv2'] = {'3x3x3': 8, '1x3x3': 0, '3x1x1': 0}
    b['layer4.1.conv2'] = {'3x3x3': 0, '1x3x3': 32, '3x1x1': 0}
    kwargs = dict(depth=18, base_channels=4)
    return (ResNet3dCAKES(assignment=dict(layers=a), **kwargs),
            ResNet3dCAKES(assignment=dict(layers=b), **kwargs), a, b)


def _check_message(message, a, b):
    # The layer is named by its module path in the model being loaded.
    assert re.search(r"layer '(backbone\.)?layer2\.0\.conv2'", message)
    theirs = {s: n for s, n in a['layer2.0.conv2'].items() if n}
    assert f'{theirs} in the checkpoint' in message
    assert "{'3x3x3': 8} in the model" in message
    assert message.count('\n') == 0 and 'size mismatch' not in message


def test_other_assignment_fails_with_one_message_torch():
    net_a, net_b, a, b = _two_assignments()
    with pytest.raises(AssignmentError) as err:
        net_b.load_state_dict(net_a.state_dict())
    _check_message(str(err.value), a, b)
    # Assignment.from_state_dict names the way out.
    found = Assignment.from_state_dict(net_a.state_dict(), prefix='')
    fixed = ResNet3dCAKES(assignment=found, depth=18, base_channels=4)
    fixed.load_state_dict(net_a.state_dict())


def test_other_assignment_fails_with_one_message_mmengine(tmp_path):
    from mmaction.registry import MODELS
    net_a, net_b, a, b = _two_assignments()
    path = tmp_path / 'a.pth'
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in net_a.state_dict().items()},
                'meta': {'epoch': 1}}, path)
    recognizer = MODELS.build(dict(
        type='Recognizer3D',
        _scope_='mmaction',  # its data preprocessor is built by scope
        backbone=dict(type='ResNet3dCAKES', depth=18, base_channels=4,
                      assignment=dict(layers=b)),
        cls_head=dict(type='I3DHead', in_channels=32, num_classes=3)))
    with pytest.raises(AssignmentError) as err:
        load_checkpoint(recognizer, str(path), map_location='cpu')
    _check_message(str(err.value), a, b)
    # The same file loads into a model of its own assignment.
    recognizer.backbone = net_a
    load_checkpoint(recognizer, str(path), map_location='cpu')
