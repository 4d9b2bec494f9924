#!/usr/bin/env python3
"""Real llama-server benchmarks (issue 7).

1. Overhead: llama-server's own load time (spawn -> /health 200, polled
   every 1 ms by this script) vs the readiness arw reports in a real smoke,
   both with the tiny model, medians of N runs.
2. Memory truth: arw's GGUF estimate vs measured peak RSS (VmHWM) for both
   models at two context sizes.

Usage: real.py ARW LLAMA_SERVER TINY_GGUF SMOLLM2_GGUF
"""
import json, os, socket, statistics, subprocess, sys, tempfile, time, urllib.request

arw, server, tiny, smol = sys.argv[1:5]
RUNS = 10

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def direct_load_ms(model, ctx):
    port = free_port()
    t0 = time.perf_counter()
    p = subprocess.Popen([server, "--model", model, "--host", "127.0.0.1", "--port", str(port),
                          "--ctx-size", str(ctx)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    if r.status == 200:
                        return (time.perf_counter() - t0) * 1000
            except Exception:
                pass
            time.sleep(0.001)
    finally:
        p.terminate(); p.wait()

def smoke(model, ctx, home):
    env = dict(os.environ, ARW_HOME=home, MODE="real", LLAMA_SERVER_BIN=server, LLAMA_MODEL_PATH=model,
               LLAMA_SERVER_ARGS=f"--ctx-size {ctx}", RUNTIME_SMOKE_ROOT=os.path.join(home, "smoke"))
    t0 = time.perf_counter()
    out = subprocess.run([arw, "runtime", "smoke", "--json"], env=env, capture_output=True, text=True)
    wall = (time.perf_counter() - t0) * 1000
    doc = json.loads(out.stdout)
    assert doc["outcome"] == "passed", doc
    return wall, doc

with tempfile.TemporaryDirectory(prefix="arwreal") as tmp:
    home = os.path.join(tmp, "h")
    subprocess.run([arw, "runtime", "status", "--json"], env=dict(os.environ, ARW_HOME=home), capture_output=True)
    direct = [direct_load_ms(tiny, 512) for _ in range(RUNS)]
    runs = [smoke(tiny, 512, home) for _ in range(RUNS)]
    ready = [d["readiness_ms"] for _, d in runs]
    walls = [w for w, _ in runs]
    print(f"tiny model, {RUNS} runs (medians):")
    print(f"  llama-server alone, spawn -> /health 200: {statistics.median(direct):7.1f} ms")
    print(f"  arw smoke readiness (register -> ready):   {statistics.median(ready):7.1f} ms")
    print(f"  overhead arw adds over the load:          {statistics.median(ready) - statistics.median(direct):7.1f} ms (goal <= 100 ms)")
    print(f"  whole real smoke, wall:                   {statistics.median(walls):7.1f} ms")
    print()
    print("| model | n_ctx | GGUF estimate | seed formula | measured peak RSS | error |")
    print("|---|---|---|---|---|---|")
    for name, model, ctxs in [("tiny (random, 2 layers)", tiny, [512, 2048]), ("SmolLM2-135M Q4_1", smol, [2048, 8192])]:
        for ctx in ctxs:
            _, doc = smoke(model, ctx, home)
            m = doc["memory"]
            mib = lambda b: f"{b / 1048576:.1f} MiB"
            print(f"| {name} | {ctx} | {mib(m['predicted_bytes'])} | {mib(m['seed_estimate_bytes'])} | "
                  f"{mib(m['measured_peak_rss_bytes'])} | {m['error_pct']:+.1f}% |")
    subprocess.run([arw, "daemon", "stop"], env=dict(os.environ, ARW_HOME=home), capture_output=True)
