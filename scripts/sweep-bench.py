#!/usr/bin/env python3
"""ASHA against a full sweep: for each workload, the same space run twice on one server (no
early stopping, then ASHA), and a table of epochs trained, wall time and the best
configuration each found. Standard library only.

    scripts/sweep-bench.py --binary target/release/nnlab [--workload toy|mnist|both]

toy:   a 24-trial grid on the 2-D spiral set (learning rate x width), 27 epochs.
mnist: a 12-trial random search on MNIST (6,000 training images), 9 epochs.
"""
import argparse, json, os, socket, subprocess, sys, tempfile, time, urllib.request

WORKLOADS = {
    "toy": {
        "base": {"dataset": "spiral", "epochs": 27, "batch_size": 32, "validation_split": 0.2,
                 "optimizer": "adam", "seed": 1},
        "space": {"learning_rate": {"values": [0.0003, 0.001, 0.003, 0.01, 0.03, 0.1]},
                  "hidden_layers": {"values": [[8], [32], [32, 32], [64, 64]]}},
        "method": "grid", "metric": "val_accuracy",
    },
    "mnist": {
        "base": {"dataset": "mnist", "epochs": 9, "batch_size": 64, "validation_split": 0.1,
                 "train_samples": 6000, "optimizer": "adam", "seed": 1},
        "space": {"learning_rate": {"log_uniform": [1e-4, 1e-1]},
                  "hidden_layers": {"values": [[32], [128], [256, 128]]},
                  "dropout": {"uniform": [0, 0.5]}},
        "method": "random", "trials": 12, "metric": "val_accuracy",
    },
}
ASHA = {"kind": "asha", "grace_epochs": 1, "reduction_factor": 3}

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def call(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)

def run(base, request):
    started = time.time()
    sweep = call(base, "POST", "/api/v1/sweeps", request)
    while sweep["status"] == "running":
        time.sleep(0.5)
        sweep = call(base, "GET", f"/api/v1/sweeps/{sweep['id']}")
    best = sweep["leaderboard"][0]
    return {"status": sweep["status"], "epochs": sweep["epochs_trained"], "seconds": time.time() - started,
            "best_params": best["params"], "best_value": best["value"],
            "stopped": sum(t["state"] == "stopped" for t in sweep["trials"])}

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--workload", default="both", choices=["toy", "mnist", "both"])
    ap.add_argument("--data-dir", default="data")
    args = ap.parse_args()
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="nnlab-sweep-bench-")
    server = subprocess.Popen([args.binary, "--addr", f"127.0.0.1:{port}", "--database-url",
                               f"sqlite://{tmp}/db", "--data-dir", args.data_dir, "--workers", "2",
                               "--train-threads", "1", "--demo-model", "false"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                call(base, "GET", "/readyz"); break
            except Exception:
                time.sleep(0.1)
        names = ["toy", "mnist"] if args.workload == "both" else [args.workload]
        print("| workload | early stopping | epochs trained | wall s | stopped | best configuration | best value |")
        print("|---|---|---|---|---|---|---|")
        for name in names:
            for es in (None, ASHA):
                request = dict(WORKLOADS[name], early_stopping=es, parallelism=2, name=f"{name} {es and 'asha'}")
                preview = call(base, "POST", "/api/v1/sweeps/preview", request)
                r = run(base, request)
                print(f"| {name} ({preview['trials']} trials) | {'asha' if es else 'none'} | {r['epochs']} "
                      f"(bound {preview['max_total_epochs']}) | {r['seconds']:.1f} | {r['stopped']} | "
                      f"{json.dumps(r['best_params'], sort_keys=True)} | {r['best_value']:.4f} |", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=15)

if __name__ == "__main__":
    sys.exit(main())
