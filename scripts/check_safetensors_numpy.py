#!/usr/bin/env python3
"""Downloads nnlab models as safetensors, reproduces their forward pass in numpy from the
file alone (tensor names and the `nnlab_spec` metadata), and checks it against nnlab's
/predict: the weights file is a faithful, PyTorch-layout description of the model.

usage: check_safetensors_numpy.py --url http://127.0.0.1:PORT --model ID [--model ID ...]

Rows: the 4 XOR inputs for 2-input models, else 16 random rows (half of them sparse, as
drawn digits are). Probabilities must agree to 1e-5. Exits non-zero on any failure.
"""

import argparse
import json
import urllib.request

import numpy as np
from safetensors.numpy import load

BN_EPS = 1e-5


def fetch(url, data=None):
    headers = {"content-type": "application/json"} if data is not None else {}
    req = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()


def activation(name, alpha):
    if name == "relu":
        return lambda z: np.maximum(z, 0.0)
    if name == "tanh":
        return np.tanh
    if name == "sigmoid":
        return lambda z: 1.0 / (1.0 + np.exp(-z))
    if name == "leaky_relu":
        return lambda z: np.where(z > 0, z, alpha * z)
    if name == "elu":
        return lambda z: np.where(z >= 0, z, alpha * np.expm1(np.minimum(z, 0.0)))
    if name == "step":
        return lambda z: (z > 0).astype(z.dtype)
    raise AssertionError(f"no numpy version of activation {name!r}")


def forward(tensors, spec, x):
    """PyTorch semantics: x @ W.T + b per dense layer; per hidden layer
    [batch norm with running statistics] -> activation (maxout: the max of k consecutive
    pieces); dropout is the identity at inference; softmax at the end."""
    h = x.astype(np.float64)
    layers = len(spec["hidden_layers"]) + 1
    for i in range(layers):
        w = tensors[f"dense.{i}.weight"].astype(np.float64)
        b = tensors[f"dense.{i}.bias"].astype(np.float64)
        assert w.shape == (b.shape[0], h.shape[1]), (f"dense.{i}.weight", w.shape, h.shape)
        h = h @ w.T + b
        if i == layers - 1:
            break
        if spec["batch_norm"]:
            mean, var = tensors[f"bn.{i}.running_mean"], tensors[f"bn.{i}.running_var"]
            gamma, beta = tensors[f"bn.{i}.weight"], tensors[f"bn.{i}.bias"]
            h = (h - mean) / np.sqrt(var.astype(np.float64) + BN_EPS) * gamma + beta
        if spec["activation"] == "maxout":
            k = spec["maxout_pieces"]
            h = h.reshape(h.shape[0], -1, k).max(axis=2)
        else:
            h = activation(spec["activation"], spec["activation_alpha"])(h)
    z = h - h.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def metadata(raw):
    """The header's `__metadata__` (safetensors: u64 little-endian length, then JSON)."""
    n = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8 : 8 + n]).get("__metadata__", {})


def check_model(url, model):
    raw = fetch(f"{url}/api/v1/models/{model}/weights")
    tensors = load(raw)
    spec = json.loads(metadata(raw)["nnlab_spec"])
    assert all(t.dtype == np.float32 for t in tensors.values()), {k: t.dtype for k, t in tensors.items()}
    width = spec["input_size"]
    if width == 2:
        rows = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    else:
        rng = np.random.default_rng(1)
        rows = rng.random((16, width), dtype=np.float32)
        rows[8:] *= rng.random((8, width)) < 0.2

    ours = forward(tensors, spec, rows)
    out = json.loads(fetch(f"{url}/api/v1/models/{model}/predict", json.dumps({"inputs": rows.tolist()}).encode()))
    theirs = np.array([p["probabilities"] for p in out["predictions"]], dtype=np.float64)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    diff = np.abs(ours - theirs).max()
    assert diff <= 1e-5, f"model {model}: numpy vs nnlab max |diff| {diff}"
    labels = [p["label"] for p in out["predictions"]]
    assert labels == ours.argmax(axis=1).tolist(), (labels, ours.argmax(axis=1))
    arch = f"{width}-{'-'.join(map(str, spec['hidden_layers']))}-{spec['classes']} {spec['activation']}"
    if spec["batch_norm"]:
        arch += " +bn"
    print(f"  model {model} ({arch}): {len(rows)} rows, max |diff| {diff:.2e}")
    return labels


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--xor-model", help="also require this model's labels to be XOR")
    args = parser.parse_args()
    url = args.url.rstrip("/")
    for model in args.model:
        labels = check_model(url, model)
        if model == args.xor_model:
            assert labels == [0, 1, 1, 0], labels
    print("safetensors/numpy check: ok")


if __name__ == "__main__":
    main()
