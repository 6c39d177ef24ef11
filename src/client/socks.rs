//! `--proxy socks5h://…`: the proxy URL as mosquitto's clients read it, and
//! the SOCKS5 client handshake (RFC 1928, with RFC 1929 username/password
//! authentication) as bytes in and bytes out. No IO here: `net` drives it
//! under the connect deadline.
//!
//! Failures carry libmosquitto's error numbers and words, which are what
//! mosquitto_pub and mosquitto_sub print and exit with.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::options::atoi;

/// Where the proxy is and how to log in to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
}

/// SOCKS is used without a port in the URL on this one.
pub const DEFAULT_PORT: u16 = 1080;

impl ProxyUrl {
    /// Whether libmosquitto would refuse these settings
    /// (`mosquitto_socks5_set`): a host over 256 bytes, or a username or
    /// password over 255 (they are sent with one length byte).
    pub fn too_long(&self) -> bool {
        self.host.len() > 256
            || self.username.as_ref().is_some_and(|u| u.len() > 255)
            || self.password.as_ref().is_some_and(|p| p.len() > 255)
    }
}

/// Parse `socks5h://[username[:password]@]hostname[:port]` the way
/// mosquitto 2.0's clients do, quirks included (`host:1:2` is port 1, the
/// port is read with `atoi`). The error is the complete message for
/// stderr; mosquitto prints nothing for some malformed URLs, so it may be
/// empty.
pub fn parse_url(url: &str) -> Result<ProxyUrl, String> {
    let Some(s) = url.strip_prefix("socks5h://") else {
        return Err(format!("Error: Unsupported proxy protocol: {url}\n"));
    };
    let malformed = || Err(String::new());
    let mut start = 0;
    let mut have_auth = false;
    let mut username: Option<&str> = None;
    let mut password: Option<&str> = None;
    let mut host: Option<&str> = None;
    let mut port: Option<&str> = None;
    // Text before the first ':' when no '@' has been seen: a host, or a
    // username if an '@' follows.
    let mut username_or_host: Option<&str> = None;
    // ':' and '@' are ASCII, so every slice below is on a char boundary.
    for (i, b) in s.bytes().enumerate() {
        match b {
            b':' => {
                if i == start {
                    return malformed();
                }
                if have_auth {
                    if host.is_some() {
                        return malformed();
                    }
                    host = s.get(start..i);
                    start = i + 1;
                } else if username_or_host.is_none() {
                    username_or_host = s.get(start..i);
                    start = i + 1;
                }
            }
            b'@' => {
                if i == start {
                    return malformed();
                }
                have_auth = true;
                if let Some(u) = username_or_host.take() {
                    username = Some(u);
                    password = s.get(start..i);
                } else {
                    if username.is_some() {
                        return malformed();
                    }
                    username = s.get(start..i);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    if let Some(rest) = s.get(start..).filter(|r| !r.is_empty()) {
        if host.is_some() {
            port = Some(rest);
        } else if let Some(h) = username_or_host.take() {
            host = Some(h);
            port = Some(rest);
        } else {
            host = Some(rest);
        }
    }
    let Some(host) = host else {
        return Err("Error: Invalid proxy.\n".to_owned());
    };
    let username = match username.map(url_decode) {
        Some(None) => return malformed(),
        Some(Some(u)) => Some(u),
        None => None,
    };
    let password = match password.map(url_decode) {
        Some(None) => return malformed(),
        Some(Some(p)) => Some(p),
        None => None,
    };
    let port = match port {
        Some(p) => {
            let n = atoi(p);
            match u16::try_from(n) {
                Ok(n) if n >= 1 => n,
                _ => return Err(format!("Error: Invalid proxy port {n}\n")),
            }
        }
        None => DEFAULT_PORT,
    };
    Ok(ProxyUrl {
        host: host.to_owned(),
        port,
        username,
        password,
    })
}

/// The escapes mosquitto decodes in a proxy username or password: `%25`,
/// `%3A`/`%3a` and `%40`; any other `%` makes the URL invalid. (mosquitto
/// 2.0.11 turns `%40` into ':' by mistake; we give the '@' it stands for.)
fn url_decode(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('%') {
        out.push_str(rest.get(..pos)?);
        let code = rest.get(pos + 1..pos + 3)?;
        out.push(match code {
            "25" => '%',
            "3A" | "3a" => ':',
            "40" => '@',
            _ => return None,
        });
        rest = rest.get(pos + 3..)?;
    }
    out.push_str(rest);
    Some(out)
}

/// How a SOCKS handshake failed, as libmosquitto reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocksError {
    /// `MOSQ_ERR_PROXY`: not a SOCKS5 answer, the proxy closed, or it
    /// reported a general failure.
    Proxy,
    /// `MOSQ_ERR_AUTH`: no acceptable authentication method, or the proxy
    /// said the connection is not allowed.
    Auth,
    /// `MOSQ_ERR_NO_CONN`: network or host unreachable, connection refused.
    NoConn,
    /// `MOSQ_ERR_INVAL`: a reply code SOCKS5 does not define.
    Inval,
    /// `MOSQ_ERR_PROTOCOL`: an address type SOCKS5 does not define.
    Protocol,
    /// `MOSQ_ERR_NOMEM`: libmosquitto's report of a broker host name too
    /// long for a SOCKS5 request.
    NoMem,
}

impl SocksError {
    /// libmosquitto's error number: the clients' exit status.
    pub fn code(self) -> i32 {
        match self {
            SocksError::Proxy => 16,
            SocksError::Auth => 11,
            SocksError::NoConn => 4,
            SocksError::Inval => 3,
            SocksError::Protocol => 2,
            SocksError::NoMem => 1,
        }
    }

    /// `mosquitto_strerror` of that number.
    pub fn message(self) -> &'static str {
        match self {
            SocksError::Proxy => "Proxy error.",
            SocksError::Auth => "Authorisation failed.",
            SocksError::NoConn => "The client is not currently connected.",
            SocksError::Inval => "Invalid function arguments provided.",
            SocksError::Protocol => {
                "A network protocol error occurred when communicating with the broker."
            }
            SocksError::NoMem => "Out of memory.",
        }
    }
}

const VERSION: u8 = 5;
const AUTH_NONE: u8 = 0x00;
const AUTH_USERPASS: u8 = 0x02;
const USERPASS_VERSION: u8 = 1;
const CMD_CONNECT: u8 = 1;
const ATYP_IPV4: u8 = 1;
const ATYP_DOMAIN: u8 = 3;
const ATYP_IPV6: u8 = 4;

/// The method-selection message: "no authentication", and
/// username/password too when we have a username.
pub fn greeting(with_auth: bool) -> Vec<u8> {
    if with_auth {
        vec![VERSION, 2, AUTH_NONE, AUTH_USERPASS]
    } else {
        vec![VERSION, 1, AUTH_NONE]
    }
}

/// The method the proxy chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    NoAuth,
    UserPass,
}

/// The proxy's 2-byte answer to the greeting.
pub fn method_reply(r: [u8; 2]) -> Result<Method, SocksError> {
    if r[0] != VERSION {
        return Err(SocksError::Proxy);
    }
    match r[1] {
        AUTH_NONE => Ok(Method::NoAuth),
        AUTH_USERPASS => Ok(Method::UserPass),
        // 0xFF "no acceptable methods", or one we never offered.
        _ => Err(SocksError::Auth),
    }
}

/// The RFC 1929 username/password request.
pub fn auth_request(username: &[u8], password: &[u8]) -> Result<Vec<u8>, SocksError> {
    let ulen = u8::try_from(username.len()).map_err(|_| SocksError::Inval)?;
    let plen = u8::try_from(password.len()).map_err(|_| SocksError::Inval)?;
    let mut m = Vec::with_capacity(3 + username.len() + password.len());
    m.push(USERPASS_VERSION);
    m.push(ulen);
    m.extend_from_slice(username);
    m.push(plen);
    m.extend_from_slice(password);
    Ok(m)
}

/// The proxy's 2-byte answer to the username/password request.
pub fn auth_reply(r: [u8; 2]) -> Result<(), SocksError> {
    if r[0] != USERPASS_VERSION {
        return Err(SocksError::Proxy);
    }
    match r[1] {
        0 => Ok(()),
        // libmosquitto reads the status as a SOCKS5 reply code.
        code => Err(reply_error(code)),
    }
}

/// The CONNECT request for the broker: an IP literal as an address, any
/// other name as a DOMAINNAME for the proxy to resolve (`socks5h`).
pub fn connect_request(host: &str, port: u16) -> Result<Vec<u8>, SocksError> {
    let mut m = vec![VERSION, CMD_CONNECT, 0];
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        m.push(ATYP_IPV4);
        m.extend_from_slice(&ip.octets());
    } else if let Ok(ip) = host.parse::<Ipv6Addr>() {
        m.push(ATYP_IPV6);
        m.extend_from_slice(&ip.octets());
    } else {
        let len = u8::try_from(host.len()).map_err(|_| SocksError::NoMem)?;
        m.push(ATYP_DOMAIN);
        m.push(len);
        m.extend_from_slice(host.as_bytes());
    }
    m.extend_from_slice(&port.to_be_bytes());
    Ok(m)
}

/// How much of the CONNECT reply to read first: enough to know its length.
pub const REPLY_HEAD: usize = 5;

/// The whole length of the CONNECT reply, from its first `REPLY_HEAD`
/// bytes (the bound address's length depends on its type).
pub fn reply_len(head: [u8; REPLY_HEAD]) -> Result<usize, SocksError> {
    // VER REP RSV ATYP, then the address, then a 2-byte port.
    match head[3] {
        ATYP_IPV4 => Ok(4 + 4 + 2),
        ATYP_IPV6 => Ok(4 + 16 + 2),
        ATYP_DOMAIN => Ok(4 + 1 + usize::from(head[4]) + 2),
        _ => Err(SocksError::Protocol),
    }
}

/// The whole CONNECT reply: success, or why not.
pub fn connect_reply(reply: &[u8]) -> Result<(), SocksError> {
    match reply {
        [VERSION, 0, ..] => Ok(()),
        [VERSION, code, ..] => Err(reply_error(*code)),
        _ => Err(SocksError::Proxy),
    }
}

/// A SOCKS5 failure reply code in libmosquitto's terms.
fn reply_error(code: u8) -> SocksError {
    match code {
        // Connection not allowed by ruleset.
        2 => SocksError::Auth,
        // Network unreachable, host unreachable, connection refused.
        3..=5 => SocksError::NoConn,
        // General failure, TTL expired, command or address type not supported.
        1 | 6..=8 => SocksError::Proxy,
        _ => SocksError::Inval,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(u: &str) -> ProxyUrl {
        parse_url(u).unwrap()
    }

    #[test]
    fn url_forms() {
        let p = url("socks5h://proxy");
        assert_eq!(
            p,
            ProxyUrl {
                host: "proxy".into(),
                port: 1080,
                username: None,
                password: None
            }
        );
        let p = url("socks5h://proxy:9050");
        assert_eq!((p.host.as_str(), p.port), ("proxy", 9050));
        let p = url("socks5h://alice@proxy");
        assert_eq!(p.username.as_deref(), Some("alice"));
        assert_eq!(p.password, None);
        assert_eq!((p.host.as_str(), p.port), ("proxy", 1080));
        let p = url("socks5h://alice@proxy:99");
        assert_eq!((p.host.as_str(), p.port), ("proxy", 99));
        let p = url("socks5h://alice:s3cret@proxy");
        assert_eq!(p.username.as_deref(), Some("alice"));
        assert_eq!(p.password.as_deref(), Some("s3cret"));
        assert_eq!((p.host.as_str(), p.port), ("proxy", 1080));
        let p = url("socks5h://alice:s3cret@127.0.0.1:1");
        assert_eq!((p.host.as_str(), p.port), ("127.0.0.1", 1));
    }

    #[test]
    fn url_quirks_as_mosquitto() {
        // A second ':' before any '@' is kept in the port, which atoi ends.
        let p = url("socks5h://h:1:2");
        assert_eq!((p.host.as_str(), p.port), ("h", 1));
        // A password may hold ':'.
        let p = url("socks5h://a:b:c@d");
        assert_eq!(p.password.as_deref(), Some("b:c"));
        // '%' in a host is not decoded.
        assert_eq!(url("socks5h://u%4").host, "u%4");
        // "u@h:" has an empty port: the default.
        assert_eq!(url("socks5h://u@h:").port, 1080);
    }

    #[test]
    fn url_escapes() {
        let p = url("socks5h://u%25%3a%3A%40:p%40w@h");
        assert_eq!(p.username.as_deref(), Some("u%::@"));
        assert_eq!(p.password.as_deref(), Some("p@w"));
    }

    #[test]
    fn url_errors() {
        assert_eq!(
            parse_url("socks5://h"),
            Err("Error: Unsupported proxy protocol: socks5://h\n".into())
        );
        assert_eq!(
            parse_url("socks5h://"),
            Err("Error: Invalid proxy.\n".into())
        );
        assert_eq!(
            parse_url("socks5h://h:"),
            Err("Error: Invalid proxy.\n".into())
        );
        assert_eq!(
            parse_url("socks5h://h:0"),
            Err("Error: Invalid proxy port 0\n".into())
        );
        assert_eq!(
            parse_url("socks5h://h:99999"),
            Err("Error: Invalid proxy port 99999\n".into())
        );
        assert_eq!(
            parse_url("socks5h://h:-5"),
            Err("Error: Invalid proxy port -5\n".into())
        );
        // Malformed: mosquitto says nothing.
        for u in [
            "socks5h://:1",
            "socks5h://@h",
            "socks5h://u@@h",
            "socks5h://u::p@h",
            "socks5h://u:p@h:1:2",
            "socks5h://a@b:c@d",
            "socks5h://u%41@h",
            "socks5h://u%4@h",
            "socks5h://u:p%@h",
        ] {
            assert_eq!(parse_url(u), Err(String::new()), "{u}");
        }
    }

    #[test]
    fn lengths_libmosquitto_refuses() {
        let mut p = url("socks5h://h");
        assert!(!p.too_long());
        p.username = Some("u".repeat(255));
        p.password = Some("p".repeat(255));
        p.host = "h".repeat(256);
        assert!(!p.too_long());
        p.host.push('h');
        assert!(p.too_long());
        p.host = "h".into();
        p.username = Some("u".repeat(256));
        assert!(p.too_long());
        p.username = None;
        p.password = Some("p".repeat(256));
        assert!(p.too_long());
    }

    #[test]
    fn greeting_bytes() {
        assert_eq!(greeting(false), [5, 1, 0]);
        assert_eq!(greeting(true), [5, 2, 0, 2]);
    }

    #[test]
    fn method_replies() {
        assert_eq!(method_reply([5, 0]), Ok(Method::NoAuth));
        assert_eq!(method_reply([5, 2]), Ok(Method::UserPass));
        assert_eq!(method_reply([5, 0xff]), Err(SocksError::Auth));
        assert_eq!(method_reply([5, 1]), Err(SocksError::Auth));
        assert_eq!(method_reply([4, 0]), Err(SocksError::Proxy));
        assert_eq!(method_reply(*b"HT"), Err(SocksError::Proxy));
    }

    #[test]
    fn auth_bytes() {
        assert_eq!(
            auth_request(b"u%", b"p:w").unwrap(),
            [1, 2, b'u', b'%', 3, b'p', b':', b'w']
        );
        assert_eq!(auth_request(b"u", b"").unwrap(), [1, 1, b'u', 0]);
        assert_eq!(auth_request(&[b'u'; 256], b""), Err(SocksError::Inval));
        assert_eq!(auth_request(b"u", &[b'p'; 256]), Err(SocksError::Inval));
        let long = auth_request(&[b'u'; 255], &[b'p'; 255]).unwrap();
        assert_eq!(long.len(), 3 + 255 + 255);
        assert_eq!((long[1], long[257]), (255, 255));
    }

    #[test]
    fn auth_replies() {
        assert_eq!(auth_reply([1, 0]), Ok(()));
        assert_eq!(auth_reply([1, 1]), Err(SocksError::Proxy));
        assert_eq!(auth_reply([1, 2]), Err(SocksError::Auth));
        assert_eq!(auth_reply([1, 5]), Err(SocksError::NoConn));
        assert_eq!(auth_reply([1, 0xff]), Err(SocksError::Inval));
        assert_eq!(auth_reply([5, 0]), Err(SocksError::Proxy));
    }

    #[test]
    fn connect_request_bytes() {
        assert_eq!(
            connect_request("10.1.2.3", 1883).unwrap(),
            [5, 1, 0, 1, 10, 1, 2, 3, 0x07, 0x5b]
        );
        assert_eq!(
            connect_request("::1", 8883).unwrap(),
            [5, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x22, 0xb3]
        );
        assert_eq!(
            connect_request("localhost", 1883).unwrap(),
            [5, 1, 0, 3, 9, b'l', b'o', b'c', b'a', b'l', b'h', b'o', b's', b't', 0x07, 0x5b]
        );
        // Not IP literals: sent as names.
        for name in ["010.1.2.3", "1.2.3", "[::1]", "fe80::1%lo"] {
            let m = connect_request(name, 1).unwrap();
            assert_eq!(m[3], 3, "{name}");
        }
        assert_eq!(
            connect_request(&"h".repeat(255), 1).unwrap().len(),
            5 + 255 + 2
        );
        assert_eq!(connect_request(&"h".repeat(256), 1), Err(SocksError::NoMem));
    }

    #[test]
    fn reply_lengths() {
        assert_eq!(reply_len([5, 0, 0, 1, 0]), Ok(10));
        assert_eq!(reply_len([5, 0, 0, 4, 0]), Ok(22));
        assert_eq!(reply_len([5, 0, 0, 3, 9]), Ok(16));
        assert_eq!(reply_len([5, 0, 0, 3, 0]), Ok(7));
        assert_eq!(reply_len([5, 0, 0, 3, 255]), Ok(262));
        assert_eq!(reply_len([5, 0, 0, 0, 0]), Err(SocksError::Protocol));
        assert_eq!(reply_len([5, 0, 0, 7, 0]), Err(SocksError::Protocol));
        assert_eq!(reply_len(*b"HTTP/"), Err(SocksError::Protocol));
    }

    #[test]
    fn connect_replies() {
        let ok = [5, 0, 0, 1, 127, 0, 0, 1, 0x04, 0x38];
        assert_eq!(connect_reply(&ok), Ok(()));
        let expect = [
            (1, SocksError::Proxy),
            (2, SocksError::Auth),
            (3, SocksError::NoConn),
            (4, SocksError::NoConn),
            (5, SocksError::NoConn),
            (6, SocksError::Proxy),
            (7, SocksError::Proxy),
            (8, SocksError::Proxy),
            (9, SocksError::Inval),
            (0xff, SocksError::Inval),
        ];
        for (code, e) in expect {
            let r = [5, code, 0, 1, 0, 0, 0, 0, 0, 0];
            assert_eq!(connect_reply(&r), Err(e), "{code}");
        }
        assert_eq!(
            connect_reply(&[4, 0, 0, 1, 0, 0, 0, 0, 0, 0]),
            Err(SocksError::Proxy)
        );
        assert_eq!(connect_reply(&[5]), Err(SocksError::Proxy));
        assert_eq!(connect_reply(&[]), Err(SocksError::Proxy));
    }

    #[test]
    fn error_words_and_codes() {
        assert_eq!(
            (SocksError::Proxy.code(), SocksError::Proxy.message()),
            (16, "Proxy error.")
        );
        assert_eq!(
            (SocksError::Auth.code(), SocksError::Auth.message()),
            (11, "Authorisation failed.")
        );
        assert_eq!(
            (SocksError::NoConn.code(), SocksError::NoConn.message()),
            (4, "The client is not currently connected.")
        );
        assert_eq!(SocksError::Inval.code(), 3);
        assert_eq!(SocksError::Protocol.code(), 2);
        assert_eq!(SocksError::NoMem.code(), 1);
    }
}
