#!/usr/bin/env python3
"""Kill -> matrix latency: SIGKILL a ready runtime and time until a pushed
`runtime.updated` event (arw runtime status --watch --json) shows the exit.

Usage: kill_latency.py ARW_BIN ROUNDS   (ARW_HOME/ARW_CONFIG from the env)
Prints one latency in milliseconds per line, then `median_ms=<x>`.
"""
import json, os, signal, statistics, subprocess, sys, time

arw, rounds = sys.argv[1], int(sys.argv[2])
watch = subprocess.Popen([arw, "runtime", "status", "--watch", "--json"], stdout=subprocess.PIPE, text=True)

def runtimes(line):
    return {r["id"]: r for r in json.loads(line)["supervisor"]["runtimes"]}

def wait_ready(generation_above):
    for line in watch.stdout:
        rt = runtimes(line).get("bench")
        if rt and rt["state"] == "ready" and rt["generation"] > generation_above:
            return rt
    raise SystemExit("watch stream ended")

samples = []
rt = wait_ready(0)
for _ in range(rounds):
    gen = rt["generation"]
    killed = time.perf_counter()
    os.kill(rt["pid"], signal.SIGKILL)
    for line in watch.stdout:
        now = time.perf_counter()
        r = runtimes(line).get("bench")
        if r and r["generation"] == gen and r["pid"] is None:
            samples.append((now - killed) * 1000)
            print(f"{samples[-1]:.2f}")
            break
    rt = wait_ready(gen)
watch.kill()
print(f"median_ms={statistics.median(samples):.2f}")
