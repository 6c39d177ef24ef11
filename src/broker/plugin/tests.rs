//! Unit tests of the exported C API and the registry, called as a plugin
//! would call them.

use std::ffi::{c_int, c_void, CString};
use std::ptr::null;

use super::api::*;
use super::ffi::*;
use super::registry::{self, Action, Domain, PluginId, REGISTRY};

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

#[test]
fn topic_checks_match_mosquitto() {
    assert_eq!(
        mosquitto_pub_topic_check(c("a/b").as_ptr()),
        MOSQ_ERR_SUCCESS
    );
    assert_eq!(mosquitto_pub_topic_check(c("a/+").as_ptr()), MOSQ_ERR_INVAL);
    assert_eq!(mosquitto_pub_topic_check(null()), MOSQ_ERR_INVAL);
    assert_eq!(
        mosquitto_sub_topic_check(c("a/+/#").as_ptr()),
        MOSQ_ERR_SUCCESS
    );
    assert_eq!(
        mosquitto_sub_topic_check(c("a/b#").as_ptr()),
        MOSQ_ERR_INVAL
    );
    assert_eq!(mosquitto_sub_topic_check(null()), MOSQ_ERR_INVAL);
    let mut m = true;
    let rc = mosquitto_topic_matches_sub(c("a/+").as_ptr(), c("a/b").as_ptr(), &mut m);
    assert_eq!((rc, m), (MOSQ_ERR_SUCCESS, true));
    let rc = mosquitto_topic_matches_sub(c("#").as_ptr(), c("$SYS/x").as_ptr(), &mut m);
    assert_eq!((rc, m), (MOSQ_ERR_SUCCESS, false));
    let rc = mosquitto_topic_matches_sub(c("a/#/b").as_ptr(), c("a/x/b").as_ptr(), &mut m);
    assert_eq!((rc, m), (MOSQ_ERR_INVAL, false));
    let rc = mosquitto_topic_matches_sub(null(), c("a").as_ptr(), &mut m);
    assert_eq!(rc, MOSQ_ERR_INVAL);
    let rc = mosquitto_topic_matches_sub(c("a").as_ptr(), c("a").as_ptr(), std::ptr::null_mut());
    assert_eq!(rc, MOSQ_ERR_INVAL);
}

#[test]
fn utf8_validation_refuses_what_mqtt_refuses() {
    let ok = "héllo";
    assert_eq!(
        mosquitto_validate_utf8(ok.as_ptr().cast(), ok.len() as c_int),
        MOSQ_ERR_SUCCESS
    );
    for bad in [&b"a\0b"[..], b"\xff", b"\x01", b"\xed\xa0\x80"] {
        assert_eq!(
            mosquitto_validate_utf8(bad.as_ptr().cast(), bad.len() as c_int),
            MOSQ_ERR_MALFORMED_UTF8,
            "{bad:?}"
        );
    }
    assert_eq!(mosquitto_validate_utf8(null(), 0), MOSQ_ERR_INVAL);
    assert_eq!(
        mosquitto_validate_utf8(ok.as_ptr().cast(), -1),
        MOSQ_ERR_INVAL
    );
    assert_eq!(
        mosquitto_validate_utf8(ok.as_ptr().cast(), 70000),
        MOSQ_ERR_INVAL
    );
}

#[test]
fn null_clients_and_strings_are_refused() {
    assert!(mosquitto_client_id(null()).is_null());
    assert!(mosquitto_client_username(null()).is_null());
    assert!(mosquitto_client_address(null()).is_null());
    assert_eq!(mosquitto_client_keepalive(null()), -1);
    assert!(!mosquitto_client_clean_session(null()));
    assert_eq!(
        mosquitto_set_username(std::ptr::null_mut(), null()),
        MOSQ_ERR_INVAL
    );
    assert!(mosquitto_strdup(null()).is_null());
    assert_eq!(
        mosquitto_callback_register(
            std::ptr::null_mut(),
            MOSQ_EVT_TICK,
            None,
            null(),
            std::ptr::null_mut()
        ),
        MOSQ_ERR_INVAL
    );
}

#[test]
fn publish_is_checked_then_queued_with_a_copy() {
    registry::take_actions();
    let payload = b"hi";
    // Bad arguments: nothing queued.
    let bad = [
        mosquitto_broker_publish_copy(
            null(),
            null(),
            2,
            payload.as_ptr().cast(),
            0,
            false,
            std::ptr::null_mut(),
        ),
        mosquitto_broker_publish_copy(
            null(),
            c("t").as_ptr(),
            -1,
            payload.as_ptr().cast(),
            0,
            false,
            std::ptr::null_mut(),
        ),
        mosquitto_broker_publish_copy(
            null(),
            c("t").as_ptr(),
            2,
            null(),
            0,
            false,
            std::ptr::null_mut(),
        ),
        mosquitto_broker_publish_copy(
            null(),
            c("t").as_ptr(),
            2,
            payload.as_ptr().cast(),
            3,
            false,
            std::ptr::null_mut(),
        ),
        mosquitto_broker_publish_copy(
            null(),
            c("t/#").as_ptr(),
            2,
            payload.as_ptr().cast(),
            0,
            false,
            std::ptr::null_mut(),
        ),
    ];
    assert!(bad.iter().all(|rc| *rc == MOSQ_ERR_INVAL), "{bad:?}");
    assert!(!registry::has_actions());
    let rc = mosquitto_broker_publish_copy(
        c("cid").as_ptr(),
        c("t").as_ptr(),
        2,
        payload.as_ptr().cast(),
        1,
        true,
        std::ptr::null_mut(),
    );
    assert_eq!(rc, MOSQ_ERR_SUCCESS);
    // The owning variant frees what it is given (checked under valgrind/ASan
    // by whoever runs them; here: it is accepted and queued).
    let owned = mosquitto_malloc(3);
    assert!(!owned.is_null());
    // SAFETY: 3 bytes just allocated.
    unsafe { std::ptr::copy_nonoverlapping(b"abc".as_ptr(), owned.cast::<u8>(), 3) };
    let mut props: *mut Property = std::ptr::null_mut();
    assert_eq!(
        mosquitto_property_add_string(&mut props, 3, c("x").as_ptr()),
        MOSQ_ERR_SUCCESS
    );
    // Not a PUBLISH property: left out of the message.
    assert_eq!(
        mosquitto_property_add_string(&mut props, 0x1F, c("why").as_ptr()),
        MOSQ_ERR_SUCCESS
    );
    let rc = mosquitto_broker_publish(null(), c("u").as_ptr(), 3, owned, 0, false, props);
    assert_eq!(rc, MOSQ_ERR_SUCCESS);
    assert_eq!(
        registry::take_actions(),
        [
            Action::Publish {
                client_id: Some("cid".into()),
                topic: "t".into(),
                payload: b"hi".to_vec(),
                qos: 1,
                retain: true,
                properties: Default::default(),
            },
            Action::Publish {
                client_id: None,
                topic: "u".into(),
                payload: b"abc".to_vec(),
                qos: 0,
                retain: false,
                properties: crate::protocol::Properties(vec![(
                    3,
                    crate::protocol::PropertyValue::String("x".into())
                )]),
            }
        ]
    );
}

#[test]
fn kicks_are_queued() {
    registry::take_actions();
    mosquitto_kick_client_by_username(c("bob").as_ptr(), false);
    mosquitto_kick_client_by_clientid(c("c1").as_ptr(), true);
    mosquitto_kick_client_by_username(null(), true);
    assert_eq!(
        registry::take_actions(),
        [
            Action::KickUsername {
                username: "bob".into(),
                with_will: false
            },
            Action::KickClientId {
                client_id: "c1".into(),
                with_will: true
            },
            Action::KickAll { with_will: true },
        ]
    );
}

unsafe extern "C" fn cb_a(_: c_int, _: *mut c_void, _: *mut c_void) -> c_int {
    MOSQ_ERR_SUCCESS
}

unsafe extern "C" fn cb_b(_: c_int, _: *mut c_void, _: *mut c_void) -> c_int {
    MOSQ_ERR_PLUGIN_DEFER
}

#[test]
fn callbacks_register_once_and_unregister_as_mosquitto() {
    let domain = REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        r.domains.push(Domain::default());
        r.domains.len() - 1
    });
    let mut id = PluginId { domain };
    let id_p: *mut PluginId = &mut id;
    let none = std::ptr::null_mut();
    let reg = |ev, f, data| mosquitto_callback_register(id_p, ev, Some(f), data, none);
    assert_eq!(reg(MOSQ_EVT_ACL_CHECK, cb_a, null()), MOSQ_ERR_SUCCESS);
    assert_eq!(reg(MOSQ_EVT_ACL_CHECK, cb_b, null()), MOSQ_ERR_SUCCESS);
    assert_eq!(
        reg(MOSQ_EVT_ACL_CHECK, cb_a, null()),
        MOSQ_ERR_ALREADY_EXISTS
    );
    assert_eq!(reg(99, cb_a, null()), MOSQ_ERR_NOT_SUPPORTED);
    assert_eq!(reg(0, cb_a, null()), MOSQ_ERR_NOT_SUPPORTED);
    // A control callback needs its topic.
    assert_eq!(reg(MOSQ_EVT_CONTROL, cb_a, null()), MOSQ_ERR_INVAL);
    let topic = c("$CONTROL/x/v1");
    assert_eq!(
        reg(MOSQ_EVT_CONTROL, cb_a, topic.as_ptr().cast()),
        MOSQ_ERR_SUCCESS
    );
    assert_eq!(
        reg(MOSQ_EVT_CONTROL, cb_b, topic.as_ptr().cast()),
        MOSQ_ERR_ALREADY_EXISTS
    );
    assert_eq!(registry::callbacks(domain, MOSQ_EVT_ACL_CHECK).len(), 2);

    // First non-defer answer counts; cb_a (success) comes first.
    let chain = super::Chain::new(domain);
    assert_eq!(
        chain.acl_check("c", None, "t", MOSQ_ACL_READ, Default::default()),
        super::Verdict::Allow
    );
    let unreg = |ev, f, data| mosquitto_callback_unregister(id_p, ev, Some(f), data);
    assert_eq!(unreg(MOSQ_EVT_ACL_CHECK, cb_a, null()), MOSQ_ERR_SUCCESS);
    assert_eq!(unreg(MOSQ_EVT_ACL_CHECK, cb_a, null()), MOSQ_ERR_NOT_FOUND);
    // Only cb_b (defer) left: everybody deferred.
    assert_eq!(
        chain.acl_check("c", None, "t", MOSQ_ACL_READ, Default::default()),
        super::Verdict::Defer { asked: true }
    );
    assert_eq!(
        unreg(MOSQ_EVT_CONTROL, cb_a, topic.as_ptr().cast()),
        MOSQ_ERR_SUCCESS
    );
    assert_eq!(
        unreg(MOSQ_EVT_CONTROL, cb_a, topic.as_ptr().cast()),
        MOSQ_ERR_NOT_FOUND
    );
}

#[test]
fn peer_addresses_lose_their_port() {
    assert_eq!(super::address_of("127.0.0.1:1883"), "127.0.0.1");
    assert_eq!(super::address_of("[::1]:1883"), "::1");
    assert_eq!(super::address_of("/tmp/sock:0"), "/tmp/sock");
    assert_eq!(super::address_of(""), "");
}

#[test]
fn c_strings_stop_at_a_nul() {
    assert_eq!(super::c_bytes(b"ab\0cd").as_bytes(), b"ab");
    assert_eq!(super::c_string("x\0y").as_bytes(), b"x");
}

/// The client pointer the last start event saw, for the continue event to
/// check that the view stayed where it was.
static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Extended auth: a challenge naming the client and its address once, then
/// accepts the answer "42" from the same client view.
unsafe extern "C" fn ext_start(_: c_int, data: *mut c_void, _: *mut c_void) -> c_int {
    // SAFETY: the broker passes its EvtExtendedAuth for this event.
    let ev = unsafe { &mut *data.cast::<EvtExtendedAuth>() };
    // SAFETY: the method is a NUL-terminated string from the broker.
    let method = unsafe { std::ffi::CStr::from_ptr(ev.auth_method) };
    if method.to_bytes() != b"TEST" {
        return MOSQ_ERR_NOT_SUPPORTED;
    }
    STARTED.store(ev.client as usize, std::sync::atomic::Ordering::Relaxed);
    // SAFETY: the broker's NUL-terminated strings, alive during the call.
    let (id, addr) = unsafe {
        (
            std::ffi::CStr::from_ptr(mosquitto_client_id(ev.client)),
            std::ffi::CStr::from_ptr(mosquitto_client_address(ev.client)),
        )
    };
    let text = format!(
        "challenge {} {}",
        id.to_str().unwrap(),
        addr.to_str().unwrap()
    );
    ev.data_out = mosquitto_strdup(c(&text).as_ptr()).cast();
    ev.data_out_len = text.len() as u16;
    MOSQ_ERR_AUTH_CONTINUE
}

unsafe extern "C" fn ext_continue(_: c_int, data: *mut c_void, _: *mut c_void) -> c_int {
    // SAFETY: as above.
    let ev = unsafe { &mut *data.cast::<EvtExtendedAuth>() };
    if ev.client as usize != STARTED.load(std::sync::atomic::Ordering::Relaxed) {
        return MOSQ_ERR_INVAL;
    }
    if ev.data_in.is_null() {
        return MOSQ_ERR_AUTH;
    }
    // SAFETY: data_in holds data_in_len bytes.
    let input =
        unsafe { std::slice::from_raw_parts(ev.data_in.cast::<u8>(), usize::from(ev.data_in_len)) };
    if input == b"42" {
        MOSQ_ERR_SUCCESS
    } else {
        MOSQ_ERR_AUTH
    }
}

#[test]
fn extended_auth_start_and_continue() {
    use super::{AuthCall, ClientFacts, ExtAuth};
    let domain = REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        r.domains.push(Domain::default());
        r.domains.len() - 1
    });
    let chain = super::Chain::new(domain);
    let facts = ClientFacts {
        id: "ext-1",
        username: None,
        peer: "127.0.0.1:5",
        certificate: None,
        protocol_version: 5,
        keepalive: 60,
        clean: true,
        conn: 1001,
        websockets: false,
    };
    let (start, cont) = (AuthCall::Start, AuthCall::Continue { connected: false });
    // No callback: the method is not supported.
    assert_eq!(
        chain.extended_auth(start, &facts, "TEST", None),
        ExtAuth::NotSupported
    );
    let mut id = PluginId { domain };
    let id_p: *mut PluginId = &mut id;
    let none = std::ptr::null_mut();
    mosquitto_callback_register(id_p, MOSQ_EVT_EXT_AUTH_START, Some(ext_start), null(), none);
    mosquitto_callback_register(
        id_p,
        MOSQ_EVT_EXT_AUTH_CONTINUE,
        Some(ext_continue),
        null(),
        none,
    );
    let pending = || REGISTRY.with(|r| r.borrow().pending.contains_key(&1001));
    let known = || REGISTRY.with(|r| r.borrow().clients.contains_key("ext-1"));
    assert_eq!(
        chain.extended_auth(start, &facts, "OTHER", None),
        ExtAuth::NotSupported
    );
    assert!(!pending());
    let challenge = b"challenge ext-1 127.0.0.1".to_vec();
    assert_eq!(
        chain.extended_auth(start, &facts, "TEST", Some(b"hello")),
        ExtAuth::Continue(challenge.clone())
    );
    assert!(pending() && !known());
    assert_eq!(
        chain.extended_auth(cont, &facts, "TEST", Some(b"41")),
        ExtAuth::Denied
    );
    assert!(!pending() && !known());
    // No exchange under way on this connection: refused without a call.
    assert_eq!(
        chain.extended_auth(cont, &facts, "TEST", Some(b"42")),
        ExtAuth::Denied
    );
    assert_eq!(
        chain.extended_auth(start, &facts, "TEST", None),
        ExtAuth::Continue(challenge.clone())
    );
    assert_eq!(
        chain.extended_auth(cont, &facts, "TEST", Some(b"42")),
        ExtAuth::Success(Vec::new())
    );
    assert!(!pending() && known());
    // Another connection's refused attempt at the same id leaves the
    // connected client's view alone; a closed one's exchange is dropped.
    let other = ClientFacts {
        conn: 1002,
        ..facts
    };
    chain.extended_auth(start, &other, "TEST", None);
    chain.extended_auth(cont, &other, "TEST", Some(b"no"));
    assert!(known());
    chain.extended_auth(start, &other, "TEST", None);
    super::auth_abandoned(1002);
    assert!(REGISTRY.with(|r| r.borrow().pending.is_empty()));
    // Re-authentication runs with the connected client's view.
    let reauth = chain.extended_auth(AuthCall::Reauth, &facts, "TEST", None);
    assert_eq!(reauth, ExtAuth::Continue(challenge));
    let connected = AuthCall::Continue { connected: true };
    assert_eq!(
        chain.extended_auth(connected, &facts, "TEST", Some(b"42")),
        ExtAuth::Success(Vec::new())
    );
    REGISTRY.with(|r| r.borrow_mut().clients.remove("ext-1"));
}

unsafe extern "C" fn refuse_all(_: c_int, _: *mut c_void, _: *mut c_void) -> c_int {
    MOSQ_ERR_AUTH
}

#[test]
fn refused_logins_leave_no_client_view() {
    use super::{ClientFacts, Verdict};
    let domain = REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        r.domains.push(Domain::default());
        r.domains.len() - 1
    });
    let mut id = PluginId { domain };
    let none = std::ptr::null_mut();
    let rc =
        mosquitto_callback_register(&mut id, MOSQ_EVT_BASIC_AUTH, Some(refuse_all), null(), none);
    assert_eq!(rc, MOSQ_ERR_SUCCESS);
    let facts = ClientFacts {
        id: "refused-1",
        username: Some("u"),
        peer: "127.0.0.1:9",
        certificate: None,
        protocol_version: 4,
        keepalive: 60,
        clean: true,
        conn: 3,
        websockets: false,
    };
    let files = crate::broker::security::SecurityFiles {
        plugins: super::Chain::new(domain),
        ..Default::default()
    };
    assert_eq!(
        super::Chain::new(domain).basic_auth(&facts, Some(b"p")),
        Verdict::Deny
    );
    let known = || REGISTRY.with(|r| r.borrow().clients.contains_key("refused-1"));
    assert!(known());
    super::forget_client("refused-1", 4); // another connection's: kept
    assert!(known());
    assert!(files.authenticate_client(true, &facts, Some(b"p")).is_err());
    assert!(!known());
}

#[test]
fn message_codes_map_to_mosquittos_answers() {
    use super::MessageRefusal as R;
    assert_eq!(R::from_rc(MOSQ_ERR_ACL_DENIED), R::Denied);
    assert_eq!(R::from_rc(MOSQ_ERR_UNKNOWN), R::Close(Some(0x80)));
    assert_eq!(R::from_rc(MOSQ_ERR_NOMEM), R::Close(Some(0x80)));
    assert_eq!(R::from_rc(MOSQ_ERR_PROTOCOL), R::Close(Some(0x82)));
    assert_eq!(R::from_rc(MOSQ_ERR_MALFORMED_PACKET), R::Close(Some(0x81)));
    assert_eq!(R::from_rc(MOSQ_ERR_QOS_NOT_SUPPORTED), R::Close(Some(0x9B)));
    assert_eq!(
        R::from_rc(MOSQ_ERR_RETAIN_NOT_SUPPORTED),
        R::Close(Some(0x9A))
    );
    assert_eq!(
        R::from_rc(MOSQ_ERR_TOPIC_ALIAS_INVALID),
        R::Close(Some(0x94))
    );
    assert_eq!(R::from_rc(MOSQ_ERR_AUTH), R::Close(None));
    assert_eq!(R::from_rc(-99), R::Close(None));
}
