"""Float64 loop reference of the fused sampled softmax (see sampled_softmax_loss's docstring).

One Python loop per row and per candidate, in the docstring's order: logits,
minus log(expected count), accidental hits masked to probability 0, divided
by the temperature, cross-entropy against the positive.
"""

import math

import numpy as np


def columns(positive_ids, sampled_ids, true_ec, sampled_ec, in_batch):
    """The shared candidate columns: (ids, expected counts, is_in_batch)."""
    pos, s = [int(i) for i in positive_ids], [int(i) for i in sampled_ids]
    ids = (pos if in_batch else []) + s
    ec = ([float(x) for x in true_ec] if in_batch else []) + [float(x) for x in sampled_ec]
    in_b = [True] * (len(pos) if in_batch else 0) + [False] * len(s)
    return ids, ec, in_b


def sampled_softmax(
    query,
    table,
    positive_ids,
    sampled_ids,
    true_ec,
    sampled_ec,
    temperature=1.0,
    remove_accidental_hits=True,
    in_batch=False,
    grad_loss=None,
):
    """Returns (loss [B], logits [B, 1+J], grad_query [B, D], {id: grad row [D]})."""
    q = np.asarray(query, np.float64)
    t = np.asarray(table, np.float64)
    B, D = q.shape
    g = np.ones(B) if grad_loss is None else np.asarray(grad_loss, np.float64)
    ids, ec, in_b = columns(positive_ids, sampled_ids, true_ec, sampled_ec, in_batch)
    J = len(ids)
    loss = np.zeros(B)
    logits = np.zeros((B, 1 + J))
    grad_q = np.zeros((B, D))
    grad_t = {}
    for b in range(B):
        p_id = int(positive_ids[b])
        z = [(float(q[b] @ t[p_id]) - math.log(float(true_ec[b]))) / temperature]
        for j in range(J):
            masked = ids[j] == p_id and (in_b[j] or remove_accidental_hits)
            z.append(
                -math.inf if masked else (float(q[b] @ t[ids[j]]) - math.log(ec[j])) / temperature
            )
        m = max(z)
        lse = m + math.log(sum(math.exp(x - m) for x in z))
        loss[b] = lse - z[0]
        logits[b] = z
        for k, x in enumerate(z):
            dz = g[b] * (math.exp(x - lse) - (1.0 if k == 0 else 0.0)) / temperature
            row = p_id if k == 0 else ids[k - 1]
            grad_q[b] += dz * t[row]
            grad_t[row] = grad_t.get(row, np.zeros(D)) + dz * q[b]
    return loss, logits, grad_q, grad_t


def dense_table_grad(grad_t, num_rows, dim):
    out = np.zeros((num_rows, dim))
    for i, row in grad_t.items():
        out[i] += row
    return out
