"""ydnn.optimizers under tf.distribute.MirroredStrategy on two logical CPU
devices: the all-reduced table gradient (an IndexedSlices that repeats ids
across replicas) takes the fused path and training matches one device. Runs
in a subprocess: logical devices must be set before TensorFlow starts."""

import os
import subprocess
import sys

SCRIPT = r"""
import numpy as np, tensorflow as tf
cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, ydnn
import ydnn_kernels.sparse_optim_op as op

calls = []
real = op.sparse_apply
op.sparse_apply = lambda kind, var, *a, **k: calls.append(kind) or real(kind, var, *a, **k)
V, D, L = 60, 8, 5

def make():
    keras.utils.set_random_seed(0)
    ids = keras.Input((L,), dtype="int64")
    x = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(V, D)(ids))
    return keras.Model(ids, keras.layers.Dense(1)(x))

rng = np.random.default_rng(1)
x, y = rng.integers(0, 30, (96, L)), rng.standard_normal((96, 1)).astype(np.float32)
for name in ["sgd", "adagrad", "adam"]:
    weights = []
    for strategy in [tf.distribute.get_strategy(),
                     tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])]:
        with strategy.scope():
            m = make()
            m.compile(optimizer=ydnn.optimizers.get(name), loss="mse", jit_compile=False)
        m.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        weights.append(m.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=name)
assert calls, "the fused path was never taken"
print("OK", len(calls))
"""


def test_mirrored_strategy_matches_single_device():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(
        os.environ,
        PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""),
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
