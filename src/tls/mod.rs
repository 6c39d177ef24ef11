//! TLS with the system OpenSSL, as mosquitto does (`src/net.c`,
//! `lib/net_mosq.c`, `lib/tls_mosq.c`).
//!
//! Server side: [`TlsServerConfig::build`] turns a listener's TLS options
//! into an OpenSSL context (mosquitto's `net__tls_server_ctx`,
//! `net__tls_load_verify`, `net__load_certificates`); [`TlsServerConfig::accept`]
//! wraps an accepted non-blocking `mio::net::TcpStream` in a [`TlsConn`].
//! [`TlsConn`] is a `mio::event::Source`: register the `TlsConn` itself,
//! with `READABLE | WRITABLE` (a TLS read can need the socket writable and
//! the other way round). On every event of either kind:
//!
//! - call [`TlsConn::read`] until it returns `WouldBlock` (it first drives the
//!   handshake; while the handshake is not complete it returns `WouldBlock`,
//!   so a client that stalls mid-handshake costs nothing; once the handshake
//!   completes it goes on reading application data in the same call, so the
//!   CONNECT that often arrives with the client's last handshake flight is
//!   not missed under edge triggering). `Ok(0)` is end of stream; any other
//!   error (handshake failure, certificate refused, protocol error) means:
//!   close the connection;
//! - call [`TlsConn::write`] with pending output; `WouldBlock` means wait for
//!   the next event and then call `write` again *with the same unsent bytes
//!   first* (OpenSSL may already have consumed part of a record).
//! - after the handshake, [`TlsConn::peer_identity`] gives the username for
//!   `use_identity_as_username` / `use_subject_as_username` (`None`: CONNACK
//!   4, "bad username or password", as mosquitto).
//!
//! The handshake deadline is the broker's: mosquitto gives no separate
//! handshake timeout; the CONNECT timeout of the connection covers it.
//!
//! Client side (the command-line tools): [`TlsClientConfig`] over a
//! blocking `std::net::TcpStream`; bridges use it non-blocking, and may
//! require the remote broker to staple a good OCSP response
//! (`bridge_require_ocsp`, [`TlsClientOptions::ocsp_required`]).
//!
//! Layout: `options` holds the two option structs, plain data compiled in
//! every build because the config and the client tools carry them even
//! without OpenSSL; everything else needs the `tls` feature: `context`
//! (errors and helpers shared by both sides), `server` (listener
//! contexts), `client` (tools and bridges), `conn` (a non-blocking
//! connection, either side) and `ocsp` (stapled-response checks).

mod options;

pub use options::{KeyForm, TlsClientOptions, TlsServerOptions};

#[cfg(feature = "tls")]
mod client;
#[cfg(feature = "tls")]
mod conn;
#[cfg(feature = "tls")]
mod context;
#[cfg(feature = "tls")]
mod ocsp;
#[cfg(feature = "tls")]
mod server;

#[cfg(feature = "tls")]
pub use client::TlsClientConfig;
#[cfg(feature = "tls")]
pub use conn::{IdentitySource, TlsConn};
#[cfg(feature = "tls")]
pub use context::TlsError;
#[cfg(feature = "tls")]
pub use server::{PskLookup, TlsServerConfig};
