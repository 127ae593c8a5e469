import os
import zlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng(request):
    # A seed per test id: reproducible, yet different across parameters.
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))
