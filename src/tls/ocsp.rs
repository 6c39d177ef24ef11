//! Checks of the OCSP response a server staples (`bridge_require_ocsp`).

use std::sync::OnceLock;

use openssl::error::ErrorStack;
use openssl::ex_data::Index;
use openssl::hash::MessageDigest;
use openssl::ocsp::{
    OcspCertId, OcspCertStatus, OcspFlag, OcspResponse, OcspResponseStatus, OcspRevokedStatus,
};
use openssl::ssl::{Ssl, SslRef};
use openssl::stack::Stack;
use openssl::x509::{X509Ref, X509VerifyResult, X509};

/// Where the OCSP status callback leaves its reason for refusing, so that
/// the handshake error can say more than OpenSSL's "invalid status
/// response". None if OpenSSL has no index to give (the reason is lost,
/// the refusal is not).
pub(super) fn ocsp_failure_index() -> Option<Index<Ssl, String>> {
    static INDEX: OnceLock<Option<Index<Ssl, String>>> = OnceLock::new();
    *INDEX.get_or_init(|| Ssl::new_ex_index().ok())
}

pub(super) fn ocsp_failure(ssl: &SslRef) -> Option<&str> {
    ssl.ex_data(ocsp_failure_index()?).map(String::as_str)
}

/// Seconds of clock skew allowed on the response's thisUpdate/nextUpdate,
/// as libmosquitto allows.
const OCSP_LEEWAY_SECS: u32 = 300;

/// Checks the OCSP response the server stapled, as libmosquitto's
/// `mosquitto__verify_ocsp_status_cb` does, and also that the response is
/// about the certificate the server presented (libmosquitto accepts any
/// good entry). Runs inside the handshake, after the certificate chain
/// was verified. `Err` says why the handshake must fail.
pub(super) fn check_ocsp(ssl: &SslRef) -> Result<(), String> {
    let der = match ssl.ocsp_status() {
        Some(d) if !d.is_empty() => d,
        _ => return Err("no response stapled".into()),
    };
    let resp = OcspResponse::from_der(der).map_err(|_| "invalid response".to_string())?;
    let status = resp.status();
    if status != OcspResponseStatus::SUCCESSFUL {
        return Err(format!(
            "response status {} ({})",
            response_status_name(status),
            status.as_raw()
        ));
    }
    let basic = resp
        .basic()
        .map_err(|_| "invalid response (not a basic response)".to_string())?;
    let leaf = ssl
        .peer_certificate()
        .ok_or_else(|| "the server sent no certificate".to_string())?;
    let empty;
    let chain = match ssl.peer_cert_chain() {
        Some(c) => c,
        None => {
            empty = Stack::<X509>::new().map_err(|e| first_reason(&e))?;
            &empty
        }
    };
    // The signer must chain to our CA: the server's intermediates may help
    // find it, but are not trusted by themselves.
    basic
        .verify(chain, ssl.ssl_context().cert_store(), OcspFlag::empty())
        .map_err(|e| format!("response verification failed: {}", first_reason(&e)))?;
    let issuer = find_issuer(ssl, &leaf)
        .ok_or_else(|| "the issuer of the server certificate is unknown".to_string())?;
    // Responders name certificates by SHA-1 hashes almost always; accept
    // SHA-256 too.
    let mut found = None;
    for md in [MessageDigest::sha1(), MessageDigest::sha256()] {
        let id = OcspCertId::from_cert(md, &leaf, issuer).map_err(|e| first_reason(&e))?;
        if let Some(st) = basic.find_status(&id) {
            found = Some((
                st.status,
                st.reason,
                st.check_validity(OCSP_LEEWAY_SECS, None),
            ));
            break;
        }
    }
    let (cert_status, reason, current) =
        found.ok_or_else(|| "the response is not about the server certificate".to_string())?;
    if cert_status == OcspCertStatus::REVOKED {
        return Err(format!(
            "the server certificate is revoked ({})",
            revoked_reason_name(reason)
        ));
    }
    if cert_status != OcspCertStatus::GOOD {
        return Err("the server certificate's status is unknown".into());
    }
    current.map_err(|e| format!("the response is not current: {}", first_reason(&e)))
}

/// The certificate that issued `leaf`: from the chain verified against the
/// trust store (which holds the CA even when the server does not send it),
/// else from what the server sent.
fn find_issuer<'a>(ssl: &'a SslRef, leaf: &X509Ref) -> Option<&'a X509Ref> {
    let verified = ssl.verified_chain().into_iter().flatten();
    let sent = ssl.peer_cert_chain().into_iter().flatten();
    verified
        .chain(sent)
        .find(|c| c.issued(leaf) == X509VerifyResult::OK)
}

/// OpenSSL's reason for the first error on the stack, e.g. "status
/// expired", with its details ("Verify error:unable to get local issuer
/// certificate") when it has some.
fn first_reason(e: &ErrorStack) -> String {
    let Some(first) = e.errors().first() else {
        return "unknown error".into();
    };
    let reason = first.reason().unwrap_or("unknown error");
    match first.data() {
        Some(d) if !d.is_empty() => format!("{reason} ({d})"),
        _ => reason.to_string(),
    }
}

fn response_status_name(s: OcspResponseStatus) -> &'static str {
    match s {
        OcspResponseStatus::MALFORMED_REQUEST => "malformedrequest",
        OcspResponseStatus::INTERNAL_ERROR => "internalerror",
        OcspResponseStatus::TRY_LATER => "trylater",
        OcspResponseStatus::SIG_REQUIRED => "sigrequired",
        OcspResponseStatus::UNAUTHORIZED => "unauthorized",
        _ => "unknown",
    }
}

/// The CRL reason names OpenSSL prints (`OCSP_crl_reason_str`).
fn revoked_reason_name(r: OcspRevokedStatus) -> &'static str {
    match r {
        OcspRevokedStatus::UNSPECIFIED => "unspecified",
        OcspRevokedStatus::KEY_COMPROMISE => "keyCompromise",
        OcspRevokedStatus::CA_COMPROMISE => "cACompromise",
        OcspRevokedStatus::AFFILIATION_CHANGED => "affiliationChanged",
        OcspRevokedStatus::STATUS_SUPERSEDED => "superseded",
        OcspRevokedStatus::STATUS_CESSATION_OF_OPERATION => "cessationOfOperation",
        OcspRevokedStatus::STATUS_CERTIFICATE_HOLD => "certificateHold",
        OcspRevokedStatus::REMOVE_FROM_CRL => "removeFromCRL",
        _ => "no reason given",
    }
}
