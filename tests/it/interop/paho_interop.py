#!/usr/bin/env python3
"""Interoperability checks with Eclipse Paho's Python client (paho-mqtt 2.x).

Run against a broker on 127.0.0.1:PORT:

    python3 tests/it/interop/paho_interop.py --port PORT

With `--transport websockets` every client speaks MQTT over websockets
(path /mqtt, subprotocol "mqtt") to a `protocol websockets` listener, and
with `--cafile CA` over TLS too, checking the server certificate against CA.

Runs each scenario, prints one line per scenario and a closing
"N passed, N failed" line; exits 0 only if every scenario passed.
Invoked by tests/broker_interop.rs against the broker under test.
"""

import argparse
import sys
import threading
import time
import traceback
import uuid

import paho.mqtt.client as mqtt

HOST = "127.0.0.1"
TIMEOUT = 10.0
# Set from the command line: "tcp" or "websockets", and a CA file for TLS.
TRANSPORT = "tcp"
CAFILE = None


def new_client(client_id, clean_session=True):
    """A paho client with the transport (and TLS) the run asks for."""
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean_session,
        protocol=mqtt.MQTTv311,
        transport=TRANSPORT,
    )
    if CAFILE is not None:
        client.tls_set(ca_certs=CAFILE)
    return client


class Collector:
    """A connected client that records what it receives."""

    def __init__(self, port, client_id, clean_session=True, will=None):
        self.client = new_client(client_id, clean_session)
        if will is not None:
            self.client.will_set(*will)
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.session_present = None
        self.granted = None
        self.messages = []
        self.cond = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect(HOST, port, keepalive=60)
        self.client.loop_start()
        if not self.connected.wait(TIMEOUT):
            raise AssertionError(f"{client_id}: no CONNACK")

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            raise AssertionError(f"connect refused: {reason_code}")
        self.session_present = flags.session_present
        self.connected.set()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        self.granted = [rc.value for rc in reason_codes]
        self.subscribed.set()

    def _on_message(self, client, userdata, msg):
        with self.cond:
            self.messages.append(msg)
            self.cond.notify_all()

    def subscribe(self, topic, qos):
        self.subscribed.clear()
        self.client.subscribe(topic, qos)
        if not self.subscribed.wait(TIMEOUT):
            raise AssertionError(f"no SUBACK for {topic}")
        assert self.granted == [qos], f"granted {self.granted}, asked {qos}"

    def wait_messages(self, n):
        deadline = time.monotonic() + TIMEOUT
        with self.cond:
            while len(self.messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"got {len(self.messages)} messages, wanted {n}: "
                        f"{[(m.topic, m.payload) for m in self.messages]}"
                    )
                self.cond.wait(left)
            return list(self.messages)

    def publish(self, topic, payload, qos, retain=False):
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(TIMEOUT)
        assert info.is_published(), f"publish to {topic} not acknowledged"

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def uid(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def scenario_pubsub_each_qos(port):
    for qos in (0, 1, 2):
        topic = uid("paho/qos")
        sub = Collector(port, uid("sub"))
        sub.subscribe(topic, qos)
        pub = Collector(port, uid("pub"))
        payload = f"hello at qos {qos}".encode()
        pub.publish(topic, payload, qos)
        msgs = sub.wait_messages(1)
        assert msgs[0].payload == payload, msgs[0].payload
        assert msgs[0].qos == qos, (msgs[0].qos, qos)
        assert not msgs[0].retain
        pub.close()
        sub.close()


def scenario_downgrade(port):
    topic = uid("paho/down")
    sub = Collector(port, uid("sub"))
    sub.subscribe(topic, 1)
    pub = Collector(port, uid("pub"))
    pub.publish(topic, b"two", 2)
    msgs = sub.wait_messages(1)
    assert msgs[0].qos == 1, msgs[0].qos
    pub.close()
    sub.close()


def scenario_retained(port):
    topic = uid("paho/retained")
    pub = Collector(port, uid("pub"))
    pub.publish(topic, b"kept", 1, retain=True)
    sub = Collector(port, uid("sub"))
    sub.subscribe(topic, 1)
    msgs = sub.wait_messages(1)
    assert msgs[0].payload == b"kept" and msgs[0].retain, msgs[0]
    # Clear it: a new subscriber gets nothing.
    pub.publish(topic, b"", 1, retain=True)
    sub2 = Collector(port, uid("sub2"))
    sub2.subscribe(topic, 1)
    time.sleep(0.3)  # a "nothing arrives" check: short, bounded
    assert sub2.messages == [], [(m.topic, m.payload) for m in sub2.messages]
    for c in (pub, sub, sub2):
        c.close()


def scenario_will(port):
    topic = uid("paho/will")
    watcher = Collector(port, uid("watch"))
    watcher.subscribe(topic, 1)
    doomed = new_client(uid("doomed"))
    doomed.will_set(topic, b"gone", qos=1, retain=False)
    connected = threading.Event()
    doomed.on_connect = lambda *a: connected.set()
    doomed.connect(HOST, port, keepalive=60)
    deadline = time.monotonic() + TIMEOUT
    while not connected.is_set() and time.monotonic() < deadline:
        doomed.loop(timeout=0.1)
    assert connected.is_set(), "doomed client did not connect"
    # Vanish without DISCONNECT.
    doomed.socket().close()
    msgs = watcher.wait_messages(1)
    assert msgs[0].payload == b"gone", msgs[0].payload
    watcher.close()


def scenario_no_will_on_disconnect(port):
    topic = uid("paho/nowill")
    watcher = Collector(port, uid("watch"))
    watcher.subscribe(topic + "/#", 1)
    polite = Collector(port, uid("polite"), will=(topic + "/will", b"should not", 1, False))
    polite.close()
    marker = Collector(port, uid("marker"))
    marker.publish(topic + "/marker", b"marker", 1)
    msgs = watcher.wait_messages(1)
    assert msgs[0].payload == b"marker", msgs[0].payload
    marker.close()
    watcher.close()


def scenario_persistent_session(port):
    topic = uid("paho/persist")
    cid = uid("persist")
    c = Collector(port, cid, clean_session=False)
    assert c.session_present is False, c.session_present
    c.subscribe(topic, 2)
    c.close()
    pub = Collector(port, uid("pub"))
    pub.publish(topic, b"q1 while away", 1)
    pub.publish(topic, b"q2 while away", 2)
    pub.publish(topic, b"q0 while away", 0)
    pub.close()
    c = Collector(port, cid, clean_session=False)
    assert c.session_present is True, c.session_present
    msgs = c.wait_messages(2)
    got = sorted(m.payload for m in msgs)
    assert got == [b"q1 while away", b"q2 while away"], got
    c.close()
    # A clean session discards it.
    c = Collector(port, cid, clean_session=True)
    assert c.session_present is False, c.session_present
    c.close()


SCENARIOS = [
    scenario_pubsub_each_qos,
    scenario_downgrade,
    scenario_retained,
    scenario_will,
    scenario_no_will_on_disconnect,
    scenario_persistent_session,
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--transport", choices=["tcp", "websockets"], default="tcp")
    ap.add_argument("--cafile")
    args = ap.parse_args()
    global TRANSPORT, CAFILE
    TRANSPORT = args.transport
    CAFILE = args.cafile
    passed = failed = 0
    for s in SCENARIOS:
        try:
            s(args.port)
            print(f"ok   {s.__name__}")
            passed += 1
        except Exception:
            print(f"FAIL {s.__name__}")
            traceback.print_exc(file=sys.stdout)
            failed += 1
    print(f"paho: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
