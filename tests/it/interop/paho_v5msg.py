#!/usr/bin/env python3
"""MQTT 5 messages and subscriptions with Eclipse Paho's Python client.

    python3 tests/it/interop/paho_v5msg.py --port PORT

Runs each scenario against the broker on 127.0.0.1:PORT, prints one line
per scenario and "N passed, N failed"; exits 0 only if all passed. Run by
tests/it/broker_v5_messages.rs against ours and Debian's mosquitto.
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
from paho.mqtt.subscribeoptions import SubscribeOptions

HOST = "127.0.0.1"
TIMEOUT = 10.0
# Set by --reference: the broker is Debian's mosquitto 2.0.11, which sends
# retained messages on a shared subscribe (the spec says not to; we don't).
REFERENCE = False


def uid(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class V5:
    """A connected MQTT 5 client that records what it receives."""

    def __init__(self, port, client_id=None, v3=False):
        proto = mqtt.MQTTv311 if v3 else mqtt.MQTTv5
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or uid("c"), protocol=proto
        )
        self.v3 = v3
        self.connected = threading.Event()
        self.acked = threading.Event()
        self.codes = None
        self.messages = []
        self.cond = threading.Condition()
        self.client.on_connect = lambda c, u, f, rc, p: self.connected.set()
        self.client.on_subscribe = self._on_ack
        self.client.on_unsubscribe = self._on_ack
        self.client.on_message = self._on_message
        self.client.connect(HOST, port, keepalive=60)
        self.client.loop_start()
        if not self.connected.wait(TIMEOUT):
            raise AssertionError("no CONNACK")

    def _on_ack(self, client, userdata, mid, reason_codes, properties):
        self.codes = [rc.value for rc in reason_codes]
        self.acked.set()

    def _on_message(self, client, userdata, msg):
        with self.cond:
            self.messages.append(msg)
            self.cond.notify_all()

    def subscribe(self, topic, qos=1, sub_id=None, **opts):
        self.acked.clear()
        if self.v3:
            self.client.subscribe(topic, qos)
        else:
            props = None
            if sub_id is not None:
                props = Properties(PacketTypes.SUBSCRIBE)
                props.SubscriptionIdentifier = sub_id
            self.client.subscribe(topic, options=SubscribeOptions(qos=qos, **opts), properties=props)
        if not self.acked.wait(TIMEOUT):
            raise AssertionError(f"no SUBACK for {topic}")
        return self.codes

    def unsubscribe(self, topic):
        self.acked.clear()
        self.client.unsubscribe(topic)
        if not self.acked.wait(TIMEOUT):
            raise AssertionError(f"no UNSUBACK for {topic}")
        return self.codes

    def wait(self, n):
        deadline = time.monotonic() + TIMEOUT
        with self.cond:
            while len(self.messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"got {len(self.messages)} messages, wanted {n}")
                self.cond.wait(left)
            return list(self.messages)

    def take(self, n):
        got = self.wait(n)
        with self.cond:
            self.messages = self.messages[n:]
        return got[:n]

    def quiet(self):
        """Nothing more arrives (a short, bounded "nothing" check)."""
        time.sleep(0.3)
        with self.cond:
            assert self.messages == [], [(m.topic, m.payload) for m in self.messages]

    def publish(self, topic, payload, qos=1, retain=False, props=None):
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=props)
        info.wait_for_publish(TIMEOUT)
        assert info.is_published(), f"publish to {topic} not acknowledged"

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def pub_props(**kw):
    p = Properties(PacketTypes.PUBLISH)
    for k, v in kw.items():
        setattr(p, k, v)
    return p


def scenario_properties_pass_through(port):
    t = uid("v5/props")
    sub = V5(port)
    sub.subscribe(t, 1)
    v3 = V5(port, v3=True)
    v3.subscribe(t, 1)
    pub = V5(port)
    props = pub_props(
        PayloadFormatIndicator=1,
        ContentType="text/plain",
        ResponseTopic="reply/to",
        CorrelationData=b"\x00corr",
        UserProperty=[("a", "1"), ("b", "2"), ("a", "3")],
    )
    pub.publish(t, b"payload", 1, props=props)
    m = sub.take(1)[0]
    p = m.properties
    assert p.PayloadFormatIndicator == 1
    assert p.ContentType == "text/plain"
    assert p.ResponseTopic == "reply/to"
    assert p.CorrelationData == b"\x00corr"
    assert p.UserProperty == [("a", "1"), ("b", "2"), ("a", "3")], p.UserProperty
    assert m.payload == b"payload" and m.qos == 1
    # The 3.1.1 subscriber gets the message, properties left out.
    m3 = v3.take(1)[0]
    assert m3.payload == b"payload" and m3.qos == 1
    for c in (sub, v3, pub):
        c.close()


def scenario_v3_v5_mixing_keeps_qos_retain_order(port):
    t = uid("v5/mix")
    v3pub = V5(port, v3=True)
    v5pub = V5(port)
    for i in range(5):
        v3pub.publish(f"{t}/3", f"{i}".encode(), qos=2, retain=(i == 4))
        v5pub.publish(f"{t}/5", f"{i}".encode(), qos=1, retain=(i == 4))
    v5sub = V5(port)
    v5sub.subscribe(f"{t}/3", 2)
    v3sub = V5(port, v3=True)
    v3sub.subscribe(f"{t}/5", 2)
    r5 = v5sub.take(1)[0]
    r3 = v3sub.take(1)[0]
    assert (r5.payload, r5.retain, r5.qos) == (b"4", True, 2), r5
    assert (r3.payload, r3.retain, r3.qos) == (b"4", True, 1), r3
    for i in range(10):
        v3pub.publish(f"{t}/3", f"n{i}".encode(), qos=1)
        v5pub.publish(f"{t}/5", f"n{i}".encode(), qos=2)
    got5 = [(m.payload, m.qos, m.retain) for m in v5sub.take(10)]
    got3 = [(m.payload, m.qos, m.retain) for m in v3sub.take(10)]
    assert got5 == [(f"n{i}".encode(), 1, False) for i in range(10)], got5
    assert got3 == [(f"n{i}".encode(), 2, False) for i in range(10)], got3
    for c in (v3pub, v5pub, v5sub, v3sub):
        c.close()


def scenario_subscription_options(port):
    t = uid("v5/opts")
    me = V5(port)
    me.subscribe(f"{t}/nl", 1, noLocal=True)
    me.subscribe(f"{t}/rap", 1, retainAsPublished=True)
    me.subscribe(f"{t}/plain", 1)
    me.publish(f"{t}/nl", b"mine", 1)
    other = V5(port)
    other.publish(f"{t}/nl", b"theirs", 1)
    other.publish(f"{t}/rap", b"r1", 1, retain=True)
    other.publish(f"{t}/plain", b"r2", 1, retain=True)
    got = [(m.topic, m.payload, m.retain) for m in me.take(3)]
    assert got == [
        (f"{t}/nl", b"theirs", False),
        (f"{t}/rap", b"r1", True),
        (f"{t}/plain", b"r2", False),
    ], got
    # Retain handling: 2 never, 1 only for a new subscription, 0 always.
    rh = V5(port)
    rh.subscribe(f"{t}/rap", 1, retainHandling=2)
    rh.quiet()
    rh.subscribe(f"{t}/rap", 1, retainHandling=1)
    rh.quiet()
    rh.subscribe(f"{t}/plain", 1, retainHandling=1)
    assert rh.take(1)[0].payload == b"r2"
    rh.subscribe(f"{t}/plain", 1, retainHandling=0)
    assert rh.take(1)[0].payload == b"r2"
    assert rh.unsubscribe(f"{t}/plain") == [0]
    assert rh.unsubscribe(f"{t}/plain") == [17]
    for c in (me, other, rh):
        c.close()


def scenario_subscription_identifiers(port):
    t = uid("v5/ids")
    sub = V5(port)
    sub.subscribe(f"{t}/a/#", 1, sub_id=7)
    sub.subscribe(f"{t}/b", 1, sub_id=268435455)
    sub.subscribe(f"{t}/c", 1)
    pub = V5(port)
    pub.publish(f"{t}/a/x", b"1", 1, retain=True)
    pub.publish(f"{t}/b", b"2", 1)
    pub.publish(f"{t}/c", b"3", 1)
    got = sub.take(3)
    ids = [getattr(m.properties, "SubscriptionIdentifier", None) for m in got]
    assert ids == [[7], [268435455], None], ids
    # Retained messages sent on subscribe carry the identifier too.
    late = V5(port)
    late.subscribe(f"{t}/a/#", 1, sub_id=99)
    m = late.take(1)[0]
    assert m.properties.SubscriptionIdentifier == [99], m.properties
    for c in (sub, pub, late):
        c.close()


def scenario_shared_subscription_over_three(port):
    t = uid("v5/share")
    pub = V5(port)
    pub.publish(f"{t}/r", b"retained", 1, retain=True)
    members = [V5(port) for _ in range(3)]
    for m in members:
        m.subscribe(f"$share/grp/{t}/#", 1)
    plain = V5(port)
    plain.subscribe(f"{t}/#", 1)
    plain.take(1)  # the retained one: shared members get none
    for i in range(30):
        pub.publish(f"{t}/x", f"{i}".encode(), 1)
    everything = plain.take(30)
    assert len(everything) == 30
    want = 30 + (3 if REFERENCE else 0)
    deadline = time.monotonic() + TIMEOUT
    while sum(len(m.messages) for m in members) < want and time.monotonic() < deadline:
        time.sleep(0.05)  # polls the members' threads, bounded
    counts = []
    seen = []
    for m in members:
        with m.cond:
            got = list(m.messages)
        if REFERENCE:
            assert (got[0].payload, got[0].retain) == (b"retained", True), got[0]
            got = got[1:]
        counts.append(len(got))
        seen += [x.payload for x in got]
        assert all(not x.retain for x in got), [(x.payload, x.retain) for x in got]
    assert sorted(seen) == sorted(f"{i}".encode() for i in range(30)), (counts, seen)
    # Strict turns: 10 each.
    assert counts == [10, 10, 10], counts
    for c in members + [pub, plain]:
        c.close()


def scenario_message_expiry(port):
    t = uid("v5/expiry")
    pub = V5(port)
    pub.publish(t, b"short", 1, retain=True, props=pub_props(MessageExpiryInterval=3))
    first = V5(port)
    first.subscribe(t, 1)
    e1 = first.take(1)[0].properties.MessageExpiryInterval
    assert e1 in (2, 3), e1
    time.sleep(1.5)  # lets time pass: the interval counts down
    second = V5(port)
    second.subscribe(t, 1)
    e2 = second.take(1)[0].properties.MessageExpiryInterval
    assert e2 < e1 and e2 >= 1, (e1, e2)
    time.sleep(2.0)
    third = V5(port)
    third.subscribe(t, 1)
    third.quiet()
    for c in (pub, first, second, third):
        c.close()


def scenario_client_topic_aliases(port):
    t = uid("v5/alias")
    sub = V5(port)
    sub.subscribe(f"{t}/#", 1)
    pub = V5(port)
    pub.publish(f"{t}/long/topic", b"1", 1, props=pub_props(TopicAlias=1))
    pub.publish("", b"2", 1, props=pub_props(TopicAlias=1))
    pub.publish(f"{t}/other", b"3", 1, props=pub_props(TopicAlias=1))
    pub.publish("", b"4", 1, props=pub_props(TopicAlias=1))
    got = [(m.topic, m.payload) for m in sub.take(4)]
    assert got == [
        (f"{t}/long/topic", b"1"),
        (f"{t}/long/topic", b"2"),
        (f"{t}/other", b"3"),
        (f"{t}/other", b"4"),
    ], got
    assert all(getattr(m.properties, "TopicAlias", None) is None for m in sub.messages)
    for c in (sub, pub):
        c.close()


def scenario_request_response(port):
    t = uid("v5/rr")
    server = V5(port)
    server.subscribe(f"{t}/req", 1)
    client = V5(port)
    client.subscribe(f"{t}/resp", 1)
    client.publish(f"{t}/req", b"ping", 1, props=pub_props(ResponseTopic=f"{t}/resp", CorrelationData=b"42"))
    req = server.take(1)[0]
    server.publish(
        req.properties.ResponseTopic, b"pong", 1, props=pub_props(CorrelationData=req.properties.CorrelationData)
    )
    resp = client.take(1)[0]
    assert resp.payload == b"pong" and resp.properties.CorrelationData == b"42"
    for c in (server, client):
        c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--only")
    ap.add_argument("--reference", action="store_true")
    args = ap.parse_args()
    global REFERENCE
    REFERENCE = args.reference
    scenarios = [(n, f) for n, f in sorted(globals().items()) if n.startswith("scenario_")]
    passed = failed = 0
    for name, f in scenarios:
        if args.only and args.only not in name:
            continue
        try:
            f(args.port)
            print(f"ok   {name}")
            passed += 1
        except Exception:
            print(f"FAIL {name}")
            traceback.print_exc()
            failed += 1
    print(f"{passed} passed, {failed} failed")
    sys.exit(0 if failed == 0 else 1)


if __name__ == "__main__":
    main()
