# Train the search skeleton (../cakes_demo_train.py: the demo network with
# bottleneck blocks, CAKES widths 16/32/64, 8 frames of 32x32) with any
# channel assignment on the hard synthetic benchmark
# (../../_base_/datasets/synthetic_hard_rawframes.py, 12 classes), with the
# demo's recipe: 24 epochs of AdamW, batch 16, tested on the test split.
# Default: the uniform 1:1:1 split; tools/analysis/search_eval.py sets the
# assignment of each compared network.
_base_ = [
    '../cakes_demo_train.py',
    '../../_base_/datasets/synthetic_hard_rawframes.py'
]

train_dataloader = _base_.hard_train_dataloader
val_dataloader = _base_.hard_val_dataloader
test_dataloader = _base_.hard_test_dataloader
model = dict(cls_head=dict(num_classes=_base_.hard_num_classes))
