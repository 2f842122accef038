# Train the demo search's network (the skeleton of ./cakes_search_c_demo.py)
# with any channel assignment on the synthetic demo dataset, with the demo's
# recipe (../demo/cakes_tiny_synthetic.py: 24 epochs of AdamW, batch 16).
# It is the demo network with bottleneck blocks, which the search needs
# (a basic block's second conv feeds the residual sum and cannot be widened
# into candidates): 3 stages of one bottleneck, CAKES widths 16/32/64 as in
# the demo, 1x7x7 stem, no temporal stride, 8 frames of 32x32, 10 classes.
# Default: the uniform 1:1:1 split over 3x3x3, 1x3x3, 3x1x1.
#
#   searched: --cfg-options \
#       model.backbone.assignment=work_dirs/cakes_search_c_demo/assignment.json
#   all-3D:   --cfg-options \
#       "model.backbone.assignment.uniform=[3x3x3]"
#   all-2D:   --cfg-options \
#       "model.backbone.assignment.uniform=[1x3x3]"
#
#   python tools/train.py configs/search/cakes_demo_train.py \
#       --work-dir work_dirs/demo_searched_c --cfg-options ...
_base_ = ['../demo/cakes_tiny_synthetic.py']

model = dict(
    backbone=dict(depth=50),
    # 4 x 64: the last bottleneck's output channels.
    cls_head=dict(in_channels=256))
