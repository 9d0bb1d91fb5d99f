#!/usr/bin/env python3
"""Hostile-client check of an nnlab server binary (Python 3.11, standard library only).

Starts BINARY on 127.0.0.1 (port 0, a throw-away SQLite database, no demo model,
--max-queued-jobs 3), trains a tiny MNIST model, then runs eight attacks one after the other:
huge batch, checkpoint pile-up, PNG bombs, one-value rows, V2 ignored parameters, queue race,
half-sent requests, cross-site POST; and finally a SIGTERM with an open event stream.
The server's RSS (VmRSS, VmHWM from /proc/PID/status) is sampled every 50 ms throughout.
After each attack the jobs it created are cancelled and the server is left to settle.
If the server dies, the attack's row says so and a fresh server (new database) is started.
Prints a markdown table (statuses and peak RSS per attack, idle RSS, VmHWM, SIGTERM exit time);
--json FILE also writes the raw results. Every loop is bounded; the whole run stops by itself
(hard cap ~3.5 minutes) and the server is always killed at the end.

    scripts/hostile-client.py --binary target/release/nnlab [--data-dir data] [--static-dir static]
"""
import argparse, base64, collections, http.client, json, os, re, select, signal, socket
import struct, subprocess, sys, tempfile, threading, time, zlib

T0 = time.monotonic()
ATTACK_BUDGET = 175      # seconds from start by which the attacks must be done
HARD_CAP = 215           # watchdog: kill everything after this
TERMINAL = {"succeeded", "failed", "cancelled"}
LONG_JOB = {"dataset": "spiral", "hidden_layers": [64, 64], "batch_size": 1, "epochs": 1000}


def elapsed():
    return time.monotonic() - T0


def mib(kb):
    return f"{kb / 1024:.0f}" if kb else "-"


class Server:
    """The nnlab process, its stderr tail and an RSS sampler with per-phase peaks."""

    def __init__(self, args):
        self.args, self.tmp = args, tempfile.mkdtemp(prefix="nnlab-hostile-")
        self.proc, self.starts, self.phase, self.peaks = None, 0, None, {}
        self.hwm = self.rss = 0
        self.stderr = collections.deque(maxlen=200)
        threading.Thread(target=self._sample, daemon=True).start()

    def start(self):
        self.starts += 1
        self.db = os.path.join(self.tmp, f"nnlab{self.starts}.db")
        cmd = [self.args.binary, "--addr", "127.0.0.1:0", "--database-url", f"sqlite://{self.db}",
               "--demo-model", "false", "--data-dir", self.args.data_dir,
               "--static-dir", self.args.static_dir, "--max-queued-jobs", "3"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, errors="replace")
        found = threading.Event()

        def drain(proc):
            for line in proc.stderr:
                self.stderr.append(line.rstrip())
                m = re.search(r"addr=(\S+):(\d+)", line)
                if "listening" in line and m and not found.is_set():
                    self.host, self.port = m.group(1), int(m.group(2))
                    found.set()
        threading.Thread(target=drain, args=(self.proc,), daemon=True).start()
        deadline = time.monotonic() + 30
        while not found.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                time.sleep(0.2)
                tail = "\n".join(self.stderr)
                self.kill()
                if "unexpected argument" in tail or "unrecognized" in tail:
                    sys.exit(f"the binary rejected a flag of:\n  {' '.join(cmd)}\n{tail}")
                sys.exit(f"server did not report 'listening addr=...' (rc={self.proc.returncode}):\n{tail}")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()

    def status(self):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                v = dict(l.split(":", 1) for l in f if l.startswith(("VmRSS", "VmHWM")))
            return int(v["VmRSS"].split()[0]), int(v["VmHWM"].split()[0])
        except (OSError, KeyError, ValueError, AttributeError):
            return 0, 0

    def cpu_ticks(self):
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return int(fields[11]) + int(fields[12])
        except (OSError, IndexError, AttributeError):
            return None

    def _sample(self):
        while True:
            if self.alive():
                rss, hwm = self.status()
                if rss:
                    self.rss, self.hwm = rss, max(self.hwm, hwm)
                    if self.phase:
                        self.peaks[self.phase] = max(self.peaks.get(self.phase, 0), rss)
            time.sleep(0.05)

    def settle(self, cap=6.0):
        """Wait (at most cap seconds) until the server's CPU time stops growing for 1 s."""
        end, last, quiet_since = time.monotonic() + cap, self.cpu_ticks(), time.monotonic()
        while time.monotonic() < end and self.alive():
            time.sleep(0.25)
            now = self.cpu_ticks()
            if now != last:
                last, quiet_since = now, time.monotonic()
            elif time.monotonic() - quiet_since >= 1.0:
                return


S = None  # the Server


def req(method, path, body=None, headers=None, timeout=20):
    """One request on a fresh connection: (status or 'ERR:Name', parsed JSON or bytes, headers)."""
    conn = http.client.HTTPConnection(S.host, S.port, timeout=timeout)
    hdrs = {"content-type": "application/json"} if body is not None else {}
    hdrs.update(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    try:
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        try:
            data = json.loads(data)
        except ValueError:
            pass
        return r.status, data, {k.lower(): v for k, v in r.getheaders()}
    except Exception as e:  # noqa: BLE001 - any failure is a result to report
        return f"ERR:{type(e).__name__}", b"", {}
    finally:
        conn.close()


def submit(spec, **kw):
    st, data, hdrs = req("POST", "/api/v1/jobs", spec, **kw)
    return st, (data.get("id") if st == 202 and isinstance(data, dict) else None), hdrs


def job(jid):
    st, data, _ = req("GET", f"/api/v1/jobs/{jid}", timeout=10)
    return data if st == 200 and isinstance(data, dict) else {}


def wait_job(jid, until, statuses=TERMINAL):
    while time.monotonic() < until and S.alive():
        j = job(jid)
        if j.get("status") in statuses:
            return j
        time.sleep(0.5)
    return job(jid)


def cleanup(ids):
    """Cancel the given jobs and any queued/running one; wait up to ~2 s for none to be left."""
    for jid in ids:
        req("POST", f"/api/v1/jobs/{jid}/cancel", {}, timeout=5)
    end = time.monotonic() + 2
    while time.monotonic() < end and S.alive():
        live = []
        for status in ("queued", "running"):
            st, data, _ = req("GET", f"/api/v1/jobs?status={status}&limit=1000", timeout=5)
            live += [j["id"] for j in data.get("jobs", [])] if st == 200 else []
        if not live:
            return
        for jid in live:
            req("POST", f"/api/v1/jobs/{jid}/cancel", {}, timeout=5)
        time.sleep(0.3)


def train_model():
    st, jid, _ = submit({"dataset": "mnist", "hidden_layers": [16], "epochs": 1, "train_samples": 2000})
    j = wait_job(jid, time.monotonic() + 60) if jid else {}
    if j.get("status") != "succeeded":
        sys.exit(f"setup: the tiny MNIST job did not succeed (submit {st}, job {j})\n"
                 + "\n".join(list(S.stderr)[-20:]))
    return j["result"]["model_id"]


def concurrently(n, fn, cap):
    out = [None] * n
    threads = [threading.Thread(target=lambda i=i: out.__setitem__(i, fn(i)), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    end = time.monotonic() + cap
    for t in threads:
        t.join(max(0.0, end - time.monotonic()))
    return [r if r is not None else ("client timeout",) for r in out]


# --- attacks: each gets a deadline and returns (statuses, note, created job ids) ---

def a1_huge_batch(until):
    st, jid, _ = submit({"dataset": "mnist", "hidden_layers": [4096], "batch_size": 1_000_000_000, "epochs": 1})
    note = ""
    if jid:
        end = min(until, time.monotonic() + 8)
        while time.monotonic() < end and S.alive():
            time.sleep(0.5)
        note = f"job {job(jid).get('status', '?')} after ~8 s"
    return [st], note, [jid] if jid else []


def a2_checkpoints(until):
    st, jid, _ = submit({"dataset": "spiral", "hidden_layers": [1000, 1000], "batch_size": 4096,
                         "epochs": 40, "validation_split": 0})
    if not jid:
        return [st], "", []
    t = time.monotonic()
    j = wait_job(jid, min(until, t + 60))
    db = sum(os.path.getsize(S.db + s) for s in ("", "-wal") if os.path.exists(S.db + s))
    prog = j.get("progress") or {}
    return [st], (f"job {j.get('status', '?')} at epoch {prog.get('epoch', '?')} after "
                  f"{time.monotonic() - t:.0f} s; db+wal {db / 2**20:.0f} MiB"), [jid]


def png_bomb(side=20000):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    z, row, idat = zlib.compressobj(9), b"\0" * (side + 1), []
    for _ in range(side // 100):
        idat.append(z.compress(row * 100))
    idat.append(z.flush())
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(idat)) + chunk(b"IEND", b"")


def a3_png_bombs(until, model, b64):
    body = json.dumps({"png_base64": b64}).encode()
    res = concurrently(4, lambda i: req("POST", f"/api/v1/models/{model}/predict", body, timeout=45),
                       max(1.0, until - time.monotonic()))
    return [r[0] for r in res], f"PNG {len(b64) * 3 // 4 // 1024} KiB, 20000x20000 gray", []


def a4_one_value_rows(until, model):
    n = (15 * 2**20 - 20) // 4
    body = b'{"inputs":[' + b"[0]," * (n - 1) + b"[0]]}"
    st, data, _ = req("POST", f"/api/v1/models/{model}/predict", body, timeout=max(1, until - time.monotonic()))
    msg = data.get("error", {}).get("message", "")[:60] if isinstance(data, dict) else ""
    return [st], f"{n} rows, {len(body) / 2**20:.1f} MiB; {msg}", []


def a5_v2_parameters(until, model):
    value, keys = "x" * 10240, (15 * 2**20) // 10250
    params = {f"k{i}": value for i in range(keys)}
    body = json.dumps({"inputs": [{"name": "input", "shape": [1, 784], "datatype": "FP32", "data": [0.0] * 784}],
                       "parameters": params}).encode()
    st, _, _ = req("POST", f"/v2/models/{model}/infer", body, timeout=max(1, until - time.monotonic()))
    return [st], f"{keys} keys x 10 KiB, {len(body) / 2**20:.1f} MiB", []


def a6_queue_race(until):
    res = concurrently(20, lambda i: submit(LONG_JOB, timeout=20), max(1.0, until - time.monotonic()))
    ids = [r[1] for r in res if len(r) > 1 and r[1]]
    sts = [r[0] for r in res]
    return sts, f"{sts.count(202)} accepted, {sts.count(429)} refused (cap 3 queued + 1 running)", ids


def a7_half_sent(until, n=50, wait=40):
    socks, closed, replies = [], {}, collections.Counter()
    for _ in range(n):
        s = socket.create_connection((S.host, S.port), timeout=5)
        s.sendall(b"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\n")
        s.setblocking(False)
        socks.append(s)
    t, end = time.monotonic(), min(until, time.monotonic() + wait)
    while time.monotonic() < end and len(closed) < n:
        ready, _, _ = select.select([s for s in socks if s not in closed], [], [], 0.5)
        for s in ready:
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if data:
                replies[data.split(b"\r\n", 1)[0].decode(errors="replace")[:40]] += 1
            else:
                closed[s] = time.monotonic() - t
    for s in socks:
        s.close()
    first = f", first after {min(closed.values()):.0f} s" if closed else ""
    reply = f"; replies {dict(replies)}" if replies else ""
    return ([f"closed {len(closed)}/{n}"],
            f"after {time.monotonic() - t:.0f} s{first}{reply}", [])


def a8_cross_site(until):
    body = json.dumps({"dataset": "spiral", "hidden_layers": [8], "epochs": 1}).encode()
    st, jid, hdrs = submit(body, headers={"content-type": "text/plain", "origin": "http://evil.example"})
    acao = hdrs.get("access-control-allow-origin")
    note = "202 = simple cross-site form POST creates jobs" if st == 202 else ""
    return [st], note + (f"; ACAO {acao}" if acao else ""), [jid] if jid else []


def sigterm_test():
    st, jid, _ = submit(LONG_JOB)
    j = wait_job(jid, time.monotonic() + 10, {"running"} | TERMINAL) if jid else {}
    sse = {"events": 0, "closed_at": None}

    def read():
        conn = http.client.HTTPConnection(S.host, S.port, timeout=30)
        try:
            conn.request("GET", f"/api/v1/jobs/{jid}/events")
            r = conn.getresponse()
            while line := r.fp.readline():
                sse["events"] += line.startswith(b"event:")
        except Exception:  # noqa: BLE001
            pass
        sse["closed_at"] = time.monotonic()
    threading.Thread(target=read, daemon=True).start()
    time.sleep(1.5)
    S.phase = "sigterm"
    t = time.monotonic()
    S.proc.send_signal(signal.SIGTERM)
    try:
        rc = S.proc.wait(20)
        exit_s = f"exited after {time.monotonic() - t:.1f} s (rc {rc})"
    except subprocess.TimeoutExpired:
        S.kill()
        exit_s = "did not exit within 20 s (SIGKILLed)"
    closed = f"stream closed after {sse['closed_at'] - t:.1f} s" if sse["closed_at"] else "stream still open"
    return {"attack": "SIGTERM with open SSE", "statuses": [exit_s],
            "note": f"job {j.get('status', st)}; {sse['events']} events read; {closed}"}


def table(results, idle, hwm):
    lines = ["| # | attack | status(es) | peak RSS MiB | notes |", "|---|---|---|---|---|"]
    for i, r in enumerate(results, 1):
        c = collections.Counter(map(str, r["statuses"]))
        sts = ", ".join(f"{k}" + (f" x{v}" if v > 1 else "") for k, v in c.items())
        lines.append(f"| {i} | {r['attack']} | {sts} | {mib(r.get('peak_kb'))} | {r['note']} |")
    lines += ["", f"idle RSS at start: {mib(idle)} MiB; peak (VmHWM, max over server processes): {mib(hwm)} MiB"]
    return "\n".join(lines)


def main():
    global S
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--binary", required=True)
    p.add_argument("--data-dir", default="data")
    p.add_argument("--static-dir", default="static")
    p.add_argument("--json", help="write the raw results here")
    args = p.parse_args()
    S = Server(args)
    results, state = [], {}

    def finish(code=0):
        S.kill()
        out = table(results, state.get("idle"), S.hwm)
        print(out, flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"results": results, "idle_rss_kb": state.get("idle"), "vmhwm_kb": S.hwm,
                           "server_starts": S.starts, "stderr_tail": list(S.stderr)[-30:]}, f, indent=2)
        os._exit(code)
    threading.Timer(HARD_CAP, lambda: (results.append(
        {"attack": "WATCHDOG", "statuses": ["hard cap hit"], "note": f"{HARD_CAP} s"}), finish(3))).start()

    def up():
        S.start()
        time.sleep(1.0)
        state.setdefault("idle", S.status()[0])
        state["model"] = train_model()
        print(f"[{elapsed():5.1f}s] server pid {S.proc.pid} at {S.host}:{S.port}, model {state['model']}",
              file=sys.stderr, flush=True)
    up()
    b64 = base64.b64encode(png_bomb()).decode()
    attacks = [("huge batch", a1_huge_batch, 12), ("checkpoint pile-up", a2_checkpoints, 60),
               ("PNG bombs x4", lambda u: a3_png_bombs(u, state["model"], b64), 45),
               ("one-value rows 15 MiB", lambda u: a4_one_value_rows(u, state["model"]), 30),
               ("V2 ignored parameters 15 MiB", lambda u: a5_v2_parameters(u, state["model"]), 30),
               ("queue race x20", a6_queue_race, 20), ("half-sent requests x50", a7_half_sent, 40),
               ("cross-site text/plain POST", a8_cross_site, 10)]
    for name, fn, cap in attacks:
        left = ATTACK_BUDGET - elapsed()
        if left < 3:
            results.append({"attack": name, "statuses": ["skipped"], "note": "time budget spent"})
            continue
        if not S.alive():
            up()
        print(f"[{elapsed():5.1f}s] {name}", file=sys.stderr, flush=True)
        S.phase = name
        try:
            sts, note, ids = fn(time.monotonic() + min(cap, left))
        except Exception as e:  # noqa: BLE001
            sts, note, ids = [f"client error {type(e).__name__}"], str(e)[:80], []
        if S.alive():
            cleanup(ids)
            S.settle()
        else:
            note += f"; SERVER DIED (rc {S.proc.returncode})"
        S.phase = None
        results.append({"attack": name, "statuses": sts, "note": note, "peak_kb": S.peaks.get(name, 0)})
    if not S.alive():
        up()
    print(f"[{elapsed():5.1f}s] SIGTERM test", file=sys.stderr, flush=True)
    r = sigterm_test()
    r["peak_kb"] = S.peaks.get("sigterm", 0)
    results.append(r)
    finish(0)


if __name__ == "__main__":
    main()
