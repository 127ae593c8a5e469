"""YoutubeDNNRetrievalModelV2 under tf.distribute.MultiWorkerMirroredStrategy:
two worker processes on localhost (TF_CONFIG) train with the fused ops and
the sparse optimizer, and end with the same tables and the same losses.

Keras 3 reduces a batch across replicas before its symbolic build and a
step's scalar logs with reduce("MEAN", axis=0) under this strategy; both
failed for this model ("Attempt to convert a value ({'item_id':
PerReplica...})"), which this test pins down.
"""

import json
import os
import socket
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_WORKER = """
import json, sys
import numpy as np
import tensorflow as tf
import keras
import ydnn
from tests.model_cases import small_data

strategy = tf.distribute.MultiWorkerMirroredStrategy()
keras.utils.set_random_seed(0)
data = small_data(users=300, items=200, interactions=6000)
with strategy.scope():
    model = ydnn.YoutubeDNNRetrievalModelV2(
        data.schema(), top_block=ydnn.MLPBlock([32, 16]), num_sampled=20, min_sampled_id=1,
        sampler_seed=3, table_dtype=sys.argv[1])
    model.compile(optimizer="adam")
hist = model.fit(ydnn.data.to_dataset(data.train, 128, seed=0), epochs=3, verbose=0)
table = model.item_table.numpy().astype(np.float32)
print(json.dumps({"loss": hist.history["loss"], "table": table.tobytes().hex()[:4000],
                  "sum": float(np.abs(table).sum()), "replicas": strategy.num_replicas_in_sync}))
"""


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.parametrize("table_dtype", ["float32", "bfloat16"])
def test_two_workers_train_to_the_same_tables(table_dtype):
    # 16-bit tables: a clear error, since TF's CPU collectives cannot
    # broadcast them.
    workers = [f"localhost:{p}" for p in _free_ports(2)]
    procs = []
    for index in range(2):
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = dict(os.environ, TF_CONFIG=json.dumps(config), PYTHONPATH=ROOT)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", _WORKER, table_dtype],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = []
    try:
        for p in procs:
            outputs.append(p.communicate(timeout=300))
    finally:  # a worker left waiting for its peer must not outlive the test
        for p in procs:
            if p.poll() is None:
                p.kill()
    errors = [err for _, err in outputs]
    if table_dtype != "float32":
        assert all("is not supported under MultiWorkerMirroredStrategy" in e for e in errors)
        return
    results = []
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    a, b = results
    assert a["replicas"] == b["replicas"] == 2
    assert a["table"] == b["table"] and a["sum"] == b["sum"], "workers' tables differ"
    assert a["loss"] == b["loss"] and a["loss"][-1] < a["loss"][0], a["loss"]
