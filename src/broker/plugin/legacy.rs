//! Version 2, 3 and 4 auth plugins (`mosquitto_auth_*` functions): loaded,
//! initialised and called as mosquitto 2.0 does.

use std::ffi::{c_char, c_int, c_void, CStr};

use super::ffi::{self, AclMsg, MosquittoOpt};
use super::loader::{symbol, Options};

type Init = unsafe extern "C" fn(*mut *mut c_void, *mut MosquittoOpt, c_int) -> c_int;
type Cleanup = unsafe extern "C" fn(*mut c_void, *mut MosquittoOpt, c_int) -> c_int;
type SecInit = unsafe extern "C" fn(*mut c_void, *mut MosquittoOpt, c_int, bool) -> c_int;
type AclV34 = unsafe extern "C" fn(*mut c_void, c_int, *mut c_void, *const AclMsg) -> c_int;
type AclV2 =
    unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, *const c_char, c_int) -> c_int;
type UnpwdV34 =
    unsafe extern "C" fn(*mut c_void, *mut c_void, *const c_char, *const c_char) -> c_int;
type UnpwdV2 = unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char) -> c_int;
type PskV34 = unsafe extern "C" fn(
    *mut c_void,
    *mut c_void,
    *const c_char,
    *const c_char,
    *mut c_char,
    c_int,
) -> c_int;
type PskV2 =
    unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, *mut c_char, c_int) -> c_int;

type AuthStart = unsafe extern "C" fn(
    *mut c_void,
    *mut c_void,
    *const c_char,
    bool,
    *const c_void,
    u16,
    *mut *mut c_void,
    *mut u16,
) -> c_int;
type AuthContinue = unsafe extern "C" fn(
    *mut c_void,
    *mut c_void,
    *const c_char,
    *const c_void,
    u16,
    *mut *mut c_void,
    *mut u16,
) -> c_int;

#[derive(Clone, Copy)]
enum Psk {
    V34(PskV34),
    V2(PskV2),
}

#[derive(Clone, Copy)]
enum Acl {
    V34(AclV34),
    V2(AclV2),
}

#[derive(Clone, Copy)]
enum Unpwd {
    V34(UnpwdV34),
    V2(UnpwdV2),
}

/// One loaded version 2–4 plugin.
#[derive(Clone)]
pub(super) struct Legacy {
    pub deny_special: bool,
    user_data: *mut c_void,
    opts: *mut MosquittoOpt,
    opt_count: c_int,
    cleanup: Cleanup,
    security_cleanup: SecInit,
    acl: Acl,
    unpwd: Option<Unpwd>,
    psk: Psk,
    /// Version 4's optional extended authentication (both or neither).
    ext: Option<(AuthStart, AuthContinue)>,
}

fn required(lib: *mut c_void, name: &CStr) -> Result<*mut c_void, Vec<String>> {
    symbol(lib, name).ok_or_else(|| {
        vec![format!(
            "Error: Unable to load auth plugin function {}().",
            name.to_string_lossy()
        )]
    })
}

/// Casts a symbol to its known function type.
///
/// # Safety
/// `F` must be the symbol's real C signature.
unsafe fn cast<F: Copy>(p: *mut c_void) -> F {
    // SAFETY: the caller's contract; F is a function pointer type.
    unsafe { std::mem::transmute_copy::<*mut c_void, F>(&p) }
}

impl Legacy {
    /// Looks up the functions of `version`, then calls
    /// `mosquitto_auth_plugin_init` and `mosquitto_auth_security_init`.
    pub fn load(
        lib: *mut c_void,
        version: c_int,
        deny_special: bool,
        options: &mut Options,
    ) -> Result<Legacy, Vec<String>> {
        let init = required(lib, c"mosquitto_auth_plugin_init")?;
        let cleanup = required(lib, c"mosquitto_auth_plugin_cleanup")?;
        let sec_init = required(lib, c"mosquitto_auth_security_init")?;
        let sec_cleanup = required(lib, c"mosquitto_auth_security_cleanup")?;
        let acl = required(lib, c"mosquitto_auth_acl_check")?;
        let unpwd = required(lib, c"mosquitto_auth_unpwd_check")?;
        let psk = required(lib, c"mosquitto_auth_psk_key_get")?;
        // SAFETY: the signatures of mosquitto_plugin.h (and, for version 2,
        // of mosquitto 1.3's header) for these symbols.
        let (init, cleanup, sec_init, security_cleanup): (Init, Cleanup, SecInit, SecInit) =
            unsafe { (cast(init), cast(cleanup), cast(sec_init), cast(sec_cleanup)) };
        // SAFETY: as above, per version.
        let (acl, unpwd, psk) = unsafe {
            if version == 2 {
                (
                    Acl::V2(cast(acl)),
                    Unpwd::V2(cast(unpwd)),
                    Psk::V2(cast(psk)),
                )
            } else {
                (
                    Acl::V34(cast(acl)),
                    Unpwd::V34(cast(unpwd)),
                    Psk::V34(cast(psk)),
                )
            }
        };
        let ext = match (
            version == 4,
            symbol(lib, c"mosquitto_auth_start"),
            symbol(lib, c"mosquitto_auth_continue"),
        ) {
            // SAFETY: the version 4 signatures of these symbols.
            (true, Some(a), Some(b)) => Some(unsafe { (cast(a), cast(b)) }),
            (true, Some(_), None) => {
                return Err(vec![
                    "Error: Plugin has missing mosquitto_auth_continue() function.".into(),
                ])
            }
            _ => None,
        };
        let mut user_data: *mut c_void = std::ptr::null_mut();
        let (opts, opt_count) = (options.ptr(), options.count());
        // SAFETY: the plugin's own init with options that outlive it.
        let rc = unsafe { init(&mut user_data, opts, opt_count) };
        if rc != ffi::MOSQ_ERR_SUCCESS {
            return Err(vec![format!(
                "Error: Authentication plugin returned {rc} when initialising."
            )]);
        }
        // SAFETY: as above; reload false at start-up.
        let rc = unsafe { sec_init(user_data, opts, opt_count, false) };
        if rc != ffi::MOSQ_ERR_SUCCESS {
            return Err(vec![format!(
                "Error: Authentication plugin returned {rc} when initialising."
            )]);
        }
        Ok(Legacy {
            deny_special,
            user_data,
            opts,
            opt_count,
            cleanup,
            security_cleanup,
            acl,
            unpwd: Some(unpwd),
            psk,
            ext,
        })
    }

    /// `mosquitto_auth_security_cleanup` then `_plugin_cleanup`.
    pub fn cleanup(&self) {
        // SAFETY: the plugin's functions with what its init returned.
        unsafe {
            (self.security_cleanup)(self.user_data, self.opts, self.opt_count, false);
            (self.cleanup)(self.user_data, self.opts, self.opt_count);
        }
    }

    /// mosquitto's `acl__check_single` for this plugin (the special
    /// character rule is checked by the caller).
    pub fn acl_check(
        &self,
        access: c_int,
        client: *mut c_void,
        ids: (&CStr, Option<&CStr>),
        msg: &AclMsg,
    ) -> c_int {
        match self.acl {
            Acl::V34(f) => {
                if access == ffi::MOSQ_ACL_UNSUBSCRIBE {
                    return ffi::MOSQ_ERR_SUCCESS;
                }
                // SAFETY: live client view and message for the call.
                unsafe { f(self.user_data, access, client, msg) }
            }
            Acl::V2(f) => {
                if access == ffi::MOSQ_ACL_SUBSCRIBE || access == ffi::MOSQ_ACL_UNSUBSCRIBE {
                    return ffi::MOSQ_ERR_SUCCESS;
                }
                let user = ids.1.map_or(std::ptr::null(), |u| u.as_ptr());
                // SAFETY: NUL-terminated strings alive for the call.
                unsafe { f(self.user_data, ids.0.as_ptr(), user, msg.topic, access) }
            }
        }
    }

    /// The plugin's username/password verdict.
    pub fn unpwd_check(
        &self,
        client: *mut c_void,
        username: *const c_char,
        password: *const c_char,
    ) -> Option<c_int> {
        // SAFETY: live client view and NUL-terminated strings (or null).
        self.unpwd.map(|u| unsafe {
            match u {
                Unpwd::V34(f) => f(self.user_data, client, username, password),
                Unpwd::V2(f) => f(self.user_data, username, password),
            }
        })
    }
}

impl Legacy {
    /// The plugin's PSK for `identity`, written as hex into `key`.
    pub fn psk_key(
        &self,
        client: *mut c_void,
        hint: &CStr,
        identity: &CStr,
        key: &mut [u8],
    ) -> c_int {
        let max = c_int::try_from(key.len().saturating_sub(1)).unwrap_or(0);
        let out = key.as_mut_ptr().cast::<c_char>();
        // SAFETY: NUL-terminated strings and a buffer of max + 1 bytes.
        unsafe {
            match self.psk {
                Psk::V34(f) => f(
                    self.user_data,
                    client,
                    hint.as_ptr(),
                    identity.as_ptr(),
                    out,
                    max,
                ),
                Psk::V2(f) => f(self.user_data, hint.as_ptr(), identity.as_ptr(), out, max),
            }
        }
    }
}

/// What an extended-auth step gives back: the return code and the data
/// for the client (copied out of the plugin's allocation, which is freed).
pub(super) type AuthStep = (c_int, Vec<u8>);

/// Takes over a buffer a plugin allocated for us.
pub(super) fn take_plugin_data(p: *mut c_void, len: u16) -> Vec<u8> {
    if p.is_null() {
        return Vec::new();
    }
    // SAFETY: the plugin's buffer of `len` bytes, allocated with malloc;
    // freed right after the copy, as mosquitto does.
    let out = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), usize::from(len)) }.to_vec();
    // SAFETY: as above.
    unsafe { libc::free(p) };
    out
}

impl Legacy {
    /// `mosquitto_auth_start` / `_continue` of a version 4 plugin; None
    /// when it has no extended authentication.
    pub fn extended_auth(
        &self,
        start: Option<bool>,
        client: *mut c_void,
        method: &CStr,
        data_in: &[u8],
    ) -> Option<AuthStep> {
        let (auth_start, auth_continue) = self.ext?;
        let mut out: *mut c_void = std::ptr::null_mut();
        let mut out_len: u16 = 0;
        let len = u16::try_from(data_in.len()).unwrap_or(u16::MAX);
        let data = if data_in.is_empty() {
            std::ptr::null()
        } else {
            data_in.as_ptr().cast()
        };
        // SAFETY: live client view, NUL-terminated method, data of `len`
        // bytes, and out-pointers to our locals.
        let rc = unsafe {
            match start {
                Some(reauth) => auth_start(
                    self.user_data,
                    client,
                    method.as_ptr(),
                    reauth,
                    data,
                    len,
                    &mut out,
                    &mut out_len,
                ),
                None => auth_continue(
                    self.user_data,
                    client,
                    method.as_ptr(),
                    data,
                    len,
                    &mut out,
                    &mut out_len,
                ),
            }
        };
        Some((rc, take_plugin_data(out, out_len)))
    }
}
