# CAKES search, P ("performance priority") scheme, ResNet-50 on
# Something-Something V1, 8 frames: every training
# iteration each layer keeps a random subset of exactly C of its candidates
# (torch RNG, governed by `randomness=dict(seed=...)`); no sparsity term;
# validation runs the top-C network export would produce. 140 epochs,
# lr 0.04 for batch 96, x0.1 at epochs 100 and 120.
#
#   python tools/train.py configs/search/cakes_r50_search_p_sthv1.py
#   python tools/export_assignment.py \
#       configs/search/cakes_r50_search_p_sthv1.py \
#       work_dirs/cakes_r50_search_p_sthv1/epoch_140.pth \
#       --out work_dirs/cakes_r50_search_p_sthv1/assignment.json
#
# Shape set: --cfg-options model.backbone.shapes=23d   (or 12d, video, ...).
_base_ = ['./cakes_r50_search_c_sthv1.py']

model = dict(sparsity=None, backbone=dict(scheme='P'))

# No sparsity term, so no CAKESSparsityHook; the runtime guards stay.
custom_hooks = _base_.reliability_hooks

train_cfg = dict(max_epochs=140)

param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=140,
        by_epoch=True,
        milestones=[100, 120],
        gamma=0.1)
]
