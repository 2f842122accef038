# The project's runtime base: every config of cakes-mmaction inherits it
# (and only it) for hooks, logging, environment and LR scaling, so shared
# settings are added here once.
# reliability.py inherits mmaction's default runtime and switches on the
# guards of docs/failure_modes.md (atomic checkpoints, copy-safe resume,
# distributed watchdog, data-fault accounting).
_base_ = ['./reliability.py']

# EpochSeedHook reseeds every epoch from (seed, epoch): with a fixed seed,
# a run restarted with --resume repeats the uninterrupted run exactly.
# ProgressLoggerHook is mmengine's LoggerHook that also logs the first
# iteration of training, validation and test, and any iteration that ends
# interval_s seconds after the previous line: a CPU run or a long test
# shows progress within the first minute whatever its interval.
# InputSizeHook records the training clip size in checkpoints, so that
# tools/demo.py can warn about a video far from it.
default_hooks = dict(
    epoch_seed=dict(type='EpochSeedHook'),
    logger=dict(type='ProgressLoggerHook', interval=20, interval_s=30),
    input_size=dict(type='InputSizeHook'))

# TensorBoard (optional: pip install tensorboard): a child config adds
# mmengine's backend to the local one:
#   visualizer = dict(vis_backends=[dict(type='LocalVisBackend'),
#                                   dict(type='TensorboardVisBackend')])
# Event files go to <work_dir>/<timestamp>/vis_data/
# (docs/training.md#logs-progress-tensorboard-and-curves).

# nccl is what GPU users expect. It never reaches a CPU run: tools/train.py
# and tools/test.py call cakes_mmaction.harness.compat.init_cpu_distributed,
# which switches a distributed run without CUDA to gloo (and DDP to
# device_ids=None) before the Runner is built. 'fork' + no OpenCV threads
# work on CPU and GPU machines alike; nothing here touches CUDA.
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

# `tools/train.py --auto-scale-lr` scales the optimizer's lr by
# (GPUs x batch per GPU) / base_batch_size. Each recipe sets
# base_batch_size to the total batch its lr was tuned for.
auto_scale_lr = dict(enable=False, base_batch_size=96)

# On CUDA, train and test GPU-fit: mixed precision (bf16 where the device
# supports it, else fp16 with dynamic loss scaling), channels_last_3d
# weights and clips, cuDNN autotuning. 'auto' = on when CUDA is available;
# `tools/train.py --gpu-fit on|off` or `--cfg-options gpu_fit.enable=False`
# choose. See cakes_mmaction/harness/engine/gpu_fit.py.
gpu_fit = dict(
    enable='auto', amp='auto', channels_last=True, cudnn_benchmark=True)
