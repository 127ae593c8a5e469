"""unigram_sample's CUDA kernels (ydnn_kernels.arrays on CuPy tables)
against the CPU kernels and the pure-Python reference: the draws are integer
arithmetic and one double compare, so the GPU's ids, num_tries and expected
counts must equal the CPU's exactly. Skipped without CuPy, a device or a
CUDA build."""

import numpy as np
import pytest

from tests.gpu.cuda_env import require_cuda

cp = require_cuda()

from tests.sampler.cases import COUNTERS  # noqa: E402
from tests.unigram.cases import zipf_counts  # noqa: E402
from tests.unigram.reference import unigram_sample_ref  # noqa: E402
from ydnn_kernels import arrays  # noqa: E402


@pytest.mark.parametrize("V, S", [(1, 1), (10, 5), (1000, 100), (10**6, 8192), (10**6, 65536)])
@pytest.mark.parametrize("unique", [True, False])
@pytest.mark.parametrize("counter", COUNTERS)
def test_gpu_sample_equals_cpu_sample(V, S, unique, counter):
    counts = zipf_counts(V, zeros=0.1) if V > 1 else np.array([2.0])
    host = arrays.unigram_table(counts, 0.75)
    dev = arrays.unigram_table(counts, 0.75, device="cuda")
    S = min(S, host.num_positive) if unique else S
    kw = dict(true_ids=[0, V - 1, V], seed=3, seed2=4, counter=counter)
    cpu = arrays.unigram_sample(host, S, unique, **kw)
    gpu = arrays.unigram_sample(dev, S, unique, **kw)
    assert gpu[3] == cpu[3], "num_tries"
    np.testing.assert_array_equal(gpu[0].get(), cpu[0])
    np.testing.assert_allclose(gpu[1].get(), cpu[1], rtol=1e-6)
    np.testing.assert_allclose(gpu[2].get(), cpu[2], rtol=1e-6)


def test_gpu_matches_python_reference_and_exhausts_positive_ids():
    counts = zipf_counts(3000, seed=1, zeros=0.3)
    dev = arrays.unigram_table(counts, 1.0, device="cuda")
    ids, _, _, tries = arrays.unigram_sample(
        dev, dev.num_positive, True, seed=5, seed2=6, counter=10
    )
    want, want_tries = unigram_sample_ref(
        dev.table.get().tolist(), dev.num_positive, True, 5, 6, 10
    )
    assert ids.get().tolist() == want and tries == want_tries
    assert sorted(want) == np.flatnonzero(counts).tolist()


def test_gpu_errors_match_cpu():
    for device in ("cpu", "cuda"):
        t = arrays.unigram_table([0, 1, 2], 1.0, device=device)
        with pytest.raises(ValueError, match="num_sampled = 3 exceeds the 2 ids"):
            arrays.unigram_sample(t, 3, True)
