# CAKES search, P scheme, on the synthetic demo dataset: exactly C random
# candidates per layer per iteration, no sparsity term, twice the C
# search's epochs (as in the paper: 140 vs 70), steps at 5/7 and 6/7.
#
#   python tools/train.py configs/search/cakes_search_p_demo.py
#   python tools/export_assignment.py configs/search/cakes_search_p_demo.py \
#       work_dirs/cakes_search_p_demo/epoch_40.pth --input-shape 8 32 32 \
#       --out work_dirs/cakes_search_p_demo/assignment.json
_base_ = ['./cakes_search_c_demo.py']

model = dict(sparsity=None, backbone=dict(scheme='P'))

# No sparsity term, so no CAKESSparsityHook; the runtime guards stay.
custom_hooks = _base_.reliability_hooks

train_cfg = dict(max_epochs=40, val_interval=10)

param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=40,
        by_epoch=True,
        milestones=[28, 34],
        gamma=0.1)
]

default_hooks = dict(checkpoint=dict(interval=10))
