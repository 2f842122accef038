"""Triton kernels of the fused CAKES convolution (imports triton).

Implicit GEMM on channels-last data: activations are ``NDHWC`` (a
``channels_last_3d`` tensor's storage), a GEMM row is one output (or input)
position, the reduction runs over taps and channels. Weights are packed per
shape as ``[tap][C_in][n]`` (see :mod:`.geometry`); ``tab_ptr`` points to
the shape table (``TABLE_WIDTH`` int32 columns per row). Accumulation is
fp32; ``PRECISION`` is ``tl.dot``'s ``input_precision`` (``'tf32'`` for
fp32 inputs when torch allows TF32 convolutions, else ``'ieee'``).

Import this module only after deciding on ``TRITON_INTERPRET``: triton
reads it when a kernel is decorated.
"""
import triton
import triton.language as tl
from triton import knobs

#: True when these kernels run in triton's CPU interpreter.
INTERPRETED = bool(knobs.runtime.interpret)

_WIDTH = tl.constexpr(10)  # geometry.TABLE_WIDTH


def autotune_configs(gpu, interpreter, interpreted=INTERPRETED):
    """``triton.Config`` list: the GPU ones, or the interpreter's one.

    Args:
        gpu (list): ``((BLOCK_M, BLOCK_N, BLOCK_K), warps, stages)`` each.
        interpreter (tuple): ``(BLOCK_M, BLOCK_N, BLOCK_K)``; the
            interpreter cannot benchmark, so it gets exactly one.
        interpreted (bool): Which to return. Defaults to
            :data:`INTERPRETED`.

    Returns:
        list[triton.Config]: The configurations.
    """
    keys = ('BLOCK_M', 'BLOCK_N', 'BLOCK_K')
    if interpreted:
        return [
            triton.Config(
                dict(zip(keys, interpreter)), num_warps=4, num_stages=1)
        ]
    return [
        triton.Config(dict(zip(keys, blocks)), num_warps=w, num_stages=s)
        for blocks, w, s in gpu
    ]


# (BLOCK_M, BLOCK_N, BLOCK_K), warps, stages. M: positions, N: the output
# tile's channels, K: the reduction's channel chunk.
FWD_TILES = ([((128, 128, 32), 8, 3), ((128, 64, 32), 4, 4),
              ((64, 64, 64), 4, 3)], (64, 16, 16))
# wgrad: M is C_in, N is the shape's output channels, K the positions.
WGRAD_TILES = ([((64, 64, 64), 4, 3), ((128, 64, 32), 8, 3),
                ((128, 128, 32), 8, 3)], (16, 16, 64))
_FWD_CONFIGS = autotune_configs(*FWD_TILES)
_DGRAD_CONFIGS = _FWD_CONFIGS
_WGRAD_CONFIGS = autotune_configs(*WGRAD_TILES)


@triton.jit
def _split_position(offs, T, H, W):
    w = offs % W
    rest = offs // W
    h = rest % H
    rest = rest // H
    t = rest % T
    return rest // T, t, h, w


@triton.autotune(
    configs=_FWD_CONFIGS, key=['M', 'C', 'C_out', 'NUM_SHAPES', 'PRECISION'])
@triton.jit
def cakes_fwd_kernel(x_ptr, w_ptr, b_ptr, y_ptr, tab_ptr, M, C, T, H, W, To,
                     Ho, Wo, C_out, s_t, s_h, s_w, NUM_SHAPES: tl.constexpr,
                     HAS_BIAS: tl.constexpr, PRECISION: tl.constexpr,
                     BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                     BLOCK_K: tl.constexpr):
    """y[m, co] = sum over the taps of co's shape and C_in, plus bias."""
    pid = tl.program_id(0)
    # Channel blocks never straddle two shapes: each shape's channels are
    # cut into blocks of BLOCK_N, and a program finds its shape by walking
    # the counts. The channel block varies fastest, so the programs of one
    # position tile (all shapes) run together and share its input in L2.
    n_blocks = 0
    for i in tl.static_range(NUM_SHAPES):
        n_blocks += tl.cdiv(tl.load(tab_ptr + i * _WIDTH), BLOCK_N)
    pid_n = pid % n_blocks
    pid_m = pid // n_blocks
    shape = pid_n * 0
    local = pid_n * 0
    rem = pid_n
    found = pid_n < 0
    for i in tl.static_range(NUM_SHAPES):
        nb = tl.cdiv(tl.load(tab_ptr + i * _WIDTH), BLOCK_N)
        take = (~found) & (rem < nb)
        shape = tl.where(take, i, shape)
        local = tl.where(take, rem, local)
        rem = tl.where(found | take, rem, rem - nb)
        found = found | take
    row = tab_ptr + shape * _WIDTH
    n_s = tl.load(row)
    co_off = tl.load(row + 1)
    w_tap = w_ptr + tl.load(row + 2)
    k_t = tl.load(row + 3)
    k_h = tl.load(row + 4)
    k_w = tl.load(row + 5)

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    m_mask = offs_m < M
    n_idx, t_o, h_o, w_o = _split_position(offs_m, To, Ho, Wo)
    # Input coordinates of tap (0, 0, 0); tap (dt, dh, dw) adds to them.
    t_0 = t_o * s_t - tl.load(row + 6)
    h_0 = h_o * s_h - tl.load(row + 7)
    w_0 = w_o * s_w - tl.load(row + 8)
    x_0 = x_ptr + (((n_idx * T + t_0) * H + h_0) * W + w_0).to(tl.int64) * C
    offs_n = local * BLOCK_N + tl.arange(0, BLOCK_N)
    n_mask = offs_n < n_s
    offs_k = tl.arange(0, BLOCK_K)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for d_t in range(0, k_t):
        ok_t = m_mask & (t_0 + d_t >= 0) & (t_0 + d_t < T)
        for d_h in range(0, k_h):
            ok_h = ok_t & (h_0 + d_h >= 0) & (h_0 + d_h < H)
            for d_w in range(0, k_w):
                ok = ok_h & (w_0 + d_w >= 0) & (w_0 + d_w < W)
                x_row = x_0 + ((d_t * H + d_h) * W + d_w) * C
                for k0 in range(0, C, BLOCK_K):
                    kk = k0 + offs_k
                    k_mask = kk < C
                    a = tl.load(
                        x_row[:, None] + kk[None, :],
                        mask=ok[:, None] & k_mask[None, :],
                        other=0.0)
                    b = tl.load(
                        w_tap + kk[:, None] * n_s + offs_n[None, :],
                        mask=k_mask[:, None] & n_mask[None, :],
                        other=0.0)
                    acc = tl.dot(a, b, acc, input_precision=PRECISION)
                w_tap += C * n_s
    if HAS_BIAS:
        bias = tl.load(b_ptr + co_off + offs_n, mask=n_mask, other=0.0)
        acc += bias.to(tl.float32)[None, :]
    y = y_ptr + offs_m.to(tl.int64)[:, None] * C_out + co_off + offs_n[None, :]
    tl.store(
        y,
        acc.to(y_ptr.dtype.element_ty),
        mask=m_mask[:, None] & n_mask[None, :])


@triton.autotune(
    configs=_DGRAD_CONFIGS, key=['M', 'C', 'C_out', 'NUM_SHAPES', 'PRECISION'])
@triton.jit
def cakes_dgrad_kernel(gy_ptr, w_ptr, gx_ptr, tab_ptr, M, C, T, H, W, To, Ho,
                       Wo, C_out, s_t, s_h, s_w, NUM_SHAPES: tl.constexpr,
                       PRECISION: tl.constexpr, BLOCK_M: tl.constexpr,
                       BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    """gx[m, ci] = sum over shapes, their taps and channels of gy * w.

    M counts input positions; one program owns a (positions, C_in) tile
    and reduces over every (shape, tap, output-channel block), so the
    input gradient is written once, not once per branch.
    """
    pid = tl.program_id(0)
    n_ci = tl.cdiv(C, BLOCK_N)
    pid_c = pid % n_ci
    pid_m = pid // n_ci
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    m_mask = offs_m < M
    n_idx, t_i, h_i, w_i = _split_position(offs_m, T, H, W)
    offs_c = pid_c * BLOCK_N + tl.arange(0, BLOCK_N)
    c_mask = offs_c < C
    offs_k = tl.arange(0, BLOCK_K)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for s in tl.static_range(NUM_SHAPES):
        row = tab_ptr + s * _WIDTH
        n_s = tl.load(row)
        gy_s = gy_ptr + tl.load(row + 1)
        w_tap = w_ptr + tl.load(row + 2)
        k_t = tl.load(row + 3)
        k_h = tl.load(row + 4)
        k_w = tl.load(row + 5)
        # Output o reads input o * stride - pad + d: invert it, keeping
        # the rows where the division is exact.
        t_n = t_i + tl.load(row + 6)
        h_n = h_i + tl.load(row + 7)
        w_n = w_i + tl.load(row + 8)
        for d_t in range(0, k_t):
            t_o = (t_n - d_t) // s_t
            ok_t = m_mask & (t_n - d_t >= 0) & ((t_n - d_t) % s_t == 0) & (
                t_o < To)
            for d_h in range(0, k_h):
                h_o = (h_n - d_h) // s_h
                ok_h = ok_t & (h_n - d_h >= 0) & ((h_n - d_h) % s_h == 0) & (
                    h_o < Ho)
                row_h = (n_idx * To + t_o) * Ho + h_o
                for d_w in range(0, k_w):
                    w_o = (w_n - d_w) // s_w
                    ok = ok_h & (w_n - d_w >= 0) & ((w_n - d_w) % s_w == 0) & (
                        w_o < Wo)
                    gy_row = gy_s + (row_h * Wo + w_o).to(tl.int64) * C_out
                    for k0 in range(0, n_s, BLOCK_K):
                        kk = k0 + offs_k
                        k_mask = kk < n_s
                        a = tl.load(
                            gy_row[:, None] + kk[None, :],
                            mask=ok[:, None] & k_mask[None, :],
                            other=0.0)
                        b = tl.load(
                            w_tap + offs_c[None, :] * n_s + kk[:, None],
                            mask=k_mask[:, None] & c_mask[None, :],
                            other=0.0)
                        acc = tl.dot(a, b, acc, input_precision=PRECISION)
                    w_tap += C * n_s
    gx = gx_ptr + offs_m.to(tl.int64)[:, None] * C + offs_c[None, :]
    tl.store(
        gx,
        acc.to(gx_ptr.dtype.element_ty),
        mask=m_mask[:, None] & c_mask[None, :])


@triton.autotune(
    configs=_WGRAD_CONFIGS,
    key=['M', 'C', 'C_out', 'MAX_N', 'PRECISION'],
    reset_to_zero=['part_ptr'])
@triton.jit
def cakes_wgrad_kernel(x_ptr, gy_ptr, part_ptr, tap_ptr, M, C, T, H, W, To, Ho,
                       Wo, C_out, s_t, s_h, s_w, MAX_N, chunk, part_stride,
                       ATOMIC: tl.constexpr, PRECISION: tl.constexpr,
                       BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                       BLOCK_K: tl.constexpr):
    """dw[tap][ci, co] = sum over output positions of x(shifted) * gy.

    Axis 0: (shape, tap) rows of the tap table times (C_in, n) tiles;
    axis 1: split of the positions into chunks (split-K). Each split
    writes its own slice of ``part_ptr`` (summed afterwards, so the result
    does not depend on scheduling) or, with ``ATOMIC``, adds into one.
    """
    pid = tl.program_id(0)
    split = tl.program_id(1)
    n_ci = tl.cdiv(C, BLOCK_M)
    n_co = tl.cdiv(MAX_N, BLOCK_N)
    pair = pid // (n_ci * n_co)
    tile = pid % (n_ci * n_co)
    pid_ci = tile // n_co
    pid_co = tile % n_co
    row = tap_ptr + pair * _WIDTH
    n_s = tl.load(row)
    co_off = tl.load(row + 1)
    w_off = tl.load(row + 2)
    o_t = tl.load(row + 3)
    o_h = tl.load(row + 4)
    o_w = tl.load(row + 5)
    offs_ci = pid_ci * BLOCK_M + tl.arange(0, BLOCK_M)
    ci_mask = offs_ci < C
    offs_co = pid_co * BLOCK_N + tl.arange(0, BLOCK_N)
    co_mask = offs_co < n_s
    m_start = split * chunk
    m_end = tl.minimum(m_start + chunk, M)
    # Tiles past a narrow shape's last channel have nothing to do.
    m_end = tl.where(pid_co * BLOCK_N < n_s, m_end, m_start)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for m0 in range(m_start, m_end, BLOCK_K):
        offs_m = m0 + tl.arange(0, BLOCK_K)
        m_mask = offs_m < m_end
        n_idx, t_o, h_o, w_o = _split_position(offs_m, To, Ho, Wo)
        t_i = t_o * s_t + o_t
        h_i = h_o * s_h + o_h
        w_i = w_o * s_w + o_w
        ok = m_mask & (t_i >= 0) & (t_i < T) & (h_i >= 0) & (h_i < H) & (
            w_i >= 0) & (
                w_i < W)
        x_row = x_ptr + ((
            (n_idx * T + t_i) * H + h_i) * W + w_i).to(tl.int64) * C
        a = tl.load(
            x_row[None, :] + offs_ci[:, None],
            mask=ci_mask[:, None] & ok[None, :],
            other=0.0)
        b = tl.load(
            gy_ptr + offs_m.to(tl.int64)[:, None] * C_out + co_off +
            offs_co[None, :],
            mask=m_mask[:, None] & co_mask[None, :],
            other=0.0)
        acc = tl.dot(a, b, acc, input_precision=PRECISION)
    mask = ci_mask[:, None] & co_mask[None, :]
    dst = w_off + offs_ci[:, None] * n_s + offs_co[None, :]
    if ATOMIC:
        tl.atomic_add(part_ptr + dst, acc, mask=mask)
    else:
        tl.store(
            part_ptr + split.to(tl.int64) * part_stride + dst, acc, mask=mask)
