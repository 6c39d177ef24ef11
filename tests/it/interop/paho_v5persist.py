#!/usr/bin/env python3
"""An MQTT 5 session across a broker restart, with paho-mqtt 2.x.

    python3 paho_v5persist.py --port PORT --phase setup|collect

`setup` makes a persistent v5 session with subscription options and
identifiers, then queues v5 messages with properties for it and leaves a
retained one; `collect` (after the broker restarted from its database)
checks that all of it came back. Run by tests/it/persist_v5.rs between
ours and Debian's mosquitto in both directions. Prints "ok" on success.
"""

import argparse
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

HOST = "127.0.0.1"
TIMEOUT = 10.0
KEEPER = "v5-keeper"


class C:
    def __init__(self, port, cid, clean=True, expiry=None):
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
        self.msgs = []
        self.cond = threading.Condition()
        self.ev = threading.Event()
        self.present = None
        self.c.on_connect = self._conn
        self.c.on_subscribe = lambda *a: self.ev.set()
        self.c.on_message = self._msg
        props = None
        if expiry is not None:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = expiry
        self.c.connect(HOST, port, keepalive=60, clean_start=clean, properties=props)
        self.c.loop_start()
        assert self.ev.wait(TIMEOUT), "no CONNACK"

    def _conn(self, c, u, flags, rc, p):
        self.present = flags.session_present
        self.ev.set()

    def _msg(self, c, u, m):
        with self.cond:
            self.msgs.append(m)
            self.cond.notify_all()

    def sub(self, topic, sub_id, **opts):
        self.ev.clear()
        props = Properties(PacketTypes.SUBSCRIBE)
        props.SubscriptionIdentifier = sub_id
        self.c.subscribe(topic, options=SubscribeOptions(qos=1, **opts), properties=props)
        assert self.ev.wait(TIMEOUT), "no SUBACK"

    def pub(self, topic, payload, retain=False, **kw):
        props = Properties(PacketTypes.PUBLISH)
        for k, v in kw.items():
            setattr(props, k, v)
        info = self.c.publish(topic, payload, qos=1, retain=retain, properties=props)
        info.wait_for_publish(TIMEOUT)

    def take(self, n):
        deadline = time.monotonic() + TIMEOUT
        with self.cond:
            while len(self.msgs) < n and time.monotonic() < deadline:
                self.cond.wait(deadline - time.monotonic())
            assert len(self.msgs) >= n, [(m.topic, m.payload) for m in self.msgs]
            got, self.msgs = self.msgs[:n], self.msgs[n:]
            return got

    def quiet(self):
        time.sleep(0.3)  # a bounded "nothing arrives" check
        with self.cond:
            assert self.msgs == [], [(m.topic, m.payload) for m in self.msgs]

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def setup(port):
    k = C(port, KEEPER, clean=False, expiry=3600)
    k.sub("p5/nl/#", 9, noLocal=True)
    k.sub("p5/rap/#", 10, retainAsPublished=True)
    k.close()
    p = C(port, "v5-pub")
    p.pub("p5/nl/a", b"queued", MessageExpiryInterval=3600, ContentType="text/plain",
          CorrelationData=b"corr", UserProperty=[("u", "1"), ("u", "2")], PayloadFormatIndicator=1)
    p.pub("p5/rap/b", b"kept", retain=True, ResponseTopic="reply/b", UserProperty=[("r", "x")])
    p.pub("p5/nl/short", b"expires", MessageExpiryInterval=1)
    p.close()
    time.sleep(1.5)  # lets the short one expire (time passing, not a wait)


def check_props(m, sub_id):
    p = m.properties
    assert p.SubscriptionIdentifier == [sub_id], p


def collect(port):
    k = C(port, KEEPER, clean=False, expiry=3600)
    assert k.present, "session not present after restart"
    got = k.take(2)
    a, b = sorted(got, key=lambda m: m.topic)
    assert (a.topic, a.payload, a.qos, a.retain) == ("p5/nl/a", b"queued", 1, False), a
    check_props(a, 9)
    assert a.properties.ContentType == "text/plain", a.properties
    assert a.properties.CorrelationData == b"corr"
    assert a.properties.UserProperty == [("u", "1"), ("u", "2")], a.properties.UserProperty
    assert a.properties.PayloadFormatIndicator == 1
    assert 3000 < a.properties.MessageExpiryInterval <= 3600, a.properties
    assert (b.topic, b.payload, b.retain) == ("p5/rap/b", b"kept", True), b
    check_props(b, 10)
    assert b.properties.ResponseTopic == "reply/b"
    assert b.properties.UserProperty == [("r", "x")]
    k.quiet()  # the expired one never comes
    # No local survived: its own message does not come back; others' do.
    k.pub("p5/nl/self", b"mine")
    k.quiet()
    o = C(port, "v5-other")
    o.pub("p5/nl/c", b"theirs")
    m = k.take(1)[0]
    assert m.payload == b"theirs"
    check_props(m, 9)
    # The retained message with its properties.
    r = C(port, "v5-late")
    r.sub("p5/rap/#", 3)
    m = r.take(1)[0]
    assert (m.payload, m.retain) == (b"kept", True)
    assert m.properties.ResponseTopic == "reply/b" and m.properties.UserProperty == [("r", "x")]
    for c in (k, o, r):
        c.close()
    # End the session so the database holds nothing more.
    end = C(port, KEEPER, clean=True, expiry=0)
    end.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--phase", choices=["setup", "collect"], required=True)
    a = ap.parse_args()
    (setup if a.phase == "setup" else collect)(a.port)
    print("ok")


if __name__ == "__main__":
    main()
