//! `protocol websockets` listeners: MQTT over websockets (RFC 6455) with a
//! hand-written websocket client (tests/it/harness/websocket.rs `WsStream`: handshake and
//! masked frames over a `TcpStream`), plain HTTP and `http_dir`, and Eclipse
//! Paho's Python client with `transport="websockets"`.
//!
//! Every broker here also has a plain MQTT listener: Debian's mosquitto
//! 2.0.11 (libwebsockets 4) exits with "Unable to start any listening
//! sockets" when all its listeners are websockets ones, and the tests run
//! against it too (`MQTT_TEST_BROKER=/usr/sbin/mosquitto`). Where we differ
//! on purpose, `is_reference()` branches say why.

use crate::harness::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};

/// A broker with a websockets listener on its harness port (`extra` lines
/// follow `protocol websockets`, so listener options apply to it) and an
/// MQTT listener on the returned port.
fn ws_broker(extra: &str) -> (Broker, u16) {
    let tcp = free_port();
    let b = Broker::start_config(|port| {
        format!(
            "allow_anonymous true\nlistener {tcp} 127.0.0.1\n\
             listener {port} 127.0.0.1\nprotocol websockets\n{extra}\n"
        )
    });
    (b, tcp)
}

/// A raw connection to `port` with `request` sent.
fn send_request(port: u16, request: &[u8]) -> WsStream {
    let tcp = TcpStream::connect_timeout(&addr(port), TIMEOUT).expect("connect");
    tcp.set_nodelay(true).ok();
    let mut ws = WsStream::over(tcp);
    ws.tcp.write_all(request).expect("send request");
    ws
}

/// The status code of an HTTP answer head.
fn status_of(head: &str) -> u16 {
    head.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {head:?}"))
}

/// Reads a close frame from the server (ours sends one; see the callers
/// for the reference), answers it as a client should, and waits for the
/// socket to close. Returns the close code, if a close frame came.
fn expect_ws_close(ws: &mut WsStream) -> Option<u16> {
    let code = match ws.next_control(TIMEOUT) {
        Some(f) => {
            assert_eq!(f.opcode, 0x8, "expected a close frame, got {f:?}");
            let _ = ws.tcp.write_all(&ws_frame(
                true,
                0x8,
                &f.payload[..2.min(f.payload.len())],
                7,
            ));
            f.payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]))
        }
        None => None,
    };
    ws.read_to_end(TIMEOUT);
    code
}

#[test]
fn handshake_answers_the_rfc6455_sample_with_the_mqtt_subprotocol() {
    let (b, _) = ws_broker("");
    // The harness's WsStream::connect checks the sample key's accept value
    // and "Sec-WebSocket-Protocol: mqtt".
    let mut ws = WsStream::connect(b.port);
    assert!(ws.raw.is_empty(), "nothing after the 101: {:02x?}", ws.raw);
    ws.send_frame(true, 0x2, &ConnectOpts::v311("hs").bytes());
    let mut c = Client::over(ClientStream::Ws(Box::new(ws)), "hs");
    c.expect_bytes(&CONNACK_OK);

    // MQTT 3.1 clients ask for "mqttv3.1"; the first protocol of ours
    // offered is chosen.
    for (offer, chosen) in [("mqttv3.1", "mqttv3.1"), ("foo, mqtt", "mqtt")] {
        let req = ws_request("").replace("Protocol: mqtt", &format!("Protocol: {offer}"));
        let mut ws = send_request(b.port, req.as_bytes());
        let head = ws.read_http_head(TIMEOUT).expect("an answer");
        assert_eq!(status_of(&head), 101, "{head}");
        let want = format!("sec-websocket-protocol: {chosen}\r\n");
        assert!(head.to_ascii_lowercase().contains(&want), "{offer}: {head}");
    }
}

#[test]
fn mqtt_over_websocket_connect_subscribe_publish() {
    let (b, _) = ws_broker("");
    let mut c = Client::connect_ws(b.port, "ws-one");
    assert_eq!(c.subscribe_many(&[("ws/t/#", 2)]), vec![2]);
    for qos in 0..=2u8 {
        let payload = format!("over websockets at qos {qos}");
        c.publish(&format!("ws/t/{qos}"), payload.as_bytes(), qos, false);
        let p = c.receive_publish();
        assert_eq!(
            (p.topic.as_str(), p.payload.as_slice()),
            (&*format!("ws/t/{qos}"), payload.as_bytes())
        );
        assert_eq!(p.qos.as_u8(), qos);
    }
    c.assert_alive();
    c.send_raw(&DISCONNECT);
    c.expect_closed();
}

#[test]
fn packets_split_across_frames_and_several_in_one_frame() {
    let (b, _) = ws_broker("");
    let mut ws = WsStream::connect(b.port);
    // CONNECT in four frames of one message: 1 byte, 2 bytes, the rest
    // less one, the last byte; a ping in the middle of the message.
    let connect = ConnectOpts::v311("split").bytes();
    let n = connect.len();
    ws.send_frame(false, 0x2, &connect[..1]);
    ws.send_frame(false, 0x0, &connect[1..3]);
    ws.send_frame(true, 0x9, b"mid");
    ws.send_frame(false, 0x0, &connect[3..n - 1]);
    // The last frame one byte per TCP write: a header split every way.
    for byte in ws_frame(true, 0x0, &connect[n - 1..], 99) {
        ws.tcp.write_all(&[byte]).expect("write");
    }
    let pong = ws.next_control(TIMEOUT).expect("a pong");
    assert_eq!((pong.opcode, pong.payload.as_slice()), (0xA, &b"mid"[..]));
    let mut c = Client::over(ClientStream::Ws(Box::new(ws)), "split");
    c.expect_bytes(&CONNACK_OK);

    // SUBSCRIBE, PUBLISH (QoS 1, to itself) and PINGREQ in one frame.
    let mut three = subscribe_bytes(1, &[("split/t", 1)]);
    three.extend(publish_bytes("split/t", b"joined", 1, false, false, 2));
    three.extend(PINGREQ);
    c.send_raw(&three);
    let mut got: Vec<u8> = (0..4).map(|_| c.expect_raw()[0] & 0xF0).collect();
    got.sort_unstable();
    assert_eq!(
        got,
        vec![0x30, 0x40, 0x90, 0xD0],
        "PUBLISH, PUBACK, SUBACK, PINGRESP"
    );

    // Large: a 64-bit length frame each way (70000 bytes > 65535).
    let big: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    c.publish("split/t", &big, 1, false);
    let p = c.receive_publish();
    assert!(p.payload == big, "large payload corrupted");
}

#[test]
fn ping_gets_a_pong_before_and_after_connect() {
    let (b, _) = ws_broker("");
    let mut ws = WsStream::connect(b.port);
    ws.send_frame(true, 0x9, b"early");
    let f = ws.next_control(TIMEOUT).expect("pong");
    assert_eq!((f.opcode, f.payload.as_slice()), (0xA, &b"early"[..]));
    ws.send_frame(true, 0x2, &ConnectOpts::v311("pinger").bytes());
    let mut c = Client::over(ClientStream::Ws(Box::new(ws)), "pinger");
    c.expect_bytes(&CONNACK_OK);
    c.stream.ws().send_frame(true, 0x9, b"");
    let f = c.stream.ws().next_control(TIMEOUT).expect("pong");
    assert_eq!((f.opcode, f.payload.len()), (0xA, 0));
    if !is_reference() {
        // An unsolicited pong is allowed (RFC 6455 §5.5.3) and ignored;
        // Debian's mosquitto 2.0.11 (libwebsockets 4.1) drops the client.
        c.stream.ws().send_frame(true, 0xA, b"unasked");
    }
    c.assert_alive();
    // A flood of pings is answered in full while others are served.
    let mut other = Client::connect_ws(b.port, "other");
    let flood: Vec<u8> = (0..3000u32)
        .flat_map(|i| ws_frame(true, 0x9, &i.to_be_bytes(), i))
        .collect();
    c.stream.ws().tcp.write_all(&flood).expect("flood");
    other.assert_alive();
    // We answer each ping in order; libwebsockets answers some of them
    // (RFC 6455 §5.5.3 allows skipping all but the latest, which it does
    // not always send either).
    if !is_reference() {
        for i in 0..3000u32 {
            let f = c.stream.ws().next_control(TIMEOUT).expect("pong");
            assert_eq!((f.opcode, f.payload), (0xA, i.to_be_bytes().to_vec()));
        }
    }
    c.assert_alive();
}

#[test]
fn close_frame_is_answered_and_the_will_published() {
    let (b, tcp) = ws_broker("");
    let mut watcher = Client::connect(tcp, "watcher", true, 60);
    watcher.subscribe_many(&[("will/ws", 1)]);
    let opts = ConnectOpts::v311("leaver").will("will/ws", b"gone", 1, false);
    let (mut c, connack) = Client::connect_ws_opts(b.port, &opts);
    assert_eq!(connack, CONNACK_OK);
    // A close frame is not DISCONNECT: the will goes out.
    c.stream.ws().send_frame(true, 0x8, b"\x03\xe8bye");
    let f = c.stream.ws().next_control(TIMEOUT).expect("close answer");
    assert_eq!(f.opcode, 0x8);
    assert_eq!(&f.payload[..2], &[0x03, 0xe8], "status code echoed");
    c.stream.ws().read_to_end(TIMEOUT);
    let p = watcher.receive_publish();
    assert_eq!(
        (p.topic.as_str(), p.payload.as_slice()),
        ("will/ws", &b"gone"[..])
    );
    assert!(b.wait_for_log("Client leaver closed its connection.", TIMEOUT));
}

#[test]
fn broker_side_closes_end_the_websocket() {
    let (b, _) = ws_broker("");
    // DISCONNECT: we say goodbye with a close frame (1000); libwebsockets
    // in Debian's 2.0.11 just closes the socket.
    let mut c = Client::connect_ws(b.port, "polite");
    c.send_raw(&DISCONNECT);
    let code = expect_ws_close(c.stream.ws());
    assert_eq!(code, if is_reference() { None } else { Some(1000) });
    // A protocol error in MQTT (a second CONNECT): 1002 from us.
    let mut c = Client::connect_ws(b.port, "twice");
    c.send_raw(&ConnectOpts::v311("twice").bytes());
    let code = expect_ws_close(c.stream.ws());
    assert_eq!(code, if is_reference() { None } else { Some(1002) });
    // A refused CONNECT: the CONNACK arrives before the close.
    let mut opts = ConnectOpts::v311("badver");
    opts.level = 9;
    let (mut c, connack) = Client::connect_ws_opts(b.port, &opts);
    assert_eq!(connack, [0x20, 0x02, 0x00, 0x01]);
    c.expect_closed();
}

/// Bad frames after the opening handshake: the connection ends with a
/// close frame carrying `code`; other clients carry on.
fn bad_frames_close_the_connection(bad: &[(&str, Vec<u8>, u16)], port: u16) {
    let mut bystander = Client::connect_ws(port, "bystander");
    for (what, bytes, code) in bad {
        let mut c = Client::connect_ws(port, what);
        c.stream.ws().tcp.write_all(bytes).expect("write");
        let got = expect_ws_close(c.stream.ws());
        // libwebsockets sometimes drops the socket without a close frame.
        if !(is_reference() && got.is_none()) {
            assert_eq!(got, Some(*code), "{what}");
        }
        bystander.assert_alive();
    }
    assert!(TcpStream::connect_timeout(&addr(port), TIMEOUT).is_ok());
}

#[test]
fn protocol_errors_close_only_that_connection() {
    let (b, _) = ws_broker("");
    let publish = publish_bytes("t", b"x", 0, false, false, 0);
    let mut unmasked = vec![0x82, publish.len() as u8];
    unmasked.extend(&publish);
    let mut huge = vec![0x82, 0xff];
    huge.extend(u64::MAX.to_be_bytes());
    huge.extend([1, 2, 3, 4]);
    let mut bad = vec![
        ("length-2^64", huge, 1002),
        ("reserved-bits", ws_frame(true, 0x42, &publish, 3), 1002),
        ("opcode-3", ws_frame(true, 0x3, &publish, 3), 1002),
        ("lone-continuation", ws_frame(true, 0x0, &publish, 3), 1002),
        ("long-ping", ws_frame(true, 0x9, &[0; 126], 3), 1002),
        ("garbage", vec![0xff; 16], 1002),
    ];
    if !is_reference() {
        // RFC 6455 §5.1 (clients mask every frame) and MQTT §6 (binary
        // frames only) say close; libwebsockets in Debian's 2.0.11 takes
        // both as MQTT bytes.
        bad.push(("unmasked", unmasked, 1002));
        bad.push(("text", ws_frame(true, 0x1, &publish, 3), 1003));
    }
    bad_frames_close_the_connection(&bad, b.port);
}

#[test]
fn garbage_before_the_handshake_is_refused() {
    let (b, tcp) = ws_broker("");
    let mut bystander = Client::connect_ws(b.port, "bystander");
    // MQTT where HTTP was expected, then binary junk.
    for junk in [
        ConnectOpts::v311("raw").bytes(),
        vec![0x00, 0xff, 0x10, 0x80],
    ] {
        let mut ws = send_request(b.port, &junk);
        let answer = ws.read_to_end(TIMEOUT);
        let text = String::from_utf8_lossy(&answer);
        // Ours: 400 Bad Request; the reference: libwebsockets' 403 page.
        assert!(
            text.starts_with("HTTP/1.1 400 ")
                || is_reference() && text.starts_with("HTTP/1.0 403 "),
            "{text}"
        );
        bystander.assert_alive();
    }
    // A websocket on the MQTT port is just bad MQTT there.
    let mut c = Client::raw(tcp, "http-on-mqtt");
    c.send_raw(ws_request("").as_bytes());
    c.expect_closed();
    bystander.assert_alive();
}

#[test]
fn oversized_request_headers_are_refused() {
    let (b, _) = ws_broker("websockets_headers_size 1024");
    let cookie = |n: usize| format!("Cookie: {}\r\n", "c".repeat(n));
    let mut ws = send_request(b.port, ws_request(&cookie(300)).as_bytes());
    let head = ws.read_http_head(TIMEOUT).expect("an answer");
    assert_eq!(status_of(&head), 101, "{head}");

    let mut ws = send_request(b.port, ws_request(&cookie(3000)).as_bytes());
    let answer = ws.read_to_end(TIMEOUT);
    let text = String::from_utf8_lossy(&answer);
    // Ours says why (431); libwebsockets closes without a word.
    if is_reference() {
        assert!(!text.contains(" 101 "), "{text}");
    } else {
        assert!(text.starts_with("HTTP/1.1 431 "), "{text}");
    }
}

#[test]
fn websocket_and_tcp_clients_exchange_messages() {
    let (b, tcp) = ws_broker("");
    let mut ws_sub = Client::connect_ws(b.port, "ws-sub");
    let mut tcp_sub = Client::connect(tcp, "tcp-sub", true, 60);
    ws_sub.subscribe_many(&[("x/to-ws", 2)]);
    tcp_sub.subscribe_many(&[("x/to-tcp", 2)]);
    let mut ws_pub = Client::connect_ws(b.port, "ws-pub");
    let mut tcp_pub = Client::connect(tcp, "tcp-pub", true, 60);
    let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 256) as u8).collect();
    for qos in 0..=2u8 {
        let small = format!("qos {qos}");
        for payload in [small.as_bytes(), &big[..]] {
            tcp_pub.publish("x/to-ws", payload, qos, false);
            let p = ws_sub.receive_publish();
            assert!(
                p.payload == payload && p.qos.as_u8() == qos,
                "to ws at qos {qos}"
            );
            ws_pub.publish("x/to-tcp", payload, qos, false);
            let p = tcp_sub.receive_publish();
            assert!(
                p.payload == payload && p.qos.as_u8() == qos,
                "to tcp at qos {qos}"
            );
        }
    }
    // A retained message set over TCP reaches a new websocket subscriber.
    tcp_pub.publish("x/kept", b"retained", 1, true);
    let mut late = Client::connect_ws(b.port, "ws-late");
    late.subscribe_many(&[("x/kept", 0)]);
    let p = late.receive_publish();
    assert_eq!((p.payload.as_slice(), p.retain), (&b"retained"[..], true));
}

/// `GET path` on a new connection: the whole answer, which must end with
/// the connection closing.
fn http_get(port: u16, path: &str) -> (u16, String, Vec<u8>) {
    let mut ws = send_request(
        port,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    );
    let answer = ws.read_to_end(TIMEOUT);
    if answer.is_empty() {
        return (0, String::new(), Vec::new());
    }
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head: {:?}", String::from_utf8_lossy(&answer)));
    let head = String::from_utf8_lossy(&answer[..end]).into_owned();
    (status_of(&head), head, answer[end + 4..].to_vec())
}

#[test]
fn http_dir_serves_files_and_refuses_traversal() {
    let files = TempDir::new("www");
    let www = files.join("www");
    std::fs::create_dir_all(www.join("sub")).expect("www");
    std::fs::write(www.join("index.html"), "<h1>index</h1>\n").expect("index");
    std::fs::write(www.join("style.css"), "h1 { color: red }\n").expect("css");
    std::fs::write(www.join("sub/data.json"), "{\"a\": 1}\n").expect("json");
    std::fs::write(files.join("secret.txt"), "SECRET\n").expect("secret");
    std::os::unix::fs::symlink(files.join("secret.txt"), www.join("link.txt")).expect("symlink");
    // Bigger than a socket buffer: sent in pieces as the client reads.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(www.join("big.bin"), &big).expect("big");
    let (b, _) = ws_broker(&format!("http_dir {}", www.display()));

    let (status, head, body) = http_get(b.port, "/style.css");
    assert_eq!(
        (status, body.as_slice()),
        (200, &b"h1 { color: red }\n"[..]),
        "{head}"
    );
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("content-length: 18"), "{head}");
    if !is_reference() {
        // libwebsockets in 2.0.11 sends no Content-Type.
        assert!(lower.contains("content-type: text/css"), "{head}");
        let (_, head, _) = http_get(b.port, "/sub/data.json");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{head}"
        );
    }
    let (status, _, body) = http_get(b.port, "/");
    assert_eq!((status, body.as_slice()), (200, &b"<h1>index</h1>\n"[..]));
    let (status, _, body) = http_get(b.port, "/sub/data.json");
    assert_eq!((status, body.as_slice()), (200, &b"{\"a\": 1}\n"[..]));
    assert_eq!(http_get(b.port, "/missing.html").0, 404);
    let (status, _, body) = http_get(b.port, "/big.bin");
    assert_eq!((status, body.len()), (200, big.len()));
    assert!(body == big, "big.bin corrupted");
    // Out of http_dir: never the file. We refuse "..", libwebsockets
    // resolves it inside the root (and finds nothing).
    for path in [
        "/../secret.txt",
        "/sub/../../secret.txt",
        "/%2e%2e/secret.txt",
    ] {
        let (status, _, body) = http_get(b.port, path);
        assert!(!String::from_utf8_lossy(&body).contains("SECRET"), "{path}");
        let want = if is_reference() { 404 } else { 403 };
        assert_eq!(status, want, "{path}");
    }
    // A symbolic link out of it too.
    let (status, _, body) = http_get(b.port, "/link.txt");
    assert_eq!(status, 403);
    assert!(!String::from_utf8_lossy(&body).contains("SECRET"));
    // Websockets still work on the same listener.
    Client::connect_ws(b.port, "next-to-http").assert_alive();
}

#[test]
fn plain_http_without_http_dir_is_refused() {
    let (b, _) = ws_broker("");
    let (status, head, _) = http_get(b.port, "/index.html");
    // Ours answers 404; libwebsockets in 2.0.11 closes without an answer.
    assert_eq!(status, if is_reference() { 0 } else { 404 }, "{head}");
    if !is_reference() {
        let mut ws = send_request(b.port, b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        let text = String::from_utf8_lossy(&ws.read_to_end(TIMEOUT)).into_owned();
        assert!(text.starts_with("HTTP/1.1 405 "), "{text}");
        // An upgrade for a websocket version other than 13.
        let req = ws_request("").replace("Version: 13", "Version: 8");
        let mut ws = send_request(b.port, req.as_bytes());
        let head = ws.read_http_head(TIMEOUT).expect("an answer");
        assert_eq!(status_of(&head), 426, "{head}");
        assert!(head.contains("Sec-WebSocket-Version: 13\r\n"), "{head}");
    }
}

#[test]
fn a_handshake_without_subprotocol_still_speaks_mqtt() {
    if is_reference() {
        // libwebsockets accepts it for its "http-only" protocol, which
        // ignores what follows; we take it as MQTT.
        return;
    }
    let (b, _) = ws_broker("");
    let req = ws_request("").replace("Sec-WebSocket-Protocol: mqtt\r\n", "");
    let mut ws = send_request(b.port, req.as_bytes());
    let head = ws.read_http_head(TIMEOUT).expect("an answer");
    assert_eq!(status_of(&head), 101, "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("sec-websocket-protocol"),
        "{head}"
    );
    ws.send_frame(true, 0x2, &ConnectOpts::v311("noproto").bytes());
    let mut c = Client::over(ClientStream::Ws(Box::new(ws)), "noproto");
    c.expect_bytes(&CONNACK_OK);
    // Offering only protocols we do not speak is refused.
    let req = ws_request("").replace("Protocol: mqtt", "Protocol: chat");
    let mut ws = send_request(b.port, req.as_bytes());
    let head = ws.read_http_head(TIMEOUT).expect("an answer");
    assert_eq!(status_of(&head), 400, "{head}");
}

#[test]
fn half_closed_and_silent_clients() {
    let (b, _) = ws_broker("");
    // A client that stops mid-request and shuts its side: gone, nothing
    // left behind.
    let mut ws = send_request(b.port, b"GET /mqtt HTTP/1.1\r\nHost: x\r\n");
    ws.tcp.shutdown(Shutdown::Write).expect("shutdown");
    assert!(ws.read_to_end(TIMEOUT).is_empty());
    // One that stops mid-frame after CONNECT: its will still goes when it
    // vanishes.
    let mut watcher = Client::connect_ws(b.port, "watcher");
    watcher.subscribe_many(&[("will/half", 0)]);
    let opts = ConnectOpts::v311("half").will("will/half", b"cut", 0, false);
    let (mut c, _) = Client::connect_ws_opts(b.port, &opts);
    let frame = ws_frame(true, 0x2, &PINGREQ, 5);
    c.stream.ws().tcp.write_all(&frame[..3]).expect("write");
    drop(c);
    let p = watcher.receive_publish();
    assert_eq!(p.payload, b"cut");
}

#[test]
fn websockets_on_a_unix_socket_listener() {
    if is_reference() {
        // mosquitto 2.0.11 opens websockets listeners through
        // libwebsockets, on TCP only.
        return;
    }
    let dir = TempDir::new("wsunix");
    let path = dir.join("ws.sock");
    let b = Broker::start_config(|port| {
        format!(
            "allow_anonymous true\nlistener {port} 127.0.0.1\nlistener 0 {}\nprotocol websockets\n",
            path.display()
        )
    });
    let mut s = std::os::unix::net::UnixStream::connect(&path).expect("connect");
    s.set_read_timeout(Some(TIMEOUT)).ok();
    s.write_all(ws_request("").as_bytes()).expect("request");
    let mut raw = Vec::new();
    let mut chunk = [0u8; 4096];
    let want_connack = [0x82, 0x04, 0x20, 0x02, 0x00, 0x00];
    let mut sent_connect = false;
    // Bounded: every read waits at most TIMEOUT, and the answer is short.
    for _ in 0..100 {
        if !sent_connect {
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&raw[..end]).into_owned();
                assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
                raw.drain(..end + 4);
                s.write_all(&ws_frame(
                    true,
                    0x2,
                    &ConnectOpts::v311("unix-ws").bytes(),
                    9,
                ))
                .expect("connect frame");
                sent_connect = true;
            }
        } else if raw.len() >= want_connack.len() {
            break;
        }
        let n = s.read(&mut chunk).expect("read");
        assert!(n > 0, "closed: {raw:02x?}");
        raw.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(raw, want_connack);
    let peer = format!("New client connected from {}:0 as unix-ws", path.display());
    assert!(b.wait_for_log(&peer, TIMEOUT), "{}", b.log_text());
}

#[test]
fn paho_python_client_over_websockets() {
    let Some(python) = paho_python() else {
        return;
    };
    let (b, _) = ws_broker("");
    run_paho(
        &python,
        &["--port", &b.port.to_string(), "--transport", "websockets"],
    );
}

#[cfg(feature = "tls")]
use crate::harness::pki;

/// TLS under the websocket (wss): paho, and a large message in our own
/// client so frames span TLS records.
#[cfg(feature = "tls")]
#[test]
fn secure_websockets() {
    use mosquitto_rs::broker::tls::{TlsClientConfig, TlsClientOptions};
    let Some(_) = require_tool("openssl", "making test certificates") else {
        return;
    };
    let pki = pki::Pki::fresh("wss");
    let (b, _) = ws_broker(&format!(
        "certfile {}\nkeyfile {}",
        pki.arg("server.crt"),
        pki.arg("server.key")
    ));
    if let Some(python) = paho_python() {
        let port = b.port.to_string();
        let ca = pki.arg("ca.crt");
        run_paho(
            &python,
            &[
                "--port",
                &port,
                "--transport",
                "websockets",
                "--cafile",
                &ca,
            ],
        );
    }

    let tls = TlsClientConfig::build(&TlsClientOptions {
        cafile: Some(pki.path("ca.crt")),
        ..Default::default()
    })
    .expect("client context");
    let tcp = TcpStream::connect_timeout(&addr(b.port), TIMEOUT).expect("connect");
    tcp.set_read_timeout(Some(TIMEOUT)).ok();
    let mut s = tls.connect("127.0.0.1", tcp).expect("TLS handshake");
    s.write_all(ws_request("").as_bytes()).expect("request");
    let mut raw = Vec::new();
    let mut chunk = [0u8; 65536];
    let head_end = loop {
        if let Some(e) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break e + 4;
        }
        let n = s.read(&mut chunk).expect("read answer");
        assert!(n > 0, "closed during the handshake");
        raw.extend_from_slice(&chunk[..n]);
    };
    assert!(
        raw.starts_with(b"HTTP/1.1 101 "),
        "{:?}",
        String::from_utf8_lossy(&raw)
    );
    raw.drain(..head_end);
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    let mut out = ws_frame(true, 0x2, &ConnectOpts::v311("wss").bytes(), 1);
    out.extend(ws_frame(true, 0x2, &subscribe_bytes(1, &[("wss/t", 0)]), 2));
    out.extend(ws_frame(
        true,
        0x2,
        &publish_bytes("wss/t", &big, 0, false, false, 0),
        3,
    ));
    s.write_all(&out).expect("send");
    // CONNACK, SUBACK, then the message back: the MQTT bytes of however
    // many binary frames.
    let mut mqtt = Vec::new();
    let want = 4 + 5 + publish_bytes("wss/t", &big, 0, false, false, 0).len();
    let mut frames = 0;
    while mqtt.len() < want {
        match ws_parse_frame(&mut raw) {
            Some(f) => {
                assert!(
                    matches!(f.opcode, 0x0 | 0x2),
                    "binary or continuation: {f:?}"
                );
                mqtt.extend(f.payload);
                frames += 1;
            }
            None => {
                let n = s.read(&mut chunk).expect("read");
                assert!(n > 0, "closed after {} bytes", mqtt.len());
                raw.extend_from_slice(&chunk[..n]);
            }
        }
    }
    assert_eq!(
        &mqtt[..9],
        &[0x20, 0x02, 0x00, 0x00, 0x90, 0x03, 0x00, 0x01, 0x00]
    );
    assert!(mqtt[9..] == publish_bytes("wss/t", &big, 0, false, false, 0)[..]);
    assert!(frames >= 2, "{frames} frames");
}
