"""YoutubeDNNRetrievalModelV2 under tf.distribute.MirroredStrategy on two logical CPUs:
training, evaluation, and resuming from a save.

Logical devices must be configured before TensorFlow initialises, so the
run happens in a fresh interpreter.
"""

import json
import subprocess
import sys

import pytest

_SCRIPT = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
import ydnn
from tests.model_cases import small_data

keras.utils.set_random_seed(0)
data = small_data(users=300, items=200, interactions=6000)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    model = ydnn.YoutubeDNNRetrievalModelV2(
        data.schema(), top_block=ydnn.MLPBlock([32, 16]), num_sampled=20, min_sampled_id=1,
        table_dtype=sys.argv[1])
    model.compile(optimizer="adam")
table = model.item_table.value  # the tf.distribute MirroredVariable under the Keras one
hist = model.fit(ydnn.data.to_dataset(data.train, 128, seed=0), epochs=3, verbose=0)
res = model.evaluate(ydnn.data.to_dataset(data.test, 128, shuffle=False), return_dict=True,
                     verbose=0)
replicas = [v.numpy() for v in table.values] if hasattr(table, "values") else []
same = all((r == replicas[0]).all() for r in replicas)
print(json.dumps({"loss": hist.history["loss"], "recall": res["recall_at_10"],
                  "replicas": strategy.num_replicas_in_sync, "mirrored": len(replicas),
                  "same": bool(same)}))
"""


@pytest.mark.parametrize("table_dtype", ["float32", "bfloat16"])
def test_trains_and_evaluates_on_two_replicas(table_dtype):
    # bfloat16: each replica rounds its copy of the table stochastically;
    # the bits are keyed alike on both, so the copies stay identical.
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, table_dtype],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["replicas"] == 2
    assert res["mirrored"] == 2 and res["same"], "the item table must stay mirrored"
    assert res["loss"][-1] < res["loss"][0]
    assert 0.0 < res["recall"] <= 1.0


_RESUME = """
import json, os, sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
import ydnn
from tests.model_cases import features, history_schema

rng = np.random.default_rng(0)
x, y = features(rng, batch=64), rng.integers(1, 51, 64).astype(np.int32)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
def make():
    keras.utils.set_random_seed(1)
    with strategy.scope():
        m = ydnn.YoutubeDNNRetrievalModelV2(
            history_schema(), top_block=ydnn.MLPBlock([16, 8], no_activation_last_layer=True),
            num_sampled=10, min_sampled_id=1)
        m.compile(optimizer="adam")
    return m
def fit(m, epochs, initial=0):
    m.fit(x, y, batch_size=16, epochs=epochs, initial_epoch=initial, shuffle=False, verbose=0)
straight = make(); fit(straight, 3)
first = make(); fit(first, 1)
path = os.path.join(sys.argv[1], "m.keras")
first.save(path)
with strategy.scope():
    loaded = keras.models.load_model(path)
fit(loaded, 3, 1)
diff = max(float(np.abs(np.asarray(a.numpy(), np.float64) - b.numpy()).max())
           for a, b in zip(straight.weights + straight.optimizer.variables,
                           loaded.weights + loaded.optimizer.variables))
print(json.dumps({"diff": diff, "calls": int(loaded.sampler_calls.numpy())}))
"""


def test_resumed_training_on_two_replicas_equals_an_unbroken_run(tmp_path):
    # Each replica draws its step's window of its own stream, placed by the
    # model's step count (saved once, not one per replica).
    out = subprocess.run(
        [sys.executable, "-c", _RESUME, str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["calls"] == 12
    assert res["diff"] <= 1e-6, res  # tests/test_model_resume.py's tolerance
