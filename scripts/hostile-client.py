#!/usr/bin/env python3
"""Hostile-client check of an nnlab server binary (Python 3.11, standard library only).

Starts BINARY on 127.0.0.1 (port 0, throw-away SQLite, no demo model, --max-queued-jobs 3),
trains a tiny MNIST model, then runs nine attacks in turn (huge batch, checkpoint pile-up,
PNG bombs, one-value rows, V2 ignored parameters, queue race, half-sent requests, cross-site
POST, 200 submit-then-cancel pairs) and finally SIGTERMs the server while an event stream is open. The server's VmRSS and
VmHWM (/proc/PID/status) are sampled every 50 ms. After each attack its jobs are cancelled
(their final status is reported, so a cancel that did not take shows) and the server is left
to go quiet; if it died, the row says so and a fresh server (new database) is started.
Prints a markdown table (statuses, RSS before and peak per attack, idle RSS, VmHWM, SIGTERM
exit time); --json FILE writes the raw results. Every loop is bounded, the run stops by
itself (hard cap 275 s) and the server is always killed at the end.

    scripts/hostile-client.py --binary target/release/nnlab [--data-dir data] [--static-dir static]
"""
import argparse, base64, collections, http.client, json, os, re, select, signal, socket
import shutil, struct, subprocess, sys, tempfile, threading, time, zlib

T0 = time.monotonic()
ATTACK_BUDGET = 235  # seconds from start by which the attacks must be done
HARD_CAP = 275       # watchdog: print what we have, kill the server, exit
TERMINAL = {"succeeded", "failed", "cancelled"}
LONG_JOB = {"dataset": "spiral", "hidden_layers": [64, 64], "batch_size": 1, "epochs": 1000}
# Outlasts the 20 s the SIGTERM test waits (LONG_JOB ends in ~4 s on 2 cores).
SIGTERM_JOB = {"dataset": "mnist", "hidden_layers": [256], "batch_size": 1, "epochs": 10}

class Fatal(Exception):
    """The server could not be started or set up."""

def log(msg):
    print(f"[{time.monotonic() - T0:5.1f}s] {msg}", file=sys.stderr, flush=True)

def mib(kb):
    return f"{kb / 1024:.0f}" if kb else "-"

def err(data):
    return data.get("error", {}).get("message", "")[:70] if isinstance(data, dict) else ""

class Server:
    """The nnlab process, its stderr tail, and an RSS sampler keeping per-phase peaks."""

    def __init__(self, args):
        self.args, self.tmp = args, tempfile.mkdtemp(prefix="nnlab-hostile-")
        self.proc, self.starts, self.phase, self.peaks, self.hwm = None, 0, None, {}, 0
        self.stderr = collections.deque(maxlen=200)
        threading.Thread(target=self._sample, daemon=True).start()

    def start(self):
        self.starts += 1
        self.db = os.path.join(self.tmp, f"nnlab{self.starts}.db")
        a = self.args
        cmd = [a.binary, "--addr", "127.0.0.1:0", "--database-url", f"sqlite://{self.db}", "--demo-model",
               "false", "--data-dir", a.data_dir, "--static-dir", a.static_dir, "--max-queued-jobs", "3"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, errors="replace")
        found = threading.Event()

        def drain(proc):  # runs until the process closes stderr
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
                self.kill()
                tail = "\n".join(self.stderr)
                if "unexpected argument" in tail or "unrecognized" in tail:
                    raise Fatal(f"the binary rejected a flag of:\n  {' '.join(cmd)}\n{tail}")
                raise Fatal(f"no 'listening addr=...' on stderr (rc {self.proc.returncode}):\n{tail}")

    def alive(self):
        return bool(self.proc) and self.proc.poll() is None

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()

    def status(self):
        """(VmRSS, VmHWM) in kB; zeros when the process is gone."""
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                v = dict(l.split(":", 1) for l in f if l.startswith(("VmRSS", "VmHWM")))
            return int(v["VmRSS"].split()[0]), int(v["VmHWM"].split()[0])
        except (OSError, KeyError, ValueError, AttributeError):
            return 0, 0

    def cpu_ticks(self):  # utime + stime
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                return sum(int(x) for x in f.read().rsplit(")", 1)[1].split()[11:13])
        except (OSError, ValueError, AttributeError):
            return None

    def _sample(self):
        while True:
            if self.alive():
                rss, hwm = self.status()
                self.hwm = max(self.hwm, hwm)
                if rss and self.phase:
                    self.peaks[self.phase] = max(self.peaks.get(self.phase, 0), rss)
            time.sleep(0.05)

    def settle(self, cap=10.0):
        """Wait (at most cap seconds) until the server's CPU time stops growing for 1 s."""
        end, last, quiet_since = time.monotonic() + cap, self.cpu_ticks(), time.monotonic()
        while time.monotonic() < end and self.alive() and time.monotonic() - quiet_since < 1.0:
            time.sleep(0.25)
            if (now := self.cpu_ticks()) != last:
                last, quiet_since = now, time.monotonic()

S, PNG = None, None  # the Server; the PNG bomb (built once, before the attacks)

def req(method, path, body=None, headers=None, timeout=20):
    """One request on a fresh connection: (status or 'ERR:Name', JSON or bytes, lower-case headers)."""
    conn = http.client.HTTPConnection(S.host, S.port, timeout=timeout)
    hdrs = {"content-type": "application/json", **(headers or {})} if body is not None else {}
    body = json.dumps(body).encode() if isinstance(body, dict) else body
    try:
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        data = json.loads(data) if data[:1] == b"{" else data
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
    while time.monotonic() < until and S.alive() and job(jid).get("status") not in statuses:
        time.sleep(0.5)
    return job(jid)

def cleanup(ids):
    """Cancel the given jobs, then any queued/running one for up to ~2 s; the cancels' statuses."""
    cancels = collections.Counter(req("POST", f"/api/v1/jobs/{j}/cancel", {}, timeout=5)[0] for j in ids)
    end = time.monotonic() + 2
    while time.monotonic() < end and S.alive():
        live = []
        for status in ("queued", "running"):
            st, data, _ = req("GET", f"/api/v1/jobs?status={status}&limit=1000", timeout=5)
            live += [j["id"] for j in data.get("jobs", [])] if st == 200 else []
        if not live:
            break
        for jid in live:
            req("POST", f"/api/v1/jobs/{jid}/cancel", {}, timeout=5)
        time.sleep(0.3)
    return cancels

def concurrently(n, fn, cap):
    out = [("client timeout",)] * n
    threads = [threading.Thread(target=lambda i=i: out.__setitem__(i, fn(i)), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    end = time.monotonic() + cap
    for t in threads:
        t.join(max(0.0, end - time.monotonic()))
    return out

def png_bomb(side=20000):
    """A valid 8-bit grayscale side x side PNG of zeros: one IDAT, ~380 KiB for 400 MB of pixels."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    z, rows = zlib.compressobj(9), (b"\0" * (side + 1)) * 100  # filter byte 0 + pixels, 100 rows
    idat = b"".join(z.compress(rows) for _ in range(side // 100)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")

# --- attacks: each gets a deadline (and the model) and returns (statuses, note, created job ids) ---

def a1_huge_batch(until, model):
    st, jid, _ = submit({"dataset": "mnist", "hidden_layers": [4096], "batch_size": 1_000_000_000, "epochs": 1})
    if not jid:
        return [st], "", []
    end = min(until, time.monotonic() + 8)
    while time.monotonic() < end and S.alive():
        time.sleep(0.5)
    return [st], f"job {job(jid).get('status', '?')} after ~8 s", [jid]

def a2_checkpoints(until, model):
    st, jid, _ = submit({"dataset": "spiral", "hidden_layers": [1000, 1000], "batch_size": 4096,
                         "epochs": 40, "validation_split": 0})
    if not jid:
        return [st], "", []
    t = time.monotonic()
    j = wait_job(jid, min(until, t + 60))
    db = sum(os.path.getsize(S.db + s) for s in ("", "-wal") if os.path.exists(S.db + s))
    return [st], (f"job {j.get('status', '?')} at epoch {(j.get('progress') or {}).get('epoch', '?')} "
                  f"after {time.monotonic() - t:.0f} s; db+wal {db / 2**20:.0f} MiB"), [jid]

def a3_png_bombs(until, model):
    body = json.dumps({"png_base64": base64.b64encode(PNG).decode()}).encode()
    t = time.monotonic()
    res = concurrently(4, lambda i: req("POST", f"/api/v1/models/{model}/predict", body, timeout=45), until - t)
    msgs = sorted({err(r[1]) for r in res if len(r) > 1} - {""})
    return [r[0] for r in res], (f"PNG {len(PNG) // 1024} KiB, 20000x20000 gray; answered in "
                                 f"{time.monotonic() - t:.1f} s; {'; '.join(msgs)}"), []

def a4_one_value_rows(until, model):
    n = (15 * 2**20 - 20) // 4
    body = b'{"inputs":[' + b"[0]," * (n - 1) + b"[0]]}"
    st, data, _ = req("POST", f"/api/v1/models/{model}/predict", body, timeout=max(1, until - time.monotonic()))
    return [st], f"{n} rows, {len(body) / 2**20:.1f} MiB; {err(data)}", []

def a5_v2_parameters(until, model):
    keys = (15 * 2**20) // 10250
    body = json.dumps({"inputs": [{"name": "input", "shape": [1, 784], "datatype": "FP32", "data": [0.0] * 784}],
                       "parameters": {f"k{i}": "x" * 10240 for i in range(keys)}}).encode()
    st, data, _ = req("POST", f"/v2/models/{model}/infer", body, timeout=max(1, until - time.monotonic()))
    return [st], f"{keys} keys x 10 KiB, {len(body) / 2**20:.1f} MiB; {err(data)}", []

def a6_queue_race(until, model):
    res = concurrently(20, lambda i: submit(LONG_JOB, timeout=20), until - time.monotonic())
    sts = [r[0] for r in res]
    ids = [r[1] for r in res if len(r) > 1 and r[1]]
    return sts, f"{sts.count(202)} accepted, {sts.count(429)} refused (cap: 3 queued)", ids

def a7_half_sent(until, model, n=50, wait=40):
    socks, closed, replies = [], {}, collections.Counter()
    for _ in range(n):
        s = socket.create_connection((S.host, S.port), timeout=5)
        s.sendall(b"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\n")
        s.setblocking(False)
        socks.append(s)
    t, end = time.monotonic(), min(until, time.monotonic() + wait)
    while time.monotonic() < end and len(closed) < n:
        for s in select.select([s for s in socks if s not in closed], [], [], 0.5)[0]:
            try:
                data = s.recv(65536)
            except OSError:  # a reset is a close
                data = b""
            if data:
                replies[data.split(b"\r\n", 1)[0].decode(errors="replace")[:40]] += 1
            else:
                closed[s] = time.monotonic() - t
    health = req("GET", "/healthz", timeout=5)[0]
    for s in socks:
        s.close()
    note = f"after {time.monotonic() - t:.0f} s" + (f", first after {min(closed.values()):.0f} s" if closed else "")
    note += (f"; replies {dict(replies)}" if replies else "") + f"; /healthz meanwhile {health}"
    return [f"closed {len(closed)}/{n}"], note, []

def a8_cross_site(until, model):
    body = json.dumps({"dataset": "spiral", "hidden_layers": [8], "epochs": 1}).encode()
    st, jid, hdrs = submit(body, headers={"content-type": "text/plain", "origin": "http://evil.example"})
    acao = hdrs.get("access-control-allow-origin")
    note = "202: a cross-site form POST creates jobs" if st == 202 else ""
    return [st], note + (f"; ACAO {acao}" if acao else ""), [jid] if jid else []

RACE_JOB = {"dataset": "xor", "hidden_layers": [8], "batch_size": 1, "epochs": 30, "validation_split": 0}

def a9_cancel_race(until, model, pairs=200):
    """Submit-then-cancel pairs: a 200 must mean cancelled with no model and not every epoch
    trained; a 409 must mean the job had already succeeded."""
    answers = []
    for _ in range(pairs):
        if time.monotonic() > until:
            break
        st, jid, _ = submit(RACE_JOB)
        if jid:
            cst, body, _ = req("POST", f"/api/v1/jobs/{jid}/cancel", {}, timeout=10)
            answers.append((jid, cst, body.get("status") if isinstance(body, dict) else None))
    end = time.monotonic() + 30
    while time.monotonic() < end and any(job(j).get("status") not in TERMINAL for j, _, _ in answers):
        time.sleep(0.2)
    bad, ok200, ok409 = collections.Counter(), 0, 0
    for jid, cst, said in answers:
        final = job(jid)
        epochs = len(req("GET", f"/api/v1/jobs/{jid}/metrics", timeout=10)[1].get("epochs", []))
        if cst == 200:
            ok = said == "cancelled" and final.get("status") == "cancelled" and final.get("result") is None
            ok200 += ok
            bad["200 but trained every epoch"] += epochs >= RACE_JOB["epochs"]
            bad["200 but not cancelled or with a model"] += not ok
        elif cst == 409:
            ok409 += final.get("status") == "succeeded"
            bad["409 but not succeeded"] += final.get("status") != "succeeded"
        else:
            bad[f"cancel answered {cst}"] += 1
    note = f"{len(answers)} pairs: 200 x {ok200} cancelled, 409 x {ok409} succeeded; " + (
        ", ".join(f"{k}: {v}" for k, v in bad.items() if v) or "no violation")
    return [f"{len(answers)} pairs"], note, []

def sigterm_test():
    st, jid, _ = submit(SIGTERM_JOB)
    j = wait_job(jid, time.monotonic() + 10, {"running"} | TERMINAL) if jid else {}
    sse = {"events": 0, "closed_at": None}

    def read():
        conn = http.client.HTTPConnection(S.host, S.port, timeout=30)
        try:
            conn.request("GET", f"/api/v1/jobs/{jid}/events")
            r = conn.getresponse()
            while line := r.fp.readline():
                sse["events"] += line.startswith(b"event:")
        except Exception:  # noqa: BLE001 - a reset is an end of stream too
            pass
        sse["closed_at"] = time.monotonic()
    threading.Thread(target=read, daemon=True).start()
    time.sleep(1.5)
    S.phase, t = "sigterm", time.monotonic()
    S.proc.send_signal(signal.SIGTERM)
    try:
        exit_s = f"exited after {time.monotonic() - t:.1f} s (rc {S.proc.wait(20)})"
    except subprocess.TimeoutExpired:
        S.kill()
        exit_s = "did not exit within 20 s (SIGKILLed)"
    closed = f"stream closed after {sse['closed_at'] - t:.1f} s" if sse["closed_at"] else "stream still open"
    return {"attack": "SIGTERM with open SSE", "statuses": [exit_s],
            "note": f"job {j.get('status', st)} at SIGTERM; {sse['events']} events read; {closed}"}

def table(results, idle, hwm):
    lines = ["| # | attack | status(es) | RSS before MiB | peak RSS MiB | notes |", "|---|---|---|---|---|---|"]
    for i, r in enumerate(results, 1):
        sts = ", ".join(k + (f" x{v}" if v > 1 else "") for k, v in collections.Counter(map(str, r["statuses"])).items())
        lines.append(f"| {i} | {r['attack']} | {sts} | {mib(r.get('rss_before_kb'))} | {mib(r.get('peak_kb'))} "
                     f"| {r['note']} |")
    return "\n".join(lines + ["", f"idle RSS at start: {mib(idle)} MiB; "
                                  f"peak (VmHWM, max over server processes): {mib(hwm)} MiB"])

ATTACKS = [("huge batch", a1_huge_batch, 12), ("checkpoint pile-up", a2_checkpoints, 60),
           ("PNG bombs x4", a3_png_bombs, 45), ("one-value rows 15 MiB", a4_one_value_rows, 30),
           ("V2 ignored parameters 15 MiB", a5_v2_parameters, 30), ("queue race x20", a6_queue_race, 20),
           ("half-sent requests x50", a7_half_sent, 40), ("cross-site text/plain POST", a8_cross_site, 10),
           ("cancel race x200", a9_cancel_race, 60)]

def main():
    global S, PNG
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for flag, default in (("--binary", None), ("--data-dir", "data"), ("--static-dir", "static"), ("--json", None)):
        p.add_argument(flag, default=default, required=flag == "--binary")
    args = p.parse_args()
    S, results, state, done = Server(args), [], {}, threading.Lock()

    def finish(code):
        if not done.acquire(blocking=False):
            return  # the other thread is finishing
        S.kill()
        shutil.rmtree(S.tmp, ignore_errors=True)
        print(table(results, state.get("idle"), S.hwm), flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"results": results, "idle_rss_kb": state.get("idle"), "vmhwm_kb": S.hwm,
                           "server_starts": S.starts, "stderr_tail": list(S.stderr)[-30:]}, f, indent=2)
        os._exit(code)

    def watchdog():
        results.append({"attack": "WATCHDOG", "statuses": ["hard cap hit"], "note": f"{HARD_CAP} s"})
        finish(3)
    threading.Timer(HARD_CAP, watchdog).start()

    def up():
        """Start a server and train the tiny MNIST model the predict attacks need."""
        try:
            S.start()
            time.sleep(1.0)
            state.setdefault("idle", S.status()[0])
            st, jid, _ = submit({"dataset": "mnist", "hidden_layers": [16], "epochs": 1, "train_samples": 2000})
            j = wait_job(jid, time.monotonic() + 60) if jid else {}
            if j.get("status") != "succeeded":
                raise Fatal(f"setup: the tiny MNIST job did not succeed (submit {st}, job {j})\n"
                            + "\n".join(list(S.stderr)[-20:]))
            state["model"] = j["result"]["model_id"]
            log(f"server pid {S.proc.pid} at {S.host}:{S.port}, model {state['model']}")
        except Fatal as e:
            print(e, file=sys.stderr)
            finish(2)

    up()
    PNG = png_bomb()
    for name, fn, cap in ATTACKS:
        if (left := ATTACK_BUDGET - (time.monotonic() - T0)) < 3:
            results.append({"attack": name, "statuses": ["skipped"], "note": "time budget spent"})
            continue
        if not S.alive():
            up()
        log(name)
        before, S.phase = S.status()[0], name
        try:
            sts, note, ids = fn(time.monotonic() + min(cap, left), state["model"])
        except Exception as e:  # noqa: BLE001 - report, go on with the next attack
            sts, note, ids = [f"client error {type(e).__name__}"], str(e)[:80], []
        if S.alive():
            cancels = cleanup(ids)
            S.settle()
            if ids:
                ends = collections.Counter(job(j).get("status", "?") for j in ids)
                note += f"; cancel -> {dict(cancels)}, then {dict(ends)}"
        if not S.alive():
            note += f"; SERVER DIED (rc {S.proc.returncode})"
        S.phase, note = None, "; ".join(part for part in note.split("; ") if part.strip())
        results.append({"attack": name, "statuses": sts, "note": note, "rss_before_kb": before,
                        "peak_kb": S.peaks.get(name, 0)})
    if not S.alive():
        up()
    log("SIGTERM test")
    before = S.status()[0]
    results.append({**sigterm_test(), "rss_before_kb": before, "peak_kb": S.peaks.get("sigterm", 0)})
    finish(0)

if __name__ == "__main__":
    main()
