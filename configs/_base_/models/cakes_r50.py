# The CAKES ResNet-50 of the paper: mmaction2's I3D
# recognizer with the ResNet3dCAKES backbone. 1x7x7 stem, spatial-only
# strides, no temporal pooling, all 16 bottleneck middle convs CAKES,
# average over T,H,W + dropout 0.3 + linear classifier.
#
# Pick the assignment with
#   --cfg-options model.backbone.assignment=cakes23d_p        (a preset)
#   --cfg-options model.backbone.assignment=work_dirs/x.json  (a file)
_base_ = ['mmaction::_base_/models/i3d_r50.py']

custom_imports = dict(imports=['cakes_mmaction'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNet3dCAKES',
        depth=50,
        assignment='cakes123d_p',
        pretrained=None,  # or a local torchvision ResNet-50 .pth to inflate
        pretrained2d=True,
        conv1_kernel=(1, 7, 7),
        conv1_stride_t=1,
        pool1_stride_t=1,
        with_pool2=False,
        norm_eval=False,
        zero_init_residual=False),
    cls_head=dict(
        type='I3DHead',
        in_channels=2048,
        num_classes=400,
        spatial_type='avg',
        dropout_ratio=0.3,
        init_std=0.001,
        average_clips='prob'))
