// MQTT.js (npm `mqtt`, 5.x) with protocolVersion 5 through a broker on
// 127.0.0.1:PORT: `node mqttjs_v5.js PORT`. Driven by tests/it/interop_mqttjs.rs,
// which runs it against ours and Debian's mosquitto and compares the outputs.
//
// Prints one JSON line: what the clients saw, with the figures that change
// from run to run (assigned client ids, expiry counted down by a second)
// replaced by stable words, then "mqttjs: N checks, M failed" and each
// failure. Exits 1 on a failure or after 30 s; every wait is bounded.
'use strict';

const mqtt = require('mqtt');

const port = Number(process.argv[2]);
const url = `mqtt://127.0.0.1:${port}`;
const WAIT_MS = 8000;
const tag = `js${process.pid}`;
const failures = [];
let checks = 0;

function check(ok, what) {
  checks += 1;
  if (!ok) failures.push(what);
}

setTimeout(() => {
  console.log('mqttjs: gave up after 30 s');
  for (const f of failures) console.log(`FAIL ${f}`);
  process.exit(1);
}, 30000).unref();

function withTimeout(promise, what) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), WAIT_MS);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

// Connects and resolves with [client, CONNACK packet, inbox]: the inbox
// listens from the start, as a resumed session's messages may come with
// the CONNACK.
function connect(opts) {
  const client = mqtt.connect(url, {
    protocolVersion: 5,
    reconnectPeriod: 0,
    connectTimeout: WAIT_MS,
    ...opts,
  });
  const box = inbox(client);
  return withTimeout(
    new Promise((resolve, reject) => {
      client.once('connect', (connack) => resolve([client, connack, box]));
      client.once('error', reject);
    }),
    `connect ${opts.clientId}`,
  );
}

// Collects messages; `take(n)` resolves once n have arrived since the last take.
function inbox(client) {
  const got = [];
  let waiter = null;
  client.on('message', (topic, payload, packet) => {
    got.push({ topic, payload: payload.toString(), packet });
    if (waiter && got.length >= waiter.n) {
      const w = waiter;
      waiter = null;
      w.resolve(got.splice(0, w.n));
    }
  });
  return {
    take(n, what) {
      if (got.length >= n) return Promise.resolve(got.splice(0, n));
      return withTimeout(new Promise((resolve) => { waiter = { n, resolve }; }), what);
    },
    pending: () => got.length,
  };
}

// The properties of a received PUBLISH with stable values: message expiry
// may lose a second in the broker; Buffers become strings.
function props(p) {
  const out = {};
  for (const [k, v] of Object.entries(p || {}).sort((x, y) => x[0].localeCompare(y[0]))) {
    if (k === 'messageExpiryInterval') {
      out[k] = v >= 58 && v <= 60 ? '58..60' : v;
    } else if (Buffer.isBuffer(v)) {
      out[k] = `buffer:${v.toString()}`;
    } else {
      out[k] = v;
    }
  }
  return out;
}

function untag(s) {
  return s.split(tag).join('TAG');
}

function seen(m) {
  return {
    topic: untag(m.topic),
    payload: m.payload,
    qos: m.packet.qos,
    retain: m.packet.retain,
    properties: props(m.packet.properties),
  };
}

function connackView(c) {
  const p = { ...(c.properties || {}) };
  if (p.assignedClientIdentifier !== undefined) p.assignedClientIdentifier = 'ASSIGNED';
  return { sessionPresent: c.sessionPresent, reasonCode: c.reasonCode, properties: props(p) };
}

const RICH = {
  userProperties: { a: '1', b: ['x', 'y'] },
  contentType: 'text/plain',
  responseTopic: 'reply/here',
  correlationData: Buffer.from('corr-1'),
  messageExpiryInterval: 60,
  payloadFormatIndicator: true,
};

async function messages(out) {
  const t = `${tag}/m`;
  const [sub, subAck, box] = await connect({
    clientId: `${tag}-sub`,
    clean: false,
    properties: { sessionExpiryInterval: 60 },
  });
  out.connack_session = connackView(subAck);
  // Subscription identifier 7 on one filter, no-local on the other: this
  // client's own messages to `…/own` must not come back.
  const granted = (g) => g.map((x) => ({ ...x, topic: untag(x.topic) }));
  out.suback = granted(await withTimeout(
    sub.subscribeAsync(`${t}/#`, { qos: 2, properties: { subscriptionIdentifier: 7 } }),
    'subscribe',
  ));
  out.suback_nl = granted(await withTimeout(sub.subscribeAsync(`${t}-own`, { qos: 1, nl: true }), 'sub nl'));
  const [pub, pubAck] = await connect({ clientId: `${tag}-pub`, properties: { sessionExpiryInterval: 0 } });
  out.connack_plain = connackView(pubAck);
  for (const qos of [0, 1, 2]) {
    await withTimeout(pub.publishAsync(`${t}/q${qos}`, `hello ${qos}`, { qos, properties: RICH }), `pub ${qos}`);
  }
  const got = await box.take(3, 'three messages');
  out.received = got.map(seen).sort((a, b) => a.topic.localeCompare(b.topic));
  for (const m of out.received) {
    check(m.properties.subscriptionIdentifier === 7, `sub id on ${m.topic}`);
    check(m.properties.contentType === 'text/plain', `content type on ${m.topic}`);
    check(JSON.stringify(m.properties.userProperties) === JSON.stringify(RICH.userProperties), `user props on ${m.topic}`);
    check(m.properties.correlationData === 'buffer:corr-1', `correlation data on ${m.topic}`);
    check(m.properties.messageExpiryInterval === '58..60', `expiry on ${m.topic}`);
  }
  // No-local: own message not delivered; the other client's is.
  await withTimeout(sub.publishAsync(`${t}-own`, 'mine', { qos: 1 }), 'pub own');
  await withTimeout(pub.publishAsync(`${t}-own`, 'theirs', { qos: 1 }), 'pub theirs');
  const nl = await box.take(1, 'no-local message');
  out.no_local = nl.map(seen);
  check(nl[0].payload === 'theirs', 'no-local delivered own message');

  // Topic alias from the client: set alias 1, then publish by alias only.
  await withTimeout(pub.publishAsync(`${t}/alias`, 'set', { qos: 1, properties: { topicAlias: 1 } }), 'alias set');
  await withTimeout(pub.publishAsync('', 'by alias', { qos: 1, properties: { topicAlias: 1 } }), 'alias use');
  out.alias = (await box.take(2, 'aliased messages')).map(seen);
  check(out.alias.every((m) => m.topic === 'TAG/m/alias'), 'alias resolved to the topic');

  // Session expiry: offline, a QoS 1 message is queued; back with clean
  // false, the session is present and the message arrives.
  await withTimeout(sub.endAsync(), 'sub end');
  await withTimeout(pub.publishAsync(`${t}/offline`, 'queued', { qos: 1, properties: RICH }), 'pub offline');
  const [again, againAck, box2] = await connect({ clientId: `${tag}-sub`, clean: false, properties: { sessionExpiryInterval: 0 } });
  out.connack_resumed = connackView(againAck);
  check(againAck.sessionPresent === true, 'session present on resume');
  out.queued = (await box2.take(1, 'queued message')).map(seen);
  check(out.queued[0].payload === 'queued', 'queued message delivered');
  await withTimeout(again.endAsync(), 'end');
  await withTimeout(pub.endAsync(), 'end');
}

async function requestResponse(out) {
  const [responder] = await connect({ clientId: `${tag}-resp` });
  const [requester, , box] = await connect({ clientId: `${tag}-req` });
  const reqTopic = `${tag}/req`;
  const replyTopic = `${tag}/reply`;
  responder.on('message', (topic, payload, packet) => {
    const p = packet.properties || {};
    responder.publish(p.responseTopic, `answer to ${payload}`, {
      qos: 1,
      properties: { correlationData: p.correlationData },
    });
  });
  await withTimeout(responder.subscribeAsync(reqTopic, { qos: 1 }), 'sub req');
  await withTimeout(requester.subscribeAsync(replyTopic, { qos: 1 }), 'sub reply');
  await withTimeout(
    requester.publishAsync(reqTopic, 'question', {
      qos: 1,
      properties: { responseTopic: replyTopic, correlationData: Buffer.from('id-42') },
    }),
    'pub request',
  );
  const [reply] = await box.take(1, 'reply');
  out.reply = seen(reply);
  check(reply.payload === 'answer to question', 'reply payload');
  check(out.reply.properties.correlationData === 'buffer:id-42', 'reply correlation');
  await withTimeout(responder.endAsync(), 'end');
  await withTimeout(requester.endAsync(), 'end');
}

async function assignedId(out) {
  const [c, ack] = await connect({ clientId: '', clean: true });
  out.connack_assigned = connackView(ack);
  check(typeof ack.properties?.assignedClientIdentifier === 'string', 'assigned client id');
  await withTimeout(c.endAsync(), 'end');
}

async function main() {
  const out = {};
  try {
    await messages(out);
    await requestResponse(out);
    await assignedId(out);
  } catch (e) {
    failures.push(`error: ${e.message}`);
    if (process.env.MQTTJS_DEBUG) console.error(e.stack);
  }
  console.log(JSON.stringify(out));
  console.log(`mqttjs: ${checks} checks, ${failures.length} failed`);
  for (const f of failures) console.log(`FAIL ${f}`);
  process.exit(failures.length ? 1 : 0);
}

main();
