"""Float64, loop-based NumPy reference of the sparse optimizer step
(csrc/sparse_optim/sparse_optim.h): one Python loop per id and per element,
so each line can be checked against the maths."""

import math

import numpy as np

SLOTS = {"sgd": 0, "adagrad": 1, "rowwise_adagrad": 1, "lazy_adam": 2}


def combine(ids, grad):
    """{id: summed gradient row} in order of first appearance."""
    rows = {}
    for k, i in enumerate(ids):
        i = int(i)
        g = [float(x) for x in grad[k]]
        if i in rows:
            rows[i] = [a + b for a, b in zip(rows[i], g)]
        else:
            rows[i] = g
    return rows


def sparse_step(
    kind,
    table,
    slots,
    ids,
    grad,
    lr,
    step=1,
    weight_decay=0.0,
    epsilon=1e-7,
    beta_1=0.9,
    beta_2=0.999,
):
    """One step; returns (new table, new slots) as float64 arrays."""
    w = np.array(table, dtype=np.float64)
    s = [np.array(x, dtype=np.float64) for x in slots]
    D = w.shape[1]
    for v, g in combine(ids, np.asarray(grad, np.float64)).items():
        if weight_decay:
            for j in range(D):
                w[v, j] -= w[v, j] * weight_decay * lr
        if kind == "sgd":
            for j in range(D):
                w[v, j] -= lr * g[j]
        elif kind == "adagrad":
            for j in range(D):
                s[0][v, j] += g[j] * g[j]
                w[v, j] -= lr * g[j] / math.sqrt(s[0][v, j] + epsilon)
        elif kind == "rowwise_adagrad":
            acc = s[0].reshape(-1)
            acc[v] += sum(x * x for x in g) / D
            for j in range(D):
                w[v, j] -= lr * g[j] / (math.sqrt(acc[v]) + epsilon)
        elif kind == "lazy_adam":
            alpha = lr * math.sqrt(1.0 - beta_2**step) / (1.0 - beta_1**step)
            for j in range(D):
                s[0][v, j] = beta_1 * s[0][v, j] + (1.0 - beta_1) * g[j]
                s[1][v, j] = beta_2 * s[1][v, j] + (1.0 - beta_2) * g[j] * g[j]
                w[v, j] -= alpha * s[0][v, j] / (math.sqrt(s[1][v, j]) + epsilon)
        else:
            raise ValueError(kind)
    return w, s
