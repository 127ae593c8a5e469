"""log_uniform_sample's CUDA kernels (through ydnn_kernels.arrays with
device="cuda") against the CPU kernels and the pure-Python reference: the
same stream of draws, the same unique sample and num_tries, the same
expected counts. Skipped without CuPy, a device or a CUDA build.

The GPU's exp/log1p may differ from glibc's in the last ulp, which can move
a draw across an id boundary about once in 1e10 draws: the exact-match
tests use a few hundred thousand draws at most.
"""

import numpy as np
import pytest

from tests.gpu.cuda_env import require_cuda

cp = require_cuda()

from tests.sampler.cases import COUNTERS, DEVICE_CASES  # noqa: E402
from tests.sampler.reference import log_uniform_sample_ref  # noqa: E402
from ydnn_kernels import arrays  # noqa: E402


def both(S, max_id, min_id, unique, seed=1, seed2=2, counter=0, true_ids=None):
    kw = dict(true_ids=true_ids, seed=seed, seed2=seed2, counter=counter)
    cpu = arrays.log_uniform_sample(S, max_id, min_id, unique, device="cpu", **kw)
    gpu = arrays.log_uniform_sample(S, max_id, min_id, unique, device="cuda", **kw)
    return cpu, (gpu[0].get(), gpu[1].get(), gpu[2].get(), gpu[3])


@pytest.mark.parametrize("S, min_id, max_id", DEVICE_CASES)
@pytest.mark.parametrize("unique", [True, False])
@pytest.mark.parametrize("counter", COUNTERS)
def test_gpu_sample_equals_cpu_sample(S, min_id, max_id, unique, counter):
    cpu, gpu = both(S, max_id, min_id, unique, counter=counter, true_ids=[min_id, max_id])
    assert gpu[3] == cpu[3], "num_tries"
    np.testing.assert_array_equal(gpu[0], cpu[0])
    np.testing.assert_allclose(gpu[1], cpu[1], rtol=1e-6)
    np.testing.assert_allclose(gpu[2], cpu[2], rtol=1e-6)


def test_gpu_matches_python_reference():
    gpu = arrays.log_uniform_sample(300, 400, 0, True, seed=5, seed2=6, counter=10, device="cuda")
    ids, tries = log_uniform_sample_ref(300, 0, 400, True, 5, 6, 10)
    assert gpu[0].get().tolist() == ids and gpu[3] == tries


def test_gpu_unique_full_range_needs_many_chunks():
    # Every id of [3, 2002]: the last ones take many draws (coupon collector),
    # so the GPU goes through several chunks.
    cpu, gpu = both(2000, 2002, 3, True, seed=9)
    assert sorted(gpu[0].tolist()) == list(range(3, 2003))
    assert gpu[3] == cpu[3] and gpu[0].tolist() == cpu[0].tolist()


def test_gpu_errors_match_cpu():
    for device in ("cpu", "cuda"):
        with pytest.raises(ValueError, match=r"num_sampled = 11 exceeds the 10 ids"):
            arrays.log_uniform_sample(11, 9, 0, True, device=device)
