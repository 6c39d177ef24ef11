#!/usr/bin/env python3
"""Peak memory of a persistence save (issue 11).

Starts a broker with persistence on a free 127.0.0.1 port and a temporary
persistence_location (autosave only at SIGUSR1/shutdown), publishes COUNT
retained messages of SIZE bytes on distinct topics (QoS 0, then a QoS 1
sentinel whose PUBACK says the broker has processed everything before it),
then sends SIGUSR1 (a save in mosquitto-rs) and samples /proc/PID/status
every millisecond until the renamed mosquitto.db appears.

Prints, per run: VmRSS before the save, the highest VmRSS sampled during
it, VmHWM right before and right after, the save's time (signal to the
file's rename, so it includes the write and the file's fsync) and the file
size. Standard library only: the MQTT packets are written by hand.

    bench/save_rss.py [--broker target/release/mosquitto] [--count 100000]
                      [--size 1024] [--runs 3]
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status(pid):
    """VmRSS and VmHWM of `pid` in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(rest.split()[0])
    return out.get("VmRSS", 0), out.get("VmHWM", 0)


def mqtt_str(s):
    b = s.encode()
    return len(b).to_bytes(2, "big") + b


def packet(first, body):
    n, rem = len(body), b""
    while True:
        byte, n = n % 128, n // 128
        rem += bytes([byte | (0x80 if n else 0)])
        if not n:
            return bytes([first]) + rem + body


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise RuntimeError("broker closed the connection")
        buf += chunk
    return buf


def publish_all(port, count, size):
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    connect = mqtt_str("MQTT") + bytes([4, 0x02]) + (60).to_bytes(2, "big")
    sock.sendall(packet(0x10, connect + mqtt_str("save-rss-bench")))
    if recv_exact(sock, 4)[3] != 0:
        raise RuntimeError("CONNECT refused")
    payload = b"x" * size
    batch = []
    for i in range(count):
        # QoS 0, retain: 0x31.
        batch.append(packet(0x31, mqtt_str(f"bench/{i // 1000}/{i}") + payload))
        if len(batch) == 256:
            sock.sendall(b"".join(batch))
            batch = []
    # The sentinel at QoS 1 (0x33) with packet id 1: its PUBACK comes after
    # the broker has handled every message sent before it.
    batch.append(packet(0x33, mqtt_str("bench/sentinel") + (1).to_bytes(2, "big") + b"s"))
    sock.sendall(b"".join(batch))
    if recv_exact(sock, 4) != b"\x40\x02\x00\x01":
        raise RuntimeError("no PUBACK for the sentinel")
    sock.sendall(b"\xe0\x00")  # DISCONNECT
    sock.close()


def wait_port(port, proc, deadline=10.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError("broker exited at start-up")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("broker did not listen")


def one_run(broker, count, size):
    with tempfile.TemporaryDirectory(prefix="save-rss-") as d:
        port = free_port()
        conf = os.path.join(d, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(
                # `user root`: as root the broker would otherwise drop to
                # nobody, who cannot write the temporary directory.
                f"user root\nlistener {port} 127.0.0.1\nallow_anonymous true\n"
                f"persistence true\npersistence_location {d}/\n"
                "autosave_interval 86400\nlog_dest none\n"
            )
        db = os.path.join(d, "mosquitto.db")
        proc = subprocess.Popen([broker, "-c", conf], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            wait_port(port, proc)
            t = time.monotonic()
            publish_all(port, count, size)
            publish_s = time.monotonic() - t
            time.sleep(1.0)  # let the broker go idle
            rss_before, hwm_before = status(proc.pid)
            peak = rss_before
            t = time.monotonic()
            os.kill(proc.pid, signal.SIGUSR1)
            end = t + 300
            while not os.path.exists(db) and time.monotonic() < end:
                peak = max(peak, status(proc.pid)[0])
                time.sleep(0.001)
            save_s = time.monotonic() - t
            if not os.path.exists(db):
                raise RuntimeError("no save within 300 s")
            time.sleep(0.2)  # the directory fsync and the frees after the rename
            rss_after, hwm_after = status(proc.pid)
            peak = max(peak, rss_after)
            return {
                "publish_s": publish_s,
                "rss_before": rss_before,
                "peak": peak,
                "hwm_before": hwm_before,
                "hwm_after": hwm_after,
                "rss_after": rss_after,
                "save_s": save_s,
                "file": os.path.getsize(db),
            }
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--broker", default="target/release/mosquitto")
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    print(f"# {a.broker}: {a.count} retained messages of {a.size} bytes")
    print("run | RSS before save | peak RSS in save | VmHWM before | VmHWM after "
          "| save time | file")
    for i in range(1, a.runs + 1):
        r = one_run(a.broker, a.count, a.size)
        mib = lambda kib: f"{kib / 1024:.1f} MiB"
        print(f"{i} | {mib(r['rss_before'])} | {mib(r['peak'])} | {mib(r['hwm_before'])} "
              f"| {mib(r['hwm_after'])} | {r['save_s'] * 1000:.0f} ms "
              f"| {r['file'] / 1048576:.1f} MiB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
