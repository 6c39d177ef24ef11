#!/usr/bin/env python3
"""MQTT 5 sessions and wills with Eclipse Paho's Python client.

    python3 tests/it/interop/paho_v5conn.py --port PORT

Runs each scenario against the broker on 127.0.0.1:PORT, prints one line
per scenario and "N passed, N failed"; exits 0 only if all passed. Run by
tests/it/broker_v5_connect.rs against ours and Debian's mosquitto. The
waits are for timers of whole seconds (session expiry, will delay), so
each scenario takes a few seconds; every wait is bounded.
"""

import argparse
import sys
import threading
import time
import traceback
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

HOST = "127.0.0.1"
TIMEOUT = 10.0


def uid(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Client:
    """An MQTT 5 client that records its CONNACK and what it receives."""

    def __init__(self, port, client_id, clean_start=True, expiry=None, will=None):
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.session_present = None
        self.messages = []
        self.cond = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda c, u, m, r, p: self.subscribed.set()
        self.client.on_message = self._on_message
        if will is not None:
            topic, payload, delay = will
            wp = Properties(PacketTypes.WILLMESSAGE)
            wp.WillDelayInterval = delay
            self.client.will_set(topic, payload, qos=1, properties=wp)
        props = None
        if expiry is not None:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = expiry
        self.client.connect(HOST, port, keepalive=60, clean_start=clean_start, properties=props)
        self.client.loop_start()
        if not self.connected.wait(TIMEOUT):
            raise AssertionError("no CONNACK")

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.session_present = flags.session_present
        self.connected.set()

    def _on_message(self, client, userdata, msg):
        with self.cond:
            self.messages.append((msg.topic, msg.payload))
            self.cond.notify_all()

    def subscribe(self, topic):
        self.subscribed.clear()
        self.client.subscribe(topic, qos=1)
        if not self.subscribed.wait(TIMEOUT):
            raise AssertionError("no SUBACK")

    def wait_messages(self, n, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            return list(self.messages)

    def disconnect(self):
        self.client.disconnect()
        self.client.loop_stop()

    def drop(self):
        """Closes the socket without DISCONNECT (the will applies)."""
        self.client.loop_stop()
        self.client.socket().close()


def session_expiry_keeps_the_session_for_its_interval(port):
    cid = uid("exp")
    c = Client(port, cid, expiry=2)
    c.subscribe("v5conn/exp/" + cid)
    c.disconnect()
    pub = Client(port, uid("pub"))
    pub.client.publish("v5conn/exp/" + cid, b"queued", qos=1).wait_for_publish(TIMEOUT)
    pub.disconnect()
    c = Client(port, cid, clean_start=False, expiry=2)
    assert c.session_present, "session not present within the interval"
    got = c.wait_messages(1)
    assert got == [("v5conn/exp/" + cid, b"queued")], got
    c.disconnect()
    # Past the interval (mosquitto checks once a second): gone.
    time.sleep(3.5)
    c = Client(port, cid, clean_start=False, expiry=2)
    assert not c.session_present, "session present after its expiry"
    c.disconnect()


def session_expiry_zero_ends_at_disconnect(port):
    cid = uid("zero")
    c = Client(port, cid, expiry=0)
    c.disconnect()
    c = Client(port, cid, clean_start=False)
    assert not c.session_present
    c.disconnect()


def will_delay_waits_and_a_resumed_session_cancels_it(port):
    watcher = Client(port, uid("watch"))
    watcher.subscribe("v5conn/will/#")
    cid = uid("will")
    c = Client(port, cid, expiry=60, will=("v5conn/will/" + cid, b"late", 2))
    c.drop()
    time.sleep(0.5)
    assert watcher.wait_messages(1, 0.1) == [], "will sent before its delay"
    got = watcher.wait_messages(1, 5.0)
    assert got == [("v5conn/will/" + cid, b"late")], got
    # A second client whose session resumes within the delay: no will.
    cid2 = uid("back")
    c = Client(port, cid2, expiry=60, will=("v5conn/will/" + cid2, b"x", 3))
    c.drop()
    time.sleep(0.5)
    c = Client(port, cid2, clean_start=False, expiry=60)
    assert c.session_present
    time.sleep(4.0)
    got = watcher.wait_messages(2, 0.1)
    assert got == [("v5conn/will/" + cid, b"late")], got
    c.disconnect()
    watcher.disconnect()


SCENARIOS = [
    session_expiry_keeps_the_session_for_its_interval,
    session_expiry_zero_ends_at_disconnect,
    will_delay_waits_and_a_resumed_session_cancels_it,
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    passed = failed = 0
    for scenario in SCENARIOS:
        try:
            scenario(args.port)
            print(f"ok   {scenario.__name__}")
            passed += 1
        except Exception:
            print(f"FAIL {scenario.__name__}")
            traceback.print_exc()
            failed += 1
    print(f"paho v5conn: {passed} passed, {failed} failed")
    sys.exit(0 if failed == 0 else 1)


if __name__ == "__main__":
    main()
