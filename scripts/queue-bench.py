#!/usr/bin/env python3
"""Queue throughput on PostgreSQL: jobs per second that N replicas sustain (claim, one tiny
epoch, store the model, finish), for each N given. Standard library only.

Starts a throwaway PostgreSQL cluster (Debian's postgresql package; initdb + pg_ctl as the
`postgres` user when run as root) on a free port, then for each N: a fresh database, N idle
replicas of BINARY (one worker each), JOBS tiny XOR jobs put in the queue by one INSERT (so
that the submitting client is not what is measured), and the time until all have succeeded.
Prints a table; stops everything it started.

    scripts/queue-bench.py --binary target/release/nnlab [--jobs 300] [--replicas 1 2 3]
"""
import argparse, glob, json, os, re, shutil, socket, subprocess, sys, tempfile, threading, time
import urllib.request

SPEC = {"dataset": "xor", "hidden_layers": [4], "epochs": 1, "batch_size": 4, "validation_split": 0}

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def as_postgres(cmd):
    return (["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []) + cmd

def start_cluster():
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not bins:
        sys.exit("no PostgreSQL under /usr/lib/postgresql (apt-get install postgresql)")
    bin_dir, tmp = bins[-1], tempfile.mkdtemp(prefix="nnlab-qbench-")
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "postgres:postgres", tmp], check=True)
    data, port = os.path.join(tmp, "data"), free_port()
    subprocess.run(as_postgres([f"{bin_dir}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync"]),
                   check=True, stdout=subprocess.DEVNULL)
    opts = f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c max_connections=200"
    subprocess.run(as_postgres([f"{bin_dir}/pg_ctl", "-D", data, "-o", opts, "-l", f"{tmp}/log", "-w", "start"]),
                   check=True, stdout=subprocess.DEVNULL)
    stop = lambda: (subprocess.run(as_postgres([f"{bin_dir}/pg_ctl", "-D", data, "-m", "immediate", "stop"]),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
                    shutil.rmtree(tmp, ignore_errors=True))
    return port, bin_dir, stop

def psql(bin_dir, port, sql, db="postgres"):
    subprocess.run([f"{bin_dir}/psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", db, "-q", "-c", sql],
                   check=True, stdout=subprocess.DEVNULL)

def start_replica(binary, url, name):
    proc = subprocess.Popen([binary, "--addr", "127.0.0.1:0", "--database-url", url, "--demo-model", "false",
                             "--workers", "1", "--train-threads", "1", "--max-queued-jobs", "100000",
                             "--replica-name", name], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        m = re.search(r"listening addr=(\S+)", line)
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, f"http://{m.group(1)}"
    sys.exit(f"replica {name} did not start")

def call(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())

def run(binary, bin_dir, port, n, jobs):
    db = f"bench_{n}_{int(time.time() * 1000)}"
    psql(bin_dir, port, f"CREATE DATABASE {db}")
    url = f"postgres://postgres@127.0.0.1:{port}/{db}"
    replicas = [start_replica(binary, url, f"r{i}") for i in range(n)]
    try:
        spec = json.dumps(SPEC).replace("'", "''")
        t0 = time.monotonic()
        psql(bin_dir, port, f"INSERT INTO jobs (id, status, spec, dataset, created_at, epochs_total, max_attempts) "
             f"SELECT 'job-' || lpad(i::text, 6, '0'), 'queued', '{spec}', 'xor', "
             f"to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 1, 3 "
             f"FROM generate_series(1, {jobs}) AS i; SELECT pg_notify('nnlab_jobs', 'queued')", db)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            done = call("GET", f"{replicas[0][1]}/api/v1/jobs?status=succeeded&limit=1000")["jobs"]
            if len(done) >= jobs:
                break
            time.sleep(0.02)
        took = time.monotonic() - t0
        return jobs / took, took
    finally:
        for proc, _ in replicas:
            proc.terminate()
        for proc, _ in replicas:
            proc.wait(timeout=15)

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--binary", required=True)
    p.add_argument("--jobs", type=int, default=300)
    p.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 3])
    args = p.parse_args()
    port, bin_dir, stop = start_cluster()
    try:
        rows = [(n, *run(args.binary, bin_dir, port, n, args.jobs)) for n in args.replicas]
    finally:
        stop()
    print("| replicas | jobs | jobs/s | x one replica | seconds |\n|---|---|---|---|---|")
    for n, rate, took in rows:
        print(f"| {n} | {args.jobs} | {rate:.1f} | {rate / rows[0][1]:.2f} | {took:.2f} |")

if __name__ == "__main__":
    main()
