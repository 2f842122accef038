# P-scheme search (../cakes_search_p_demo.py: 40 epochs, exactly C random
# candidates per layer per iteration) on the hard synthetic benchmark
# (../../_base_/datasets/synthetic_hard_rawframes.py, 12 classes).
_base_ = [
    '../cakes_search_p_demo.py',
    '../../_base_/datasets/synthetic_hard_rawframes.py'
]

train_dataloader = _base_.hard_train_dataloader
val_dataloader = _base_.hard_val_dataloader
test_dataloader = _base_.hard_test_dataloader
model = dict(cls_head=dict(num_classes=_base_.hard_num_classes))
