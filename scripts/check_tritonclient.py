#!/usr/bin/env python3
"""Queries nnlab with NVIDIA's tritonclient (Open Inference Protocol over HTTP) and checks
that the answers agree with nnlab's native /predict.

usage: check_tritonclient.py --url http://127.0.0.1:PORT --xor-model ID [--model ID ...]

The XOR model must predict XOR; for every model, the probabilities must equal the native
ones to 1e-6 (in practice they are equal). Exits non-zero (AssertionError or a client exception) on any failure.
"""

import argparse
import json
import urllib.parse
import urllib.request

import numpy as np
import tritonclient.http as httpclient

XOR_ROWS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)


def native_predict(url, model, rows):
    body = json.dumps({"inputs": rows.tolist()}).encode()
    req = urllib.request.Request(
        f"{url}/api/v1/models/{model}/predict", data=body, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        out = json.load(r)
    labels = np.array([p["label"] for p in out["predictions"]])
    probabilities = np.array([p["probabilities"] for p in out["predictions"]], dtype=np.float32)
    return labels, probabilities


def triton_infer(client, model, rows):
    inp = httpclient.InferInput("input", list(rows.shape), "FP32")
    inp.set_data_from_numpy(rows, binary_data=False)
    outputs = [
        httpclient.InferRequestedOutput("probabilities", binary_data=False),
        httpclient.InferRequestedOutput("label", binary_data=False),
    ]
    result = client.infer(model, inputs=[inp], outputs=outputs, request_id="check-1")
    response = result.get_response()
    assert response["model_name"] == model, response
    assert response.get("id") == "check-1", response
    return result.as_numpy("label"), result.as_numpy("probabilities")


def check_model(client, url, model, rows, expect_labels=None):
    assert client.is_model_ready(model), f"model {model} not ready"
    meta = client.get_model_metadata(model)
    width = rows.shape[1]
    assert meta["name"] == model and meta["versions"] == ["1"], meta
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, width]}], meta
    classes = meta["outputs"][0]["shape"][1]

    labels, probabilities = triton_infer(client, model, rows)
    native_labels, native_probabilities = native_predict(url, model, rows)
    assert probabilities.shape == (rows.shape[0], classes), probabilities.shape
    assert labels.dtype == np.int64 and labels.tolist() == native_labels.tolist(), (labels, native_labels)
    if expect_labels is not None:
        assert labels.tolist() == expect_labels, labels
    assert probabilities.dtype == np.float32, probabilities.dtype
    # Both are f32 printed in shortest form and read back as f32: the same code path gives
    # the same numbers; the tolerance only allows for a future change of path.
    diff = np.abs(probabilities.astype(np.float64) - native_probabilities).max()
    assert diff <= 1e-6, f"tritonclient vs native: max |diff| {diff}"
    print(f"  model {model}: {rows.shape[0]} rows, labels {labels.tolist()[:8]}, max |diff| {diff:.2e}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--xor-model", required=True)
    parser.add_argument("--model", action="append", default=[], help="another model (rows drawn at random)")
    args = parser.parse_args()
    url = args.url.rstrip("/")

    client = httpclient.InferenceServerClient(url=urllib.parse.urlparse(url).netloc)
    assert client.is_server_live(), "server not live"
    assert client.is_server_ready(), "server not ready"
    server = client.get_server_metadata()
    assert server["name"] == "nnlab", server

    check_model(client, url, args.xor_model, XOR_ROWS, expect_labels=[0, 1, 1, 0])
    check_model(client, url, args.xor_model, XOR_ROWS[2:3], expect_labels=[1])
    rng = np.random.default_rng(0)
    for model in args.model:
        width = client.get_model_metadata(model)["inputs"][0]["shape"][1]
        check_model(client, url, model, rng.random((16, width), dtype=np.float32))

    # An unknown model is an error the client reports, not a crash of the server.
    try:
        client.get_model_metadata("no-such-model")
        raise AssertionError("metadata of an unknown model answered")
    except httpclient.InferenceServerException as e:
        assert "404" in str(e.status()) or "no model" in str(e), e
    client.close()
    print("tritonclient check: ok")


if __name__ == "__main__":
    main()
