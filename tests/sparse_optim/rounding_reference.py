"""NumPy reference of stochastic rounding to float16 / bfloat16
(csrc/common/stochastic_round.h): Philox4x32-10 written out from Salmon et
al. (SC'11) over uint64 arithmetic, the bits-per-element layout, and the
rounding rule stated as "go up when the uniform falls below the fraction",
computed on the float64 grid rather than on bit patterns, so it checks the
kernels' bit tricks instead of repeating them."""

import ml_dtypes
import numpy as np

M0, M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
W0, W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)
MASK32 = np.uint64(0xFFFFFFFF)
BITS_PER_BLOCK = 8


def philox4x32_10(counter_lo, counter_hi, key):
    """[n, 4] uint32 blocks for uint64 arrays counter_lo, counter_hi and a key."""
    c0 = counter_lo & MASK32
    c1 = counter_lo >> np.uint64(32)
    c2 = counter_hi & MASK32
    c3 = counter_hi >> np.uint64(32)
    k0 = np.uint64(key) & MASK32
    k1 = np.uint64(key) >> np.uint64(32)
    for _ in range(10):
        p0 = M0 * c0
        p1 = M1 * c2
        c0, c1, c2, c3 = (
            (p1 >> np.uint64(32)) ^ c1 ^ k0,
            p1 & MASK32,
            (p0 >> np.uint64(32)) ^ c3 ^ k1,
            p0 & MASK32,
        )
        k0 = (k0 + W0) & MASK32
        k1 = (k1 + W1) & MASK32
    return np.stack([c0, c1, c2, c3], axis=-1).astype(np.uint32)


def round_bits(seed, step, rows, dim):
    """[len(rows), dim] uint32: each element's 16 random bits."""
    rows = np.asarray(rows, np.uint64)
    blocks = (dim + BITS_PER_BLOCK - 1) // BITS_PER_BLOCK
    b = np.arange(blocks, dtype=np.uint64)
    lo = (rows[:, None] * np.uint64(blocks) + b[None, :]).reshape(-1)
    hi = np.full_like(lo, np.uint64(step))
    words = philox4x32_10(lo, hi, seed).reshape(len(rows), blocks, 4)
    halves = np.stack([words & 0xFFFF, words >> 16], axis=-1).reshape(len(rows), blocks * 8)
    return halves[:, :dim].astype(np.uint32)


def stochastic_round(x, r16, dtype):
    """float64 values x rounded to `dtype` ("float16" / "bfloat16") with the
    16-bit uniforms r16: away from zero when u < the fraction of the way from
    the lower neighbour (in magnitude) to the upper one. The kernels add r
    below the cut, which carries when r >= 2^b - low bits, so their uniform
    is u = (2^b - 1 - r) / 2^b with b = 16 (bfloat16) or 13 (normal float16,
    r's low 13 bits); float16 subnormals compare u = r / 2^16."""
    np_dtype = np.float16 if dtype == "float16" else ml_dtypes.bfloat16
    x = np.asarray(x, np.float64)
    mag = np.abs(x)
    lo = mag.astype(np_dtype).astype(np.float64)  # to nearest, then step down if above
    lo = np.where(lo > mag, np.nextafter(lo.astype(np_dtype), np_dtype(0)).astype(np.float64), lo)
    hi = np.nextafter(lo.astype(np_dtype), np_dtype(np.inf)).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(hi > lo, (mag - lo) / (hi - lo), 0.0)
    r16 = np.asarray(r16, np.int64)
    if dtype == "bfloat16":
        u = (65535 - r16) / 65536.0
    else:
        normal = mag >= 2.0**-14
        u = np.where(normal, (8191 - (r16 & 0x1FFF)) / 8192.0, r16 / 65536.0)
    out = np.where(u < frac, hi, lo)
    return (np.sign(x) * out).astype(np_dtype)
