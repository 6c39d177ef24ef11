//! libmosquitto's numbers: error codes, option identifiers, log levels.

pub const MOSQ_ERR_AUTH_CONTINUE: i32 = -4;
pub const MOSQ_ERR_NO_SUBSCRIBERS: i32 = -3;
pub const MOSQ_ERR_SUB_EXISTS: i32 = -2;
pub const MOSQ_ERR_CONN_PENDING: i32 = -1;
pub const SUCCESS: i32 = 0;
pub const NOMEM: i32 = 1;
pub const PROTOCOL: i32 = 2;
pub const INVAL: i32 = 3;
pub const NO_CONN: i32 = 4;
pub const CONN_REFUSED: i32 = 5;
pub const CONN_LOST: i32 = 7;
pub const TLS: i32 = 8;
pub const PAYLOAD_SIZE: i32 = 9;
pub const NOT_SUPPORTED: i32 = 10;
pub const ERRNO: i32 = 14;
pub const EAI: i32 = 15;
pub const PROXY: i32 = 16;
pub const MALFORMED_UTF8: i32 = 18;
pub const KEEPALIVE: i32 = 19;
pub const MALFORMED_PACKET: i32 = 21;
pub const DUPLICATE_PROPERTY: i32 = 22;
pub const QOS_NOT_SUPPORTED: i32 = 24;
pub const OVERSIZE_PACKET: i32 = 25;
pub const RETAIN_NOT_SUPPORTED: i32 = 28;

pub const OPT_PROTOCOL_VERSION: i32 = 1;
pub const OPT_SSL_CTX: i32 = 2;
pub const OPT_SSL_CTX_WITH_DEFAULTS: i32 = 3;
pub const OPT_RECEIVE_MAXIMUM: i32 = 4;
pub const OPT_SEND_MAXIMUM: i32 = 5;
pub const OPT_TLS_KEYFORM: i32 = 6;
pub const OPT_TLS_ENGINE: i32 = 7;
pub const OPT_TLS_ENGINE_KPASS_SHA1: i32 = 8;
pub const OPT_TLS_OCSP_REQUIRED: i32 = 9;
pub const OPT_TLS_ALPN: i32 = 10;
pub const OPT_TCP_NODELAY: i32 = 11;
pub const OPT_BIND_ADDRESS: i32 = 12;
pub const OPT_TLS_USE_OS_CERTS: i32 = 13;

pub const LOG_ERR: i32 = 8;
pub const LOG_DEBUG: i32 = 16;

/// The version this library's ABI and behaviour follow.
pub const VERSION: (i32, i32, i32) = (2, 0, 11);

/// Text of each error code, as `mosquitto_strerror` gives it.
pub fn strerror(rc: i32) -> &'static str {
    match rc {
        MOSQ_ERR_AUTH_CONTINUE => "Continue with authentication.",
        MOSQ_ERR_NO_SUBSCRIBERS => "No subscribers.",
        MOSQ_ERR_SUB_EXISTS => "Subscription already exists.",
        MOSQ_ERR_CONN_PENDING => "Connection pending.",
        0 => "No error.",
        1 => "Out of memory.",
        2 => "A network protocol error occurred when communicating with the broker.",
        3 => "Invalid function arguments provided.",
        4 => "The client is not currently connected.",
        5 => "The connection was refused.",
        6 => "Message not found (internal error).",
        7 => "The connection was lost.",
        8 => "A TLS error occurred.",
        9 => "Payload too large.",
        10 => "This feature is not supported.",
        11 => "Authorisation failed.",
        12 => "Access denied by ACL.",
        13 => "Unknown error.",
        // 14 (errno) is answered by the caller with strerror(errno).
        14 => "Error defined by errno.",
        15 => "Lookup error.",
        16 => "Proxy error.",
        18 => "Malformed UTF-8",
        22 => "Duplicate property in property list",
        23 => "TLS handshake failed.",
        24 => "Requested QoS not supported on server.",
        25 => "Packet larger than supported by the server.",
        26 => "OCSP error.",
        _ => "Unknown error.",
    }
}

/// Text of a 3.1.1 CONNACK return code (`mosquitto_connack_string`).
pub fn connack_string(code: i32) -> &'static str {
    match code {
        0 => "Connection Accepted.",
        1 => "Connection Refused: unacceptable protocol version.",
        2 => "Connection Refused: identifier rejected.",
        3 => "Connection Refused: broker unavailable.",
        4 => "Connection Refused: bad user name or password.",
        5 => "Connection Refused: not authorised.",
        _ => "Connection Refused: unknown reason.",
    }
}
