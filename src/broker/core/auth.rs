//! The hook for MQTT 5 enhanced authentication (CONNECT with an
//! authentication method, AUTH exchanges, re-authentication). The core asks
//! an `ExtendedAuth` backend, when one is installed (`Core::auth`), what to
//! answer at each step; without one every authentication method is refused
//! with CONNACK 0x8C and AUTH is a protocol error, as mosquitto without an
//! authentication plugin.

/// A backend's verdict on one step of an authentication exchange.
// Backends build it: the tests' today, a plugin's later.
#[allow(dead_code)]
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
}

/// An enhanced authentication backend (a plugin, later).
pub trait ExtendedAuth {
    /// A CONNECT from `client_id` names `method`, with optional `data`;
    /// also a re-authentication (AUTH 0x19) of a connected client.
    fn start(&mut self, client_id: &str, method: &str, data: Option<&[u8]>) -> AuthStep;

    /// The client's AUTH 0x18 answering our `Continue`.
    fn step(&mut self, client_id: &str, method: &str, data: Option<&[u8]>) -> AuthStep {
        let _ = (client_id, method, data);
        AuthStep::Denied
    }
}
