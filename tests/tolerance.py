"""Tolerances, written down once.

The kernels accumulate in float32 and round once to the table's dtype, so
against the float64 reference the error is float32 accumulation (a few ulp of
the sum of |terms|) plus at most half an ulp of the output's dtype:

* float32 tables: |err| <= 1e-5 * scale + 1e-5 * |ref|
* float16 tables: |err| <= 2**-11 * |ref| + 1e-5 * scale   (one rounding)
* bfloat16:       |err| <= 2**-8  * |ref| + 1e-5 * scale

where `scale` is the largest sum of |terms| the result could hold (the caller
passes it). Fused vs stock TF, both float32 but summing in different orders:
rtol = 1e-5 and atol = 1e-5 * max|stock| (entries that cancel to near zero
carry error relative to the terms, not to themselves).
"""

import numpy as np

ROUNDING = {"float32": 1e-5, "float16": 2.0**-11, "bfloat16": 2.0**-8}


def assert_close_to_ref(actual, ref, dtype, scale=1.0, what="result"):
    actual = np.asarray(actual, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert actual.shape == ref.shape, f"{what}: shape {actual.shape} != {ref.shape}"
    bound = ROUNDING[dtype] * np.abs(ref) + 1e-5 * scale
    err = np.abs(actual - ref)
    worst = np.unravel_index(np.argmax(err - bound), err.shape) if err.size else None
    assert np.all(err <= bound), (
        f"{what} ({dtype}): max error {err.max():.3g} exceeds bound at {worst}: "
        f"got {actual[worst]}, want {ref[worst]}"
    )


def assert_stock_close(fused, stock, what="result"):
    stock = np.asarray(stock, np.float64)
    atol = 1e-5 * max(1.0, float(np.abs(stock).max(initial=0.0)))
    np.testing.assert_allclose(
        np.asarray(fused, np.float64), stock, rtol=1e-5, atol=atol, err_msg=what
    )
