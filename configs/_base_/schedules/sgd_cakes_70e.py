# The CAKES training recipe: SGD momentum 0.9, lr 0.04
# for a total batch of 96 (8 GPUs x 12, auto_scale_lr in the configs), 70
# epochs, lr x0.1 at epochs 50 and 60 after a 5-epoch linear warm-up,
# weight decay 3e-4 on conv / fc weights only (none on BN and biases, also
# during the warm-up, unlike the official code), gradient-norm clipping at
# 20.
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=70, val_begin=1, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.04, momentum=0.9, weight_decay=3e-4),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
    clip_grad=dict(max_norm=20, norm_type=2))

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.01,
        by_epoch=True,
        begin=0,
        end=5,
        convert_to_iter_based=True),
    dict(
        type='MultiStepLR',
        begin=0,
        end=70,
        by_epoch=True,
        milestones=[50, 60],
        gamma=0.1)
]
