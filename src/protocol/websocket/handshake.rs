//! The opening handshake (RFC 6455 §4.2): an HTTP/1.1 GET asking to upgrade,
//! answered with `101 Switching Protocols`. Plain HTTP requests on a
//! websockets listener are sorted out here too; the broker serves them from
//! `http_dir` or refuses them.

use super::digest::{base64, sha1};

/// Appended to the client's key before hashing (RFC 6455 §1.3).
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The request head limit when `websockets_headers_size` is unset or 0:
/// what Debian's mosquitto 2.0.11 (libwebsockets 4) allows in practice,
/// although its man page still says 1024.
pub const DEFAULT_HEADERS_SIZE: usize = 4096;

/// The subprotocols we speak, in our order of preference when a client
/// offers several ("mqttv3.1" is what MQTT 3.1 clients ask for).
const SUBPROTOCOLS: [&str; 2] = ["mqtt", "mqttv3.1"];

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let mut text = Vec::with_capacity(key.len() + GUID.len());
    text.extend_from_slice(key.as_bytes());
    text.extend_from_slice(GUID.as_bytes());
    base64(&sha1(&text))
}

/// The HTTP refusals we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    BadRequest,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    /// A websocket version other than 13.
    UpgradeRequired,
    /// The request head is over `websockets_headers_size`.
    HeadersTooLarge,
    Internal,
}

impl Status {
    pub fn code(self) -> u16 {
        match self {
            Status::BadRequest => 400,
            Status::Forbidden => 403,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::UpgradeRequired => 426,
            Status::HeadersTooLarge => 431,
            Status::Internal => 500,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Status::BadRequest => "Bad Request",
            Status::Forbidden => "Forbidden",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::UpgradeRequired => "Upgrade Required",
            Status::HeadersTooLarge => "Request Header Fields Too Large",
            Status::Internal => "Internal Server Error",
        }
    }
}

/// A complete request head, borrowed from the bytes it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    pub method: &'a str,
    pub target: &'a str,
    /// Length of the head, blank line included; what follows is the
    /// client's first websocket bytes.
    pub len: usize,
    /// `Upgrade: websocket`.
    upgrade: bool,
    /// `Connection: ... upgrade ...`.
    connection_upgrade: bool,
    key: Option<&'a str>,
    version: Option<&'a str>,
    /// A `Sec-WebSocket-Protocol` header was sent.
    protocol_offered: bool,
    /// The best of ours among those offered.
    protocol: Option<&'static str>,
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Send [`upgrade_response`] and speak websocket from now on.
    Upgrade {
        accept: String,
        protocol: Option<&'static str>,
    },
    /// A plain HTTP GET (or HEAD) for `path`: relative, decoded, without
    /// `..` segments, `index.html` appended to a directory.
    File {
        path: String,
        head_only: bool,
    },
    Refuse(Status),
}

/// Visible ASCII other than the separators: what HTTP names are made of.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Does a comma-separated header value contain `token` (any case)?
fn has_token(value: &str, token: &str) -> bool {
    value
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Parses the request head at the front of `buf`: `Ok(None)` while it is
/// incomplete, `Err` when it can never become a request we accept (not
/// HTTP, malformed, or over `limit` bytes). Garbage is refused as soon as
/// the method cannot be one, without waiting for a whole head.
pub fn parse_request(buf: &[u8], limit: usize) -> Result<Option<Request<'_>>, Status> {
    // Methods are short tokens followed by a space.
    for (i, &b) in buf.iter().enumerate() {
        if b == b' ' && i > 0 {
            break;
        }
        if !is_tchar(b) || i >= 16 {
            return Err(Status::BadRequest);
        }
    }
    let Some(len) = head_len(buf) else {
        return if buf.len() >= limit {
            Err(Status::HeadersTooLarge)
        } else {
            Ok(None)
        };
    };
    if len > limit {
        return Err(Status::HeadersTooLarge);
    }
    let head = buf.get(..len).ok_or(Status::BadRequest)?;
    let head = std::str::from_utf8(head).map_err(|_| Status::BadRequest)?;
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Status::BadRequest);
    };
    if method.is_empty() || !version.starts_with("HTTP/1.") || target.is_empty() {
        return Err(Status::BadRequest);
    }
    // The target may be echoed in a Location header: no control bytes.
    if target.bytes().any(|b| b < 0x21 || b == 0x7f) {
        return Err(Status::BadRequest);
    }
    let mut req = Request {
        method,
        target,
        len,
        upgrade: false,
        connection_upgrade: false,
        key: None,
        version: None,
        protocol_offered: false,
        protocol: None,
    };
    for line in lines {
        if line.is_empty() {
            break; // the blank line that ends the head
        }
        // Folded continuation lines are obsolete (RFC 7230 §3.2.4).
        let (name, value) = line.split_once(':').ok_or(Status::BadRequest)?;
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(Status::BadRequest);
        }
        let value = value.trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case("upgrade") {
            req.upgrade |= has_token(value, "websocket");
        } else if name.eq_ignore_ascii_case("connection") {
            req.connection_upgrade |= has_token(value, "upgrade");
        } else if name.eq_ignore_ascii_case("sec-websocket-key") {
            if req.key.is_some() {
                return Err(Status::BadRequest);
            }
            req.key = Some(value);
        } else if name.eq_ignore_ascii_case("sec-websocket-version") {
            req.version = Some(value);
        } else if name.eq_ignore_ascii_case("sec-websocket-protocol") {
            req.protocol_offered = true;
            if req.protocol.is_none() {
                // Subprotocol names are case-sensitive (RFC 6455 §4.1).
                req.protocol = value
                    .split(',')
                    .map(str::trim)
                    .find_map(|p| SUBPROTOCOLS.iter().find(|s| **s == p).copied());
            }
        }
    }
    Ok(Some(req))
}

/// Where the head ends: just after the first empty line.
fn head_len(buf: &[u8]) -> Option<usize> {
    let mut start = 0;
    while let Some(nl) = buf.get(start..)?.iter().position(|&b| b == b'\n') {
        let line = buf.get(start..start + nl)?;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() && start > 0 {
            return Some(start + nl + 1);
        }
        start += nl + 1;
    }
    None
}

impl Request<'_> {
    /// Decides how to answer: a websocket upgrade, a file, or a refusal.
    pub fn answer(&self) -> Answer {
        if !self.upgrade {
            return match self.method {
                "GET" | "HEAD" => match http_path(self.target) {
                    Ok(path) => Answer::File {
                        path,
                        head_only: self.method == "HEAD",
                    },
                    Err(s) => Answer::Refuse(s),
                },
                _ => Answer::Refuse(Status::MethodNotAllowed),
            };
        }
        if self.method != "GET" || !self.connection_upgrade {
            return Answer::Refuse(Status::BadRequest);
        }
        if self.version != Some("13") {
            return Answer::Refuse(Status::UpgradeRequired);
        }
        let Some(key) = self.key.filter(|k| !k.is_empty()) else {
            return Answer::Refuse(Status::BadRequest);
        };
        // Offering only protocols we do not speak is a refusal; offering
        // none is taken as MQTT.
        if self.protocol_offered && self.protocol.is_none() {
            return Answer::Refuse(Status::BadRequest);
        }
        Answer::Upgrade {
            accept: accept_key(key),
            protocol: self.protocol,
        }
    }

    /// The target's path without query, for a redirect to its directory.
    pub fn path_part(&self) -> &str {
        self.target.split(['?', '#']).next().unwrap_or(self.target)
    }
}

/// The file a plain HTTP target asks for, relative to `http_dir`:
/// percent-decoded, query dropped, `..` refused, `index.html` for a
/// directory.
pub fn http_path(target: &str) -> Result<String, Status> {
    let path = target.split(['?', '#']).next().unwrap_or("");
    // Every leading slash goes: the result is joined to http_dir, and an
    // absolute path would replace it.
    let Some(path) = path.strip_prefix('/').map(|p| p.trim_start_matches('/')) else {
        return Err(Status::BadRequest);
    };
    let mut bytes = Vec::with_capacity(path.len());
    let mut it = path.bytes();
    while let Some(b) = it.next() {
        if b != b'%' {
            bytes.push(b);
            continue;
        }
        let hex = |c: Option<u8>| c.and_then(|c| char::from(c).to_digit(16));
        match (hex(it.next()), hex(it.next())) {
            (Some(h), Some(l)) => bytes.push((h * 16 + l) as u8),
            _ => return Err(Status::BadRequest),
        }
    }
    let mut path = String::from_utf8(bytes).map_err(|_| Status::BadRequest)?;
    if path.contains('\0') {
        return Err(Status::BadRequest);
    }
    // Checked after decoding, so "%2e%2e" is caught too; the broker also
    // checks the resolved path stays inside http_dir (symbolic links).
    if path.split('/').any(|seg| seg == "..") {
        return Err(Status::Forbidden);
    }
    if path.is_empty() || path.ends_with('/') {
        path.push_str("index.html");
    }
    Ok(path)
}

/// The `101 Switching Protocols` answer.
pub fn upgrade_response(out: &mut Vec<u8>, accept: &str, protocol: Option<&str>) {
    out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n");
    out.extend_from_slice(b"Connection: Upgrade\r\nSec-WebSocket-Accept: ");
    out.extend_from_slice(accept.as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some(p) = protocol {
        out.extend_from_slice(b"Sec-WebSocket-Protocol: ");
        out.extend_from_slice(p.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// A refusal with a short text body; the connection closes after it.
pub fn error_response(out: &mut Vec<u8>, status: Status) {
    let body = format!("{} {}\n", status.code(), status.reason());
    let extra = if status == Status::UpgradeRequired {
        "Sec-WebSocket-Version: 13\r\n"
    } else {
        ""
    };
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {} {}\r\n{extra}Content-Type: text/plain\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            status.code(),
            status.reason(),
            body.len()
        )
        .as_bytes(),
    );
}

/// The head of a `200 OK` file response of `len` bytes.
pub fn file_response_head(out: &mut Vec<u8>, len: u64, content_type: &str) {
    out.extend_from_slice(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\n\
             Connection: close\r\n\r\n"
        )
        .as_bytes(),
    );
}

/// Sends a request for a directory to the directory with a slash, so
/// relative links in its index.html work.
pub fn redirect_response(out: &mut Vec<u8>, location: &str) {
    out.extend_from_slice(
        format!(
            "HTTP/1.1 301 Moved Permanently\r\nLocation: {location}\r\nContent-Length: 0\r\n\
             Connection: close\r\n\r\n"
        )
        .as_bytes(),
    );
}

/// A Content-Type guessed from the file name's extension.
pub fn content_type(path: &str) -> &'static str {
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "ico" => "image/x-icon",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"GET /chat HTTP/1.1\r\n\
        Host: server.example.com\r\n\
        Upgrade: websocket\r\n\
        Connection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Origin: http://example.com\r\n\
        Sec-WebSocket-Protocol: chat, mqtt\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";

    #[test]
    fn rfc6455_sample_key() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn rfc6455_sample_handshake() {
        let req = parse_request(SAMPLE, 4096).unwrap().unwrap();
        assert_eq!(
            (req.method, req.target, req.len),
            ("GET", "/chat", SAMPLE.len())
        );
        let Answer::Upgrade { accept, protocol } = req.answer() else {
            panic!("{:?}", req.answer());
        };
        let mut out = Vec::new();
        upgrade_response(&mut out, &accept, protocol);
        assert_eq!(
            out,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
              Sec-WebSocket-Protocol: mqtt\r\n\r\n"
        );
    }

    #[test]
    fn incomplete_heads_wait_and_bytes_after_the_head_are_left() {
        for cut in 1..SAMPLE.len() {
            assert_eq!(parse_request(&SAMPLE[..cut], 4096), Ok(None), "{cut}");
        }
        let mut more = SAMPLE.to_vec();
        more.extend_from_slice(&[0x82, 0x80]);
        let req = parse_request(&more, 4096).unwrap().unwrap();
        assert_eq!(req.len, SAMPLE.len());
        // Bare LF line ends are tolerated.
        let lf = b"GET / HTTP/1.1\nHost: x\n\nrest";
        assert_eq!(parse_request(lf, 100).unwrap().unwrap().len, lf.len() - 4);
    }

    #[test]
    fn header_size_limit() {
        assert_eq!(
            parse_request(SAMPLE, SAMPLE.len()).map(|r| r.is_some()),
            Ok(true)
        );
        assert_eq!(
            parse_request(SAMPLE, SAMPLE.len() - 1),
            Err(Status::HeadersTooLarge)
        );
        // An endless head is refused once it reaches the limit.
        let partial = b"GET / HTTP/1.1\r\nCookie: aaaaaaaaaaaaaaaaaaaaaaaaa";
        assert_eq!(parse_request(partial, 100), Ok(None));
        assert_eq!(parse_request(partial, 40), Err(Status::HeadersTooLarge));
    }

    #[test]
    fn garbage_is_refused_at_once() {
        // A raw MQTT CONNECT where HTTP was expected.
        assert_eq!(
            parse_request(b"\x10\x0e\x00\x04MQTT", 4096),
            Err(Status::BadRequest)
        );
        assert_eq!(parse_request(b"GE", 4096), Ok(None));
        assert_eq!(parse_request(b"GET\r\n", 4096), Err(Status::BadRequest));
        assert_eq!(
            parse_request(b"AVERYLONGMETHODNAMEINDEED", 4096),
            Err(Status::BadRequest)
        );
        for bad in [
            &b"GET /\r\n\r\n"[..],
            b"GET / HTTP/1.1 extra\r\n\r\n",
            b"GET / SPDY/3\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
            b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
            b"GET /\x7f HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: \xff\r\n\r\n",
            b"\r\nGET / HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(
                parse_request(bad, 4096),
                Err(Status::BadRequest),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    fn answer(text: &str) -> Answer {
        parse_request(text.as_bytes(), 4096)
            .unwrap()
            .unwrap()
            .answer()
    }

    fn upgrade(extra: &str) -> String {
        format!(
            "GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\n\
             Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: abc\r\n{extra}\r\n"
        )
    }

    #[test]
    fn subprotocol_and_version_choice() {
        let accept = accept_key("abc");
        let up = |p| Answer::Upgrade {
            accept: accept.clone(),
            protocol: p,
        };
        let v13 = "Sec-WebSocket-Version: 13\r\n";
        assert_eq!(answer(&upgrade(v13)), up(None));
        let p = format!("{v13}Sec-WebSocket-Protocol: mqtt\r\n");
        assert_eq!(answer(&upgrade(&p)), up(Some("mqtt")));
        let p = format!("{v13}Sec-WebSocket-Protocol: mqttv3.1\r\n");
        assert_eq!(answer(&upgrade(&p)), up(Some("mqttv3.1")));
        let p = format!(
            "{v13}Sec-WebSocket-Protocol: foo\r\nSec-WebSocket-Protocol: mqttv3.1, mqtt\r\n"
        );
        assert_eq!(answer(&upgrade(&p)), up(Some("mqttv3.1")));
        let p = format!("{v13}Sec-WebSocket-Protocol: foo, MQTT\r\n");
        assert_eq!(answer(&upgrade(&p)), Answer::Refuse(Status::BadRequest));
        assert_eq!(
            answer(&upgrade("Sec-WebSocket-Version: 8\r\n")),
            Answer::Refuse(Status::UpgradeRequired)
        );
        assert_eq!(
            answer(&upgrade("")),
            Answer::Refuse(Status::UpgradeRequired)
        );
    }

    #[test]
    fn incomplete_upgrades_are_refused() {
        let no_key = "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                      Sec-WebSocket-Version: 13\r\n\r\n";
        assert_eq!(answer(no_key), Answer::Refuse(Status::BadRequest));
        let no_conn = "GET / HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\
                       Sec-WebSocket-Version: 13\r\n\r\n";
        assert_eq!(answer(no_conn), Answer::Refuse(Status::BadRequest));
        let post = upgrade("Sec-WebSocket-Version: 13\r\n").replacen("GET", "POST", 1);
        assert_eq!(answer(&post), Answer::Refuse(Status::BadRequest));
        let twice = upgrade("Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: again\r\n");
        assert_eq!(
            parse_request(twice.as_bytes(), 4096),
            Err(Status::BadRequest)
        );
    }

    #[test]
    fn plain_http_requests() {
        let file = |path: &str, head_only| Answer::File {
            path: path.into(),
            head_only,
        };
        assert_eq!(answer("GET / HTTP/1.1\r\n\r\n"), file("index.html", false));
        assert_eq!(
            answer("HEAD /a/b.js?x=1 HTTP/1.0\r\n\r\n"),
            file("a/b.js", true)
        );
        assert_eq!(
            answer("GET /d/ HTTP/1.1\r\n\r\n"),
            file("d/index.html", false)
        );
        assert_eq!(
            answer("GET /a%20b.txt HTTP/1.1\r\n\r\n"),
            file("a b.txt", false)
        );
        assert_eq!(
            answer("POST / HTTP/1.1\r\n\r\n"),
            Answer::Refuse(Status::MethodNotAllowed)
        );
        for bad in ["/../etc/passwd", "/a/../../x", "/%2e%2e/x", "/a/%2E%2E"] {
            assert_eq!(http_path(bad), Err(Status::Forbidden), "{bad}");
        }
        for bad in ["x", "/%zz", "/%4", "/%00", "/%ff", "http://h/x"] {
            assert_eq!(http_path(bad), Err(Status::BadRequest), "{bad}");
        }
        assert_eq!(http_path("//etc/passwd"), Ok("etc/passwd".into()));
        // ".." inside a name is only a name.
        assert_eq!(http_path("/a..b/..c"), Ok("a..b/..c".into()));
        let req = parse_request(b"GET /dir?q HTTP/1.1\r\n\r\n", 100)
            .unwrap()
            .unwrap();
        assert_eq!(req.path_part(), "/dir");
    }

    #[test]
    fn responses() {
        let mut out = Vec::new();
        error_response(&mut out, Status::NotFound);
        assert_eq!(
            out,
            b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\
              Connection: close\r\n\r\n404 Not Found\n"
        );
        out.clear();
        error_response(&mut out, Status::UpgradeRequired);
        assert!(out.starts_with(b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n"));
        out.clear();
        file_response_head(&mut out, 12, content_type("x/INDEX.HTML"));
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
              Content-Length: 12\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(content_type("a.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("a.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("a.json"), "application/json");
        assert_eq!(content_type("a.txt"), "text/plain; charset=utf-8");
        assert_eq!(content_type("Makefile"), "application/octet-stream");
    }

    /// Random request heads never panic the parser or the answer built
    /// from them: a deterministic walk over mutated copies of a valid
    /// upgrade request (bytes replaced, cut short, CRLFs moved).
    #[test]
    fn mutated_requests_never_panic() {
        let base: &[u8] = b"GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
            Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
            Sec-WebSocket-Protocol: mqtt\r\nSec-WebSocket-Version: 13\r\n\r\n";
        let mut x: u64 = 0xD1B5_4A32_D192_ED03;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabet = b"\r\n :/%.-GETHTTP\x00\xff";
        for _ in 0..20_000 {
            let mut req = base.to_vec();
            for _ in 0..(next() % 6) {
                let at = next() as usize % req.len();
                let with = alphabet[next() as usize % alphabet.len()];
                if let Some(b) = req.get_mut(at) {
                    *b = with;
                }
            }
            let cut = next() as usize % (req.len() + 1);
            req.truncate(cut);
            for limit in [16, 4096] {
                if let Ok(Some(r)) = parse_request(&req, limit) {
                    let _ = r.answer();
                    let _ = http_path(r.path_part());
                }
            }
        }
    }
}
