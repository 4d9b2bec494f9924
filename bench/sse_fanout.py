#!/usr/bin/env python3
"""SSE fan-out (issue 12): N clients on the daemon's `GET /events`, in one
process, over raw HTTP/1.1 (chunked) sockets.

  sse_fanout.py latency URL N SECONDS RUNTIME   event -> delivery at every client
  sse_fanout.py hold URL N                      connect N, print `ready`, read until SIGTERM

Arrival is the kernel's receive timestamp of the segment that completed the
frame (SO_TIMESTAMPNS), so the client's own parsing of 100 sockets in turn
does not count against the daemon; the moment Python parsed it is printed
too. Two references, same clock (CLOCK_REALTIME, one machine):

- `time` of the envelope, stamped when the bus published the event. It is
  cut to milliseconds, so this delay reads up to 1 ms long;
- for `runtime.exit`: the moment this script SIGKILLed RUNTIME's process
  (the daemon must notice the exit first: a stricter end-to-end figure).

In `latency` mode the script kills RUNTIME whenever it is ready again (the
manifest's restart budget must allow it); RUNTIME `-` kills nothing, and the
only events are the matrix republished every `ARW_MATRIX_REPUBLISH_SECS`.
Each event is reported per topic, and split into the delay of its first
client and the spread to its last (a whole event late: the daemon was busy;
a wide spread: the fan-out itself). A client the daemon cuts off is an error.
"""
import json, os, re, selectors, signal, socket, statistics, sys, time
from datetime import datetime

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


_times = {}
HEAD = re.compile(rb'^\{"id":(\d+),"topic":"([^"]+)","time":"([^"]+)"')


def rfc3339_ns(s):
    if s not in _times:
        _times[s] = int(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000) * 1_000_000
    return _times[s]


def head(data):
    """(id, topic, time ns) from the envelope's start (the bus writes these
    three first, in this order): 100 clients cannot afford a JSON parse each."""
    m = HEAD.match(data)
    if not m:
        raise SystemExit(f"not an envelope: {data[:80]!r}")
    return int(m.group(1)), m.group(2).decode(), rfc3339_ns(m.group(3).decode())


class Client:
    def __init__(self, url, idx):
        hostport = url.split("//", 1)[1].split("/", 1)[0]
        host, port = hostport.rsplit(":", 1)
        self.idx = idx
        self.sock = socket.create_connection((host, int(port)))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.sendall(f"GET /events HTTP/1.1\r\nHost: {hostport}\r\nAccept: text/event-stream\r\n\r\n".encode())
        self.sock.setblocking(False)
        self.raw = b""  # bytes from the socket, before de-chunking
        self.headers_done = False
        self.chunk_left = None  # bytes left in the current chunk (+2 for CRLF), None: read a size line
        self.text = b""  # de-chunked SSE text
        self.frames = 0
        self.closed = False

    def read(self):
        """Returns [(frame bytes, kernel rx ns, exact)]. The kernel stamps a
        read with its last segment's arrival: exact for a frame only when
        the read held that frame's end and nothing after it; a frame that
        shares its read with later ones arrived at or before the stamp."""
        try:
            data, anc, _, _ = self.sock.recvmsg(1 << 16, socket.CMSG_SPACE(16))
        except BlockingIOError:
            return []
        if not data:
            self.closed = True
            return []
        rx = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = int.from_bytes(payload[:8], "little"), int.from_bytes(payload[8:16], "little")
                rx = sec * 1_000_000_000 + nsec
        if rx is None:
            rx = time.time_ns()
        self.raw += data
        if not self.headers_done:
            end = self.raw.find(b"\r\n\r\n")
            if end < 0:
                return []
            status = self.raw.split(b"\r\n", 1)[0]
            if b" 200 " not in status + b" ":
                raise SystemExit(f"client {self.idx}: {status.decode(errors='replace')}")
            self.raw = self.raw[end + 4 :]
            self.headers_done = True
        self.dechunk()
        frames = []
        while True:
            end = self.text.find(b"\n\n")
            if end < 0:
                break
            frame, self.text = self.text[:end], self.text[end + 2 :]
            self.frames += 1
            frames.append(frame)
        last = len(frames) - 1
        return [(f, rx, i == last and not self.text) for i, f in enumerate(frames)]

    def dechunk(self):
        while self.raw:
            if self.chunk_left is None:
                line_end = self.raw.find(b"\r\n")
                if line_end < 0:
                    return
                size = int(self.raw[:line_end].split(b";")[0], 16)
                self.raw = self.raw[line_end + 2 :]
                if size == 0:
                    self.closed = True
                    return
                self.chunk_left = size + 2
            take = self.raw[: self.chunk_left]
            self.raw = self.raw[len(take) :]
            self.chunk_left -= len(take)
            # The chunk's trailing CRLF is the last 2 bytes taken.
            keep = take if self.chunk_left >= 2 else take[: len(take) - (2 - self.chunk_left)]
            self.text += keep
            if self.chunk_left == 0:
                self.chunk_left = None


def parse(frame):
    event, data, comment = None, None, []
    for line in frame.split(b"\n"):
        if line.startswith(b"event: "):
            event = line[7:].decode()
        elif line.startswith(b"data: "):
            data = line[6:]
        elif line.startswith(b":"):
            comment.append(line[1:].strip().decode(errors="replace"))
    return event, data, comment


def connect(url, n):
    sel = selectors.DefaultSelector()
    clients = [Client(url, i) for i in range(n)]
    for c in clients:
        sel.register(c.sock, selectors.EVENT_READ, c)
    return sel, clients


def pump(sel, timeout, on_frame):
    for key, _ in sel.select(timeout):
        c = key.data
        for frame, rx, exact in c.read():
            event, data, comment = parse(frame)
            if any(x.startswith("disconnected") or "shutting down" in x or "stopped publishing" in x for x in comment):
                raise SystemExit(f"client {c.idx} was cut off: {comment}")
            on_frame(c, event, data, rx, exact)
        if c.closed:
            raise SystemExit(f"client {c.idx}: the daemon closed the stream")


def wait_connected(sel, clients, deadline_s=10.0):
    """Returns the newest event id any client saw while the others were
    still connecting: only later events reached every client while measured."""
    deadline = time.monotonic() + deadline_s
    newest = [0]

    def seen(_c, _event, data, _rx, _exact):
        if data is not None:
            newest[0] = max(newest[0], head(data)[0])

    # Every new reader is sent the newest matrix first: wait until each has it.
    while any(c.frames < 2 for c in clients):  # the retry/comment frame, then the snapshot
        if time.monotonic() > deadline:
            missing = sum(c.frames < 2 for c in clients)
            raise SystemExit(f"{missing} of {len(clients)} clients got no snapshot within {deadline_s:.0f} s")
        pump(sel, 0.5, seen)
    # An event published while the last clients subscribed reached only the
    # earlier ones, which may not have read it yet: let those arrive too.
    settle = time.monotonic() + 0.3
    while time.monotonic() < settle:
        pump(sel, 0.05, seen)
    return newest[0]


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(p / 100 * len(xs) + 0.5)) - 1))]


def summary(name, samples_ns):
    ms = [x / 1e6 for x in samples_ns]
    if not ms:
        print(f"{name:38} no samples")
        return
    print(
        f"{name:38} n={len(ms):6}  p50 {statistics.median(ms):6.2f} ms  p99 {pct(ms, 99):6.2f} ms  max {max(ms):6.2f} ms"
    )
    return pct(ms, 99)


def latency(url, n, seconds, runtime):
    sel, clients = connect(url, n)
    connected_at = wait_connected(sel, clients)
    by_topic = {}  # topic -> [rx - time]
    parsed = []  # app time - time
    kill_delay = []
    state = {"pid": None, "ready": False, "killed_at": None, "kill_gen": None, "kills": 0, "last_kill": 0.0}
    seen_ids = {}  # id -> set of clients (for counting deliveries)
    per_event = {}  # id -> [rx - time] over the clients
    exact = []  # rx - time of frames alone at the end of their read

    def on_frame(c, event, data, rx, is_exact):
        now = time.time_ns()
        if data is None or event is None:
            return
        eid, topic, t = head(data)
        if topic == "runtime.updated" and c.idx == 0:
            for rt in json.loads(data)["data"]["supervisor"]["runtimes"]:
                if rt["id"] == runtime:
                    state["pid"], state["ready"] = rt["pid"], rt["state"] == "ready"
        if eid <= connected_at:
            return  # published before every client was connected
        seen_ids.setdefault(eid, set()).add(c.idx)
        by_topic.setdefault(topic, []).append(rx - t)
        per_event.setdefault(eid, []).append(rx - t)
        if is_exact:
            exact.append(rx - t)
        parsed.append(now - t)
        if topic == "runtime.exit" and state["killed_at"] is not None:
            kill_delay.append(rx - state["killed_at"])

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pump(sel, 0.05, on_frame)
        # Kill when it is ready again, at most every 100 ms, after every
        # client has the previous kill's exit (or 2 s passed without it).
        exits_in = len(kill_delay) >= state["kills"] * n or time.monotonic() - state["last_kill"] > 2
        if runtime != "-" and state["ready"] and state["pid"] and exits_in and time.monotonic() - state["last_kill"] > 0.1:
            state["killed_at"] = time.time_ns()
            try:
                os.kill(state["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass
            state["kills"] += 1
            state["last_kill"] = time.monotonic()
            state["ready"] = False
    # Let the last events arrive.
    drain = time.monotonic() + 0.5
    while time.monotonic() < drain:
        pump(sel, 0.05, on_frame)

    short = [i for i, who in seen_ids.items() if len(who) != n]
    print(f"clients {n}, {seconds:.0f} s, {state['kills']} kills of `{runtime}`, {len(seen_ids)} events")
    if short:
        print(f"ERROR: {len(short)} events did not reach all {n} clients")
    every = [x for xs in by_topic.values() for x in xs]
    for topic in sorted(by_topic):
        summary(f"  publish -> kernel rx, {topic}", by_topic[topic])
    p99 = summary("publish -> kernel rx, all events", every)
    summary("  of which exact (alone in their read)", exact)
    summary("publish -> parsed by the client", parsed)
    summary("SIGKILL -> runtime.exit at kernel rx", kill_delay)
    # Where a tail comes from: a whole event late (the daemon was busy or
    # descheduled) or the last clients of a fan-out (per-client cost).
    first = [min(v) for v in per_event.values()]
    spread = [max(v) - min(v) for v in per_event.values()]
    summary("first client of each event", first)
    summary("last minus first client of each event", spread)
    print(f"p99_ms={p99:.2f}")
    if short:
        sys.exit(1)


def hold(url, n):
    sel, clients = connect(url, n)
    wait_connected(sel, clients)
    frames = 0

    def bye(*_):
        print(f"held {n} clients, {frames} frames, none cut off", file=sys.stderr)
        sys.exit(0)

    signal.signal(signal.SIGTERM, bye)
    print("ready", flush=True)
    while True:
        for key, _ in sel.select(1.0):
            c = key.data
            for frame, _rx, _exact in c.read():
                _event, _data, comment = parse(frame)
                if any(x.startswith("disconnected") for x in comment):
                    raise SystemExit(f"client {c.idx} was cut off: {comment}")
                frames += 1
            if c.closed:
                raise SystemExit(f"client {c.idx}: the daemon closed the stream")


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "latency":
        latency(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
    elif mode == "hold":
        hold(sys.argv[2], int(sys.argv[3]))
    else:
        raise SystemExit(__doc__)
