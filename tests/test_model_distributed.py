"""YoutubeDNNRetrievalModelV2 under tf.distribute.MirroredStrategy on two logical CPUs.

Logical devices must be configured before TensorFlow initialises, so the
run happens in a fresh interpreter.
"""

import json
import subprocess
import sys

_SCRIPT = """
import json
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
        data.schema(), top_block=ydnn.MLPBlock([32, 16]), num_sampled=20, min_sampled_id=1)
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


def test_trains_and_evaluates_on_two_replicas():
    out = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True,
                         check=False, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["replicas"] == 2
    assert res["mirrored"] == 2 and res["same"], "the item table must stay mirrored"
    assert res["loss"][-1] < res["loss"][0]
    assert 0.0 < res["recall"] <= 1.0
