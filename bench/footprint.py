#!/usr/bin/env python3
"""Footprint of one or more brokers (issue 17): the figures of README's
footprint table.

For every broker given as NAME=PATH (an aarch64 binary runs under qemu-user
through binfmt_misc, so its RSS is qemu's plus the guest's):

  idle      VmRSS 1 s after start, nothing connected
  conn      VmRSS growth per idle MQTT 3.1.1 connection, N connections
  queued    VmRSS growth per QoS 1 message of 100 bytes queued for an
            offline persistent client (max_queued_messages 0: no limit)
  save      VmRSS before a persistence save and the highest VmRSS sampled
            during it (bench/save_rss.py's run)

Each broker gets the same config (listener on a free 127.0.0.1 port,
allow_anonymous, log_dest none). RSS is read from /proc/PID/status, so the
figures hold on a busy machine: no timing is involved.

    bench/footprint.py [--connections 10000] [--queued 20000]
                       [--save-count 100000] [--save-size 1024]
                       ours=target/release/mosquitto mosquitto=/usr/sbin/mosquitto
"""

import argparse
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import save_rss  # noqa: E402  (the same directory)

from save_rss import free_port, mqtt_str, packet, recv_exact, status, wait_port  # noqa: E402


def connect_bytes(client_id, clean=True, keepalive=0):
    flags = 0x02 if clean else 0x00
    body = mqtt_str("MQTT") + bytes([4, flags]) + keepalive.to_bytes(2, "big")
    return packet(0x10, body + mqtt_str(client_id))


def mqtt_connect(port, client_id, clean=True):
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.sendall(connect_bytes(client_id, clean))
    ack = recv_exact(s, 4)
    if ack[0] != 0x20 or ack[3] != 0:
        raise RuntimeError(f"CONNECT refused: {ack!r}")
    return s


class Broker:
    """One broker process on a free port with a temporary config."""

    def __init__(self, path, extra=""):
        self.dir = tempfile.TemporaryDirectory(prefix="footprint-")
        self.port = free_port()
        conf = os.path.join(self.dir.name, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(f"user root\nlistener {self.port} 127.0.0.1\nallow_anonymous true\n"
                    f"log_dest none\npersistence false\n{extra}")
        self.proc = subprocess.Popen([path, "-c", conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_port(self.port, self.proc, deadline=30.0)

    def rss(self):
        return status(self.proc.pid)[0]

    def settle(self):
        """The RSS once the broker has been idle for a moment."""
        time.sleep(1.0)
        return self.rss()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.dir.cleanup()


def idle_rss(path):
    b = Broker(path)
    try:
        return b.settle()
    finally:
        b.stop()


def per_connection(path, n):
    """KiB of RSS per idle connection, over n connections (64 at a time)."""
    b = Broker(path)
    socks = []
    try:
        socks.append(mqtt_connect(b.port, "warm-up"))
        before = b.settle()
        for start in range(0, n, 64):
            batch = []
            for i in range(start, min(n, start + 64)):
                s = socket.create_connection(("127.0.0.1", b.port), timeout=60)
                s.sendall(connect_bytes(f"idle-{i}"))
                batch.append(s)
            for s in batch:
                if recv_exact(s, 4)[3] != 0:
                    raise RuntimeError("CONNECT refused")
            socks.extend(batch)
        after = b.settle()
        return (after - before) * 1024 / n
    finally:
        for s in socks:
            s.close()
        b.stop()


def per_queued(path, n, size=100):
    """Bytes of RSS per QoS 1 message queued for an offline client."""
    b = Broker(path, "max_queued_messages 0\nmax_queued_bytes 0\n")
    try:
        sub = mqtt_connect(b.port, "offline-sub", clean=False)
        sub.sendall(packet(0x82, (1).to_bytes(2, "big") + mqtt_str("queue/t") + b"\x01"))
        if recv_exact(sub, 5)[0] != 0x90:
            raise RuntimeError("no SUBACK")
        sub.sendall(b"\xe0\x00")
        sub.close()
        pub = mqtt_connect(b.port, "queue-pub")
        before = b.settle()
        payload = b"q" * size
        sent = 0
        while sent < n:
            # At most 1,000 unacknowledged at a time; ids stay below 65,536.
            batch = range(sent, min(n, sent + 1000))
            pub.sendall(b"".join(
                packet(0x32, mqtt_str("queue/t") + (1 + i % 60000).to_bytes(2, "big") + payload)
                for i in batch))
            recv_exact(pub, 4 * len(batch))
            sent += len(batch)
        after = b.settle()
        pub.close()
        return (after - before) * 1024 / n
    finally:
        b.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("brokers", nargs="+", help="NAME=PATH")
    ap.add_argument("--connections", type=int, default=10_000)
    ap.add_argument("--queued", type=int, default=20_000)
    ap.add_argument("--save-count", type=int, default=100_000)
    ap.add_argument("--save-size", type=int, default=1024)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, a.connections * 2 + 1000)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    print(f"| broker | idle RSS | RSS/idle conn ({a.connections:,}) | RSS/queued 100 B msg "
          f"({a.queued:,}) | RSS before save | peak RSS in save ({a.save_count:,} × "
          f"{a.save_size} B retained) | peak/before |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for spec in a.brokers:
        name, _, path = spec.partition("=")
        idle = idle_rss(path)
        conn = per_connection(path, a.connections)
        queued = per_queued(path, a.queued)
        save = save_rss.one_run(path, a.save_count, a.save_size)
        mib = lambda kib: f"{kib / 1024:.1f} MiB"
        print(f"| {name} | {mib(idle)} | {conn:,.0f} B | {queued:,.0f} B "
              f"| {mib(save['rss_before'])} | {mib(save['peak'])} "
              f"| {save['peak'] / max(1, save['rss_before']):.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
