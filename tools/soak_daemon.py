"""Hostile-load soak of the daemon (issue 13): the figures of its closing note, loopback only.

    python tools/soak_daemon.py [--phase all|idle|burst|memory|security] [--connections 2000]

- idle: the daemon (in this process, RLIMIT_NOFILE set to the unit's LimitNOFILE, MQTT to a local
  mosquitto) serves a looping clip while a separate process holds N idle unauthenticated
  connections; counts alerts emitted vs. received on the broker, frames during the hold, /healthz.
  The alerts come from a stand-in analyzer (a 'new' alert every 3rd frame, each its own id): the
  figure is about the alert path under load, not about fall detection.
- burst: ``edgepose.replay`` of 100 synthetic sources (real analytics) into MQTT; compares the
  event feed replay wrote with what the broker delivered: lost, duplicated, out of order.
- memory: RSS of the serving daemon before and after 20 requests with 6.4 MB of headers and 50
  MJPEG clients (run it with MALLOC_ARENA_MAX=2 as the unit does; the script re-executes itself so).
- security: ``systemd-analyze security --offline=true systemd/edgepose.service``.

Every phase stops by itself (bounded loops and timeouts). It loads 2 CPU cores for a few minutes:
run it by hand, not in the test suite (tests/service and tests/sinks hold the small versions).
"""
import argparse
import collections
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

UNIT = os.path.join(ROOT, "systemd", "edgepose.service")


def unit_value(key):
    with open(UNIT, encoding="utf-8") as f:
        for line in f:
            if line.startswith(key + "="):
                return line.split("=", 1)[1].strip()
    return None


def fds():
    return len(os.listdir("/proc/self/fd"))


def make_clip(folder):
    import numpy as np

    from edgepose import deps

    cv2 = deps.load("cv2", "tools/soak_daemon.py")
    path = os.path.join(folder, "clip.avi")
    w = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    for i in range(30):
        img = np.full((240, 320, 3), 70, np.uint8)
        cv2.circle(img, (40 + 8 * i, 120), 20, (220, 220, 220), -1)
        w.write(img)
    w.release()
    return path


class Broker(object):
    def __init__(self, folder):
        from mosquitto import Mosquitto

        self.m = Mosquitto(folder).start()
        self.port = self.m.port

    def close(self):
        self.m.kill()


class Subscriber(object):
    def __init__(self, port, topic="edgepose/events"):
        from edgepose import deps

        mqtt = deps.load("paho", "tools/soak_daemon.py")
        self.items = []
        self.lock = threading.Lock()
        ready = threading.Event()
        c = self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        c.on_connect = lambda cl, u, f, rc, p: cl.subscribe(topic, qos=1)
        c.on_subscribe = lambda *a: ready.set()
        c.on_message = self._on
        c.connect("127.0.0.1", port)
        c.loop_start()
        ready.wait(10)

    def _on(self, client, userdata, msg):
        ch = json.loads(msg.payload)
        with self.lock:
            self.items.append((ch["after"]["id"], ch["type"]))

    def keys(self):
        with self.lock:
            return list(self.items)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def start_service(tmp, clip, http, mqtt_port=None, pulse=False):
    import edgepose.analytics
    from edgepose.service import Service

    if pulse:
        import helpers

        edgepose.analytics.Analyzer = helpers.PulseAnalyzer  # this process only
    sinks = {"log": {"enabled": False}}
    if mqtt_port:
        sinks["mqtt"] = {"enabled": True, "port": mqtt_port, "queue_dir": os.path.join(tmp, "q")}
    overrides = {"sources": [{"name": "cam", "uri": clip, "options": {"loop": True, "realtime": True}}],
                 "model": {"threads": 1}, "http": http, "sinks": sinks,
                 "logging": {"format": "plain", "level": "warning"}}
    svc = Service(None, overrides, install_signals=False)
    th = threading.Thread(target=svc.run, daemon=True)
    th.start()
    deadline = time.monotonic() + 120
    while not (svc.ready and svc.http is not None) and time.monotonic() < deadline:
        time.sleep(0.1)
    if not svc.ready:
        raise SystemExit("the daemon did not become ready in 120 s")
    return svc, th


def stop_service(svc, th):
    svc.request_stop()
    th.join(30)


def healthz(host, port, timeout=5.0):
    import urllib.request

    t0 = time.monotonic()
    try:
        with urllib.request.urlopen("http://%s:%d/healthz" % (host, port), timeout=timeout) as r:
            return r.status, time.monotonic() - t0
    except Exception as e:
        code = getattr(e, "code", None)
        return code or type(e).__name__, time.monotonic() - t0


HOLDER = r"""
import resource, socket, sys, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
host, port, n, hold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
socks, failed = [], 0
for i in range(n):
    try:
        socks.append(socket.create_connection((host, port), timeout=3))
    except OSError:
        failed += 1
print("opened %d, failed %d" % (len(socks), failed), flush=True)
time.sleep(hold)
"""


def phase_idle(args, tmp):
    limit = int(unit_value("LimitNOFILE") or 1024)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(limit, hard), hard))
    broker = Broker(tmp)
    sub = Subscriber(broker.port)
    svc, th = start_service(tmp, make_clip(tmp), {"host": "127.0.0.1", "port": 0}, broker.port, pulse=True)
    host, port = svc.http.address
    try:
        time.sleep(2)
        f0, fd0 = svc.runners["cam"].frames, fds()
        holder = subprocess.Popen([sys.executable, "-c", HOLDER, host, str(port), str(args.connections),
                                   str(args.hold)], stdout=subprocess.PIPE, text=True)
        opened = holder.stdout.readline().strip()
        t_hold = time.monotonic()
        checks, max_fds = [], fds()
        while holder.poll() is None and time.monotonic() - t_hold < args.hold + 30:
            checks.append(healthz(host, port))
            max_fds = max(max_fds, fds())
            time.sleep(1.0)
        holder.wait(30)
        frames = svc.runners["cam"].frames - f0
        http = svc.http.stats()
    finally:
        stop_service(svc, th)
    emitted = svc.runners["cam"].events.get(("bad_posture", "new"), 0)
    deadline = time.monotonic() + 20
    while len(set(k for k, _ in sub.keys())) < emitted and time.monotonic() < deadline:
        time.sleep(0.2)
    got = sub.keys()
    sub.close()
    broker.close()
    ok = sum(1 for c, _ in checks if c == 200)
    print("idle: RLIMIT_NOFILE %d (the unit's LimitNOFILE); holder: %s for %.0f s" % (limit, opened, args.hold))
    print("idle: frames during the hold %d; /healthz %d/%d answered 200, slowest %.2f s" % (
        frames, ok, len(checks), max((t for _, t in checks), default=0.0)))
    print("idle: fds before %d, max during %d; http %s" % (fd0, max_fds, http))
    print("idle: alerts emitted %d, received %d unique, %d raw: lost %d, duplicates %d" % (
        emitted, len(set(got)), len(got), emitted - len(set(got)), len(got) - len(set(got))))


def phase_burst(args, tmp):
    import helpers
    from edgepose.replay import replay
    from edgepose.sinks.config import SinksConfig

    rec = os.path.join(tmp, "poses.jsonl")
    scenes = {}
    for i in range(args.sources):  # each source: several falls one after the other
        frames, t0 = [], 0.0
        for k in range(args.falls):
            scene = helpers.make_scene(("fall_sideways", "fall_forward", "fall_recover")[k % 3], i * 100 + k)[0]
            frames += [(t0 + t, people) for t, people in scene]
            t0 = frames[-1][0] + 1.0
        scenes["room%03d" % i] = frames
    lines = helpers.write_recording(rec, scenes)
    broker = Broker(tmp)
    sub = Subscriber(broker.port)
    events = os.path.join(tmp, "events.jsonl")
    cfg = SinksConfig(log={"enabled": False}, mqtt={"enabled": True, "port": broker.port,
                                                    "queue_dir": os.path.join(tmp, "bq")})
    t0 = time.monotonic()
    st = replay(rec, sinks_config=cfg, events_path=events)
    took = time.monotonic() - t0
    with open(events) as f:
        want = [(c["after"]["id"], c["type"]) for c in map(json.loads, f)]
    deadline = time.monotonic() + 60
    while len(sub.keys()) < len(want) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    got = sub.keys()
    sub.close()
    broker.close()
    print("burst: %d sources, %d frames, %d changes replayed in %.1f s (sinks closed included)" % (
        len(st.sources), lines, st.changes, took))
    lost = sum((collections.Counter(want) - collections.Counter(got)).values())  # updates repeat (id, type)
    extra = sum((collections.Counter(got) - collections.Counter(want)).values())
    print("burst: received %d of %d: lost %d, duplicates %d, same order %s" % (len(got), len(want), lost, extra,
                                                                              got == want))


def rss(pid="self"):
    with open("/proc/%s/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) * 1024


def phase_memory(args, tmp):
    svc, th = start_service(tmp, make_clip(tmp), {"host": "127.0.0.1", "port": 0})
    host, port = svc.http.address
    try:
        time.sleep(3)
        before = rss()
        bomb = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(
            b"X-Pad-%d: %s\r\n" % (i, b"a" * 64000) for i in range(100)) + b"\r\n"
        codes = []
        for _ in range(20):
            s = socket.create_connection((host, port), timeout=5)
            try:
                s.sendall(bomb)
            except OSError:
                pass
            try:
                codes.append(s.recv(12)[9:12].decode() or "closed")
            except OSError:
                codes.append("reset")
            s.close()
        after_bombs = rss()
        streams, answers = [], []
        for _ in range(50):
            s = socket.create_connection((host, port), timeout=5)
            s.sendall(b"GET /stream.mjpg?source=cam&fps=10 HTTP/1.1\r\nHost: x\r\n\r\n")
            streams.append(s)
        time.sleep(5)
        peak = rss()
        for s in streams:
            try:
                s.settimeout(0.5)
                answers.append(s.recv(12)[9:12].decode())
            except OSError:
                answers.append("none")
            s.close()
        time.sleep(3)
        after = rss()
    finally:
        stop_service(svc, th)
    print("memory: MALLOC_ARENA_MAX=%s; RSS before %.0f MB, after 20 header bombs %.0f MB (answers %s)" % (
        os.environ.get("MALLOC_ARENA_MAX", "unset"), before / 1e6, after_bombs / 1e6, sorted(set(codes))))
    print("memory: 50 MJPEG clients: %d streamed, %d refused 503; RSS peak %.0f MB, after %.0f MB: %+.0f MB" % (
        answers.count("200"), answers.count("503"), peak / 1e6, after / 1e6, (after - before) / 1e6))


def phase_security(args, tmp):
    tool = shutil.which("systemd-analyze")
    if tool is None:
        print("security: systemd-analyze not installed")
        return
    r = subprocess.run([tool, "security", "--offline=true", UNIT], capture_output=True, text=True, timeout=60)
    line = [x for x in (r.stdout + r.stderr).splitlines() if "Overall exposure" in x]
    print("security: %s" % (line[0].strip() if line else (r.stdout + r.stderr).strip()[:200]))


PHASES = {"idle": phase_idle, "burst": phase_burst, "memory": phase_memory, "security": phase_security}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--phase", default="all", choices=["all"] + sorted(PHASES))
    p.add_argument("--connections", type=int, default=2000)
    p.add_argument("--hold", type=float, default=30.0, help="seconds the idle connections are held")
    p.add_argument("--sources", type=int, default=100)
    p.add_argument("--falls", type=int, default=6, help="falls per source in the burst")
    args = p.parse_args()
    if args.phase in ("all", "memory") and os.environ.get("MALLOC_ARENA_MAX") is None:
        env = dict(os.environ, MALLOC_ARENA_MAX="2")
        os.execve(sys.executable, [sys.executable] + sys.argv, env)  # glibc reads it at start: as the unit
    # idle last: the RLIMIT_NOFILE it sets stays with the process
    for name in (["security", "burst", "memory", "idle"] if args.phase == "all" else [args.phase]):
        tmp = tempfile.mkdtemp(prefix="edgepose-soak-")
        try:
            PHASES[name](args, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
