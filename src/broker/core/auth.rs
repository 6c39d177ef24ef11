//! The hook for MQTT 5 enhanced authentication (CONNECT with an
//! authentication method, AUTH exchanges, re-authentication). The core asks
//! an `ExtendedAuth` backend, when one is installed (`Core::auth`), what to
//! answer at each step; without one every authentication method is refused
//! with CONNACK 0x8C and AUTH is a protocol error, as mosquitto without an
//! authentication plugin.

use crate::broker::plugin::ClientFacts;

/// A backend's verdict on one step of an authentication exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthStep {
    /// Authenticated; the data (if any) goes back in the CONNACK.
    Success(Option<Vec<u8>>),
    /// Another round: the data goes to the client in AUTH 0x18, and its
    /// answering AUTH to `ExtendedAuth::step`.
    Continue(Vec<u8>),
    /// Authentication failed: CONNACK 0x87.
    Denied,
    /// The backend does not know this method: CONNACK 0x8C.
    NotSupported,
    /// The backend failed otherwise (a plugin's unknown code): the
    /// connection closes without a CONNACK or AUTH, as mosquitto 2.0's.
    Failed,
}

/// Who is authenticating, as the core knows it: a CONNECT that passed its
/// other checks, or a connected client re-authenticating (for a connected
/// client `facts.username` is the session's and `facts.clean` whether the
/// session ends with the connection; `facts.conn` is the same for every
/// step of one exchange).
#[derive(Debug, Clone, Copy)]
pub struct AuthClient<'a> {
    pub facts: ClientFacts<'a>,
    /// The security domain that applies (the listener's with
    /// `per_listener_settings`, else the global one).
    pub security: usize,
}

/// An enhanced authentication backend (the plugins', `core::PluginAuth`).
pub trait ExtendedAuth {
    /// A CONNECT names `method`, with optional `data` (`reauth` false), or
    /// a connected client sent AUTH 0x19 (`reauth` true).
    fn start(
        &mut self,
        client: &AuthClient,
        method: &str,
        data: Option<&[u8]>,
        reauth: bool,
    ) -> AuthStep;

    /// The client's AUTH 0x18 answering our `Continue`; `reauth` when the
    /// exchange is a re-authentication.
    fn step(
        &mut self,
        client: &AuthClient,
        method: &str,
        data: Option<&[u8]>,
        reauth: bool,
    ) -> AuthStep {
        let _ = (client, method, data, reauth);
        AuthStep::Denied
    }

    /// The username the backend gave the client during the exchange that
    /// just succeeded, if it changed it (`Some(None)`: removed).
    fn username(&mut self, client_id: &str, security: usize) -> Option<Option<String>> {
        let _ = (client_id, security);
        None
    }

    /// Connection `conn` closed in the middle of its CONNECT's exchange.
    fn abandon(&mut self, conn: u32) {
        let _ = conn;
    }
}
