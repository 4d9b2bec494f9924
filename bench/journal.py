#!/usr/bin/env python3
"""Journal benchmarks (issue 13), each against a reference in the same run.

1. warm `arw runtime status --json`, journal on vs `ARW_JOURNAL=off`
   (interleaved rounds, so load drift hits both alike); goal <= 1.05x.
2. a restart storm: crash-looping runtimes (`/bin/false`, no backoff)
   with the journal on vs off: restarts/s, journal rows/s, daemon CPU and
   `status` latency while it happens.
3. daemon start with a 100 MB journal: a cold `runtime status --json`
   (spawns the daemon, which opens the journal and restores every runtime
   before it answers) vs an empty journal and the journal off; goal <= 50 ms.

Usage: bench/journal.py ARW_BINARY [--quick]
"""

import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ARW = sys.argv[1]
QUICK = "--quick" in sys.argv
WORK = tempfile.mkdtemp(prefix="arwjb", dir="/tmp")
HOMES = []
TICK = os.sysconf("SC_CLK_TCK")


def env(home, journal, config, **extra):
    e = {k: v for k, v in os.environ.items() if not k.startswith(("ARW_", "LLAMA_", "HF_", "RUNTIME_SMOKE_"))}
    e.update(ARW_HOME=home, ARW_CONFIG=config, ARW_JOURNAL=journal, ARW_IDLE_TIMEOUT_SECS="0")
    e.update(extra)
    if home not in HOMES:
        HOMES.append(home)
    return e


def arw(e, *args):
    return subprocess.run([ARW, *args], env=e, capture_output=True, check=True).stdout


def status(e):
    return json.loads(arw(e, "runtime", "status", "--json"))


def stop(e):
    subprocess.run([ARW, "daemon", "stop"], env={**e, "ARW_NO_AUTOSTART": "1"}, capture_output=True)


def pid_of(home):
    return int(open(os.path.join(home, "run/daemon.pid")).read())


def cpu_ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def timed(argv, e):
    """Wall time of one run, in ms (posix_spawn + waitpid, stdout to /dev/null)."""
    actions = [(os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0)]
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, e, file_actions=actions)
    _, st = os.waitpid(pid, 0)
    t1 = time.perf_counter_ns()
    if os.waitstatus_to_exitcode(st) != 0:
        raise SystemExit(f"{argv} failed")
    return (t1 - t0) / 1e6


def manifest(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def stub(i, auto):
    return (
        f'[[runtime]]\nid = "s{i}"\nadapter = "stub"\ncommand = "{ARW}"\n'
        f'args = ["runtime", "stub-llama", "--port", "{{port}}"]\nauto_start = {str(auto).lower()}\n\n'
    )


def flood(i):
    return (
        f'[[runtime]]\nid = "flood{i}"\nadapter = "process"\ncommand = "/bin/false"\n'
        "[runtime.restart]\nmax_restarts = 4294967295\nwindow_secs = 1\nbackoff_initial_ms = 0\nbackoff_max_ms = 0\n\n"
    )


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def warm_status():
    cfg = manifest(f"{WORK}/warm.toml", stub(1, True) + stub(2, False) + stub(3, False))
    homes = {j: env(f"{WORK}/warm-{j}", j, cfg) for j in ("on", "off")}
    for e in homes.values():
        for _ in range(200):
            if status(e)["supervisor"]["runtimes"][0]["state"] == "ready":
                break
            time.sleep(0.02)
    rounds = 300 if QUICK else 1000
    times = {"on": [], "off": [], "true": []}
    cmds = {j: ([ARW, "runtime", "status", "--json"], e) for j, e in homes.items()}
    cmds["true"] = (["/bin/true"], homes["on"])
    for _ in range(30):
        for argv, e in cmds.values():
            timed(argv, e)
    for _ in range(rounds):
        order = list(cmds)
        random.shuffle(order)
        for k in order:
            argv, e = cmds[k]
            times[k].append(timed(argv, e))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"1. warm status, {rounds} interleaved rounds:")
    print(f"   journal on  median {med['on']:.3f} ms  min {min(times['on']):.3f} ms")
    print(f"   journal off median {med['off']:.3f} ms  min {min(times['off']):.3f} ms")
    print(f"   /bin/true   median {med['true']:.3f} ms")
    print(f"   on/off = {med['on'] / med['off']:.3f}x (goal <= 1.05x)")
    for e in homes.values():
        stop(e)


def storm(runtimes, secs):
    cfg = manifest(f"{WORK}/storm.toml", "".join(flood(i) for i in range(runtimes)))
    print(f"2. restart storm: {runtimes} crash loops, {secs} s measured after 2 s of warm-up")
    results = {}
    for j in ("off", "on"):
        home = f"{WORK}/storm-{j}"
        e = env(home, j, cfg)
        status(e)
        time.sleep(2)
        pid = pid_of(home)
        db = os.path.join(home, "state/arw.db")

        def rows():
            if j == "off":
                return 0
            c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            n = c.execute("SELECT coalesce(max(seq), 0) FROM lifecycle").fetchone()[0]
            c.close()
            return n

        def restarts(doc):
            return sum(r["restarts_total"]["automatic"] for r in doc["supervisor"]["runtimes"])

        r0, rows0, c0, t0 = restarts(status(e)), rows(), cpu_ticks(pid), time.monotonic()
        lat = []
        while time.monotonic() - t0 < secs:
            lat.append(timed([ARW, "runtime", "status", "--json"], e))
        doc = status(e)
        r1, rows1, c1, t1 = restarts(doc), rows(), cpu_ticks(pid), time.monotonic()
        wall = t1 - t0
        notes = [d for d in next(iter(doc["matrix"]["items"].values()))["status"]["detail"] if "journal" in d]
        results[j] = dict(
            rate=(r1 - r0) / wall,
            rows=(rows1 - rows0) / wall,
            cpu=(c1 - c0) / TICK / wall * 100,
            p50=statistics.median(lat),
            p99=pct(lat, 0.99),
            max=max(lat),
            n=len(lat),
            notes=notes,
        )
        stop(e)
    for j, r in results.items():
        print(
            f"   journal {j:3}: {r['rate']:.0f} restarts/s, {r['rows']:.0f} journal rows/s, daemon CPU {r['cpu']:.0f}%,"
            f" status p50 {r['p50']:.2f} ms p99 {r['p99']:.2f} ms max {r['max']:.2f} ms ({r['n']} calls)"
        )
        for n in r["notes"]:
            print(f"      detail: {n}")
    print(f"   status p50 on/off = {results['on']['p50'] / results['off']['p50']:.2f}x")


def big_journal(target_mb):
    ids = [f"rt{i}" for i in range(20)]
    text = "".join(
        f'[[runtime]]\nid = "{i}"\nadapter = "process"\ncommand = "/bin/true"\nauto_start = false\n\n' for i in ids
    )
    cfg = manifest(f"{WORK}/big.toml", text)
    homes = {k: env(f"{WORK}/start-{k}", "off" if k == "off" else "on", cfg) for k in ("big", "empty", "off")}
    for k in ("big", "empty"):
        status(homes[k])
        stop(homes[k])
    db = f"{WORK}/start-big/state/arw.db"
    c = sqlite3.connect(db)
    now = int(time.time() * 1000)
    tail = [f"0.00.{n:03d}.123 E llama_model_load: error loading model: tensor 'blk.{n}.attn_q.weight' " + "x" * 60 for n in range(5)]
    t0 = time.monotonic()
    n = 0
    while os.path.getsize(db) < target_mb * 1024 * 1024:
        batch = []
        for _ in range(20_000):
            rt = ids[n % len(ids)]
            at = now - 7 * 86_400_000 + n * 10
            g = n // 3
            kind = n % 3
            if kind == 0:
                batch.append((at, rt, "start", g, 1000 + n % 30000, None, None, None, None, None, None))
            elif kind == 1:
                exit_json = json.dumps(
                    {"at": "2026-12-01T00:00:00.000Z", "cause": "exited", "code": 1, "signal": None,
                     "detail": "exited with code 1", "stderr_tail": tail, "error_line": tail[0]}
                )
                batch.append((at, rt, "exit", g, None, "exited", 1, None, "exited with code 1", tail[0], exit_json))
            else:
                batch.append((at, rt, "restart", None, None, None, None, None, "automatic restart 1 of 3", None, None))
            n += 1
        c.executemany(
            "INSERT INTO lifecycle (at_ms, runtime, kind, generation, pid, cause, code, signal, detail, error_line,"
            " exit_json) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            batch,
        )
        c.executemany(
            "INSERT INTO budget_restarts (runtime, at_ms, kind) VALUES (?, ?, 'automatic')",
            [(b[1], b[0]) for b in batch if b[2] == "restart"],
        )
        c.commit()
    for i, rt in enumerate(ids):
        c.execute(
            "INSERT INTO runtimes (runtime, generation, ever_started, automatic_total, last_exit, updated_ms)"
            " VALUES (?, ?, 1, ?, ?, ?) ON CONFLICT (runtime) DO UPDATE SET generation = excluded.generation",
            (rt, n // 3, n // 60, exit_json, now),
        )
    c.commit()
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()
    size = os.path.getsize(db) / 1e6
    print(f"3. daemon start: journal of {size:.0f} MB ({n} lifecycle rows, 20 runtimes) built in {time.monotonic() - t0:.0f} s")
    runs = 10 if QUICK else 30
    times = {k: [] for k in homes}
    for _ in range(runs):
        order = list(homes)
        random.shuffle(order)
        for k in order:
            stop(homes[k])
            times[k].append(timed([ARW, "runtime", "status", "--json"], homes[k]))
    for k in ("big", "empty", "off"):
        print(f"   cold status, journal {k:5}: median {statistics.median(times[k]):.2f} ms, max {max(times[k]):.2f} ms")
    hist = [timed([ARW, "runtime", "history", "rt3", "--json"], homes["big"]) for _ in range(20)]
    print(f"   `runtime history rt3 --json` (newest 50 of {n // 20}) on it: median {statistics.median(hist):.2f} ms")
    print(f"   goal: <= 50 ms to the first answer with the {size:.0f} MB journal")
    for e in homes.values():
        stop(e)


def main():
    print(f"machine: {os.cpu_count()} cores, load {open('/proc/loadavg').read().split()[0]}, {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}")
    try:
        warm_status()
        storm(12, 5 if QUICK else 10)
        big_journal(100)
    finally:
        for h in HOMES:
            stop({**os.environ, "ARW_HOME": h})
        shutil.rmtree(WORK, ignore_errors=True)


main()
