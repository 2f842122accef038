# Train a searched CAKES ResNet-50 on Something-Something V1, 8 frames,
# with the paper's recipe (the data, schedule and
# runtime of ./cakes_r50_sthv1.py): 70 epochs, lr 0.04 for batch 96 with a
# 5-epoch linear warm-up, x0.1 at 50 and 60, weight decay 3e-4 (none on
# BatchNorm and biases), grad-norm clip 20, dropout 0.3, best top-1
# checkpoint kept. No supernet weights are inherited.
#
#   A=work_dirs/cakes_r50_search_c_sthv1/assignment.json
#   python tools/train.py configs/cakes_r50_searched.py --cfg-options \
#       model.backbone.assignment=$A \
#       model.backbone.pretrained=checkpoints/resnet50_torchvision.pth
#
# model.backbone.assignment: the file tools/export_assignment.py wrote (it
#   is validated against the network before any weight exists). The default
#   below is where the SthV1 C search's export goes; it exists once that
#   search has run.
# model.backbone.pretrained: a LOCAL torchvision-layout 2D ResNet-50
#   checkpoint; CAKES layers inflate it per shape (ImageNet-style init).
#   None trains from scratch.
_base_ = ['./cakes_r50_sthv1.py']

model = dict(
    backbone=dict(
        assignment='work_dirs/cakes_r50_search_c_sthv1/assignment.json',
        pretrained=None,
        pretrained2d=True))
