# The CAKES search supernet of the paper's ResNet-50:
# every bottleneck middle conv offers every candidate shape at full width,
# one BatchNorm over all candidates (|gamma| = importance), conv3 over all
# candidates. Same skeleton as ./cakes_r50.py.
#
#   model.backbone.scheme: 'C' (all candidates + L1 on gamma, 9:3:1 by
#       kernel volume) or 'P' (exactly C random candidates per iteration).
#   model.backbone.shapes: 'video' (= '123d'), '12d', '23d', 'volumetric',
#       'volumetric_2d' or a list such as ['3x3x3', '3x1x1'].
#   model.sparsity (CAKESSearchRecognizer): unset/None = the scheme's
#       default (C: dict(s=1e-4, reweight=True); P: no term).
_base_ = ['./cakes_r50.py']

model = dict(
    type='CAKESSearchRecognizer',
    backbone=dict(
        _delete_=True,
        type='ResNet3dCAKESSupernet',
        scheme='C',
        shapes='video',
        depth=50,
        pretrained=None,  # or a local torchvision ResNet-50 .pth to inflate
        pretrained2d=True,
        conv1_kernel=(1, 7, 7),
        conv1_stride_t=1,
        pool1_stride_t=1,
        with_pool2=False,
        norm_eval=False,
        zero_init_residual=False))
