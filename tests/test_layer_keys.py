from cakes_mmaction.layer_keys import (block_name, branch_key,
                                       conv_module_name, is_branch_param,
                                       local_branch_shape, parse_branch_key,
                                       site_name)


def test_site_and_module_names_round_trip():
    assert site_name('layer1.0.conv2.conv') == 'layer1.0.conv2'
    assert site_name('layer1.0.conv2.conv.') == 'layer1.0.conv2'
    assert site_name('layer1.0.conv2') == 'layer1.0.conv2'
    # Only a trailing ``.conv`` module is stripped, not a name's ending.
    assert site_name('layer1.0.myconv') == 'layer1.0.myconv'
    assert conv_module_name('layer1.0.conv2') == 'layer1.0.conv2.conv'
    assert conv_module_name('conv1', 'backbone.') == 'backbone.conv1.conv'
    assert site_name(conv_module_name('layer4.2.conv2')) == 'layer4.2.conv2'


def test_branch_keys_round_trip():
    key = branch_key('layer3.4.conv2', '3x1x1')
    assert key == 'backbone.layer3.4.conv2.conv.branches.3x1x1.weight'
    assert parse_branch_key(key) == ('layer3.4.conv2', '3x1x1')
    local = branch_key('layer3.4.conv2', '1x3x3', prefix='')
    assert parse_branch_key(local, prefix='') == ('layer3.4.conv2', '1x3x3')
    # With an empty prefix a recognizer key keeps its prefix in the site.
    assert parse_branch_key(key, prefix='') == ('backbone.layer3.4.conv2',
                                                '3x1x1')


def test_non_branch_keys_are_not_parsed():
    for key in ('backbone.layer1.0.conv2.bn.weight',
                'backbone.layer1.0.conv2.conv.branches.3x1x1.bias',
                'cls_head.fc_cls.weight',
                'layer1.0.conv2.conv.branches.3x1x1.weight'):
        assert parse_branch_key(key) is None


def test_local_branch_shape():
    prefix = 'backbone.layer1.0.conv2.conv.'
    assert local_branch_shape(prefix + 'branches.3x3x3.weight',
                              prefix) == '3x3x3'
    assert local_branch_shape(prefix + 'branches.3x3x3.bias', prefix) is None
    assert local_branch_shape('backbone.layer1.0.conv3.conv.branches.'
                              '3x3x3.weight', prefix) is None
    assert local_branch_shape(prefix + 'branches.a.b.weight', prefix) is None


def test_branch_params_and_blocks():
    assert is_branch_param('backbone.layer1.0.conv2.conv.branches.3x1x1.bias')
    assert is_branch_param('layer1.0.conv2.conv.branches.1x3x3.weight')
    assert not is_branch_param('backbone.layer1.0.conv2.bn.weight')
    assert block_name('layer3.4.conv2') == 'layer3.4'
