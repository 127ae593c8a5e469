"""Pure-Python references of log_uniform_sample, and the Philox, stream and
expected-count helpers every sampler shares (tests/unigram/reference.py
imports them).

Written for clarity, not speed: Philox in Python integers, one draw at a
time, so each line can be checked against the kernels' maths. Tests and the
benchmarks' correctness gates compare the kernels against these.
"""

import math

M32 = 0xFFFFFFFF


def philox4x32_10_ref(counter_lo, counter_hi, key):
    """Philox4x32-10 in Python integers: 4 x 32 random bits."""
    c = [counter_lo & M32, counter_lo >> 32 & M32, counter_hi & M32, counter_hi >> 32 & M32]
    k = [key & M32, key >> 32 & M32]
    for _ in range(10):
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k[0], p1 & M32, (p0 >> 32) ^ c[3] ^ k[1], p0 & M32]
        k = [(k[0] + 0x9E3779B9) & M32, (k[1] + 0xBB67AE85) & M32]
    return c


def philox_bits64_ref(i, key, stream):
    """Draw i's 64 random bits: block i // 2, words 0-1 (even i) or 2-3."""
    x = philox4x32_10_ref(i >> 1, stream, key)
    hi, lo = (x[2], x[3]) if i & 1 else (x[0], x[1])
    return hi << 32 | lo


def log_uniform_draw_ref(i, min_id, max_id, key, stream):
    """Draw i of the stream: the inverse CDF of the log-uniform law."""
    u = (philox_bits64_ref(i, key, stream) >> 11) * 2.0**-53
    R = max_id - min_id + 1
    j = int(math.exp(u * math.log1p(R))) - 1
    return min_id + min(max(j, 0), R - 1)


def first_occurrences_ref(draw, num_sampled, unique, counter):
    """(ids, num_tries) from the stream draw(counter), draw(counter + 1), ...:
    TF's unique semantics (draws in order, first occurrences kept) if unique."""
    ids, seen, i = [], set(), 0
    while len(ids) < num_sampled:
        k = draw(counter + i)
        i += 1
        if unique and k in seen:
            continue
        seen.add(k)
        ids.append(k)
    return ids, i


def log_uniform_sample_ref(num_sampled, min_id, max_id, unique, key, stream, counter):
    """(ids, num_tries): draws in order, first occurrences kept if unique."""
    return first_occurrences_ref(
        lambda i: log_uniform_draw_ref(i, min_id, max_id, key, stream), num_sampled, unique, counter
    )


def log_uniform_probability_ref(k, min_id, max_id):
    if k < min_id or k > max_id:
        return 0.0
    j = k - min_id
    # log1p(1 / (j + 1)), not log((j + 2) / (j + 1)): the ratio's rounding
    # costs ~1e-16 / P relative accuracy once j is large.
    return math.log1p(1.0 / (j + 1)) / math.log1p(max_id - min_id + 1)


def expected_count_ref(p, num_sampled, num_tries):
    """TF's ExpectedCountHelper."""
    if num_tries == num_sampled:
        return p * num_sampled
    return -math.expm1(num_tries * math.log1p(-p))
