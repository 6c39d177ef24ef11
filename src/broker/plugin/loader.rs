//! `dlopen` and the interface a plugin declares: `mosquitto_plugin_version`
//! (version 5) or `mosquitto_auth_plugin_version` (4, 3, 2), then its init
//! functions, with the errors mosquitto 2.0 logs.

use std::ffi::{c_int, c_void, CStr, CString};
use std::os::unix::ffi::OsStrExt;

use super::ffi::{self, MosquittoOpt};
use super::legacy::Legacy;
use super::registry::{Domain, PluginId, REGISTRY};
use crate::config::PluginConfig;

type PluginVersion = unsafe extern "C" fn(c_int, *const c_int) -> c_int;
type AuthPluginVersion = unsafe extern "C" fn() -> c_int;
type InitV5 =
    unsafe extern "C" fn(*mut PluginId, *mut *mut c_void, *mut MosquittoOpt, c_int) -> c_int;
type CleanupV5 = unsafe extern "C" fn(*mut c_void, *mut MosquittoOpt, c_int) -> c_int;

/// A plugin's options as C sees them; the strings live as long as this.
pub(super) struct Options {
    _strings: Vec<(CString, CString)>,
    pub opts: Vec<MosquittoOpt>,
}

impl Options {
    fn new(pairs: &[(String, String)]) -> Options {
        // Config text cannot hold a NUL (the parser rejects it); an
        // impossible one becomes an empty string rather than a panic.
        let c = |s: &str| CString::new(s).unwrap_or_default();
        let strings: Vec<(CString, CString)> = pairs.iter().map(|(k, v)| (c(k), c(v))).collect();
        let opts = strings
            .iter()
            .map(|(k, v)| MosquittoOpt {
                key: k.as_ptr().cast_mut(),
                value: v.as_ptr().cast_mut(),
            })
            .collect();
        Options {
            _strings: strings,
            opts,
        }
    }

    pub fn ptr(&mut self) -> *mut MosquittoOpt {
        if self.opts.is_empty() {
            std::ptr::null_mut()
        } else {
            self.opts.as_mut_ptr()
        }
    }

    pub fn count(&self) -> c_int {
        c_int::try_from(self.opts.len()).unwrap_or(c_int::MAX)
    }
}

/// A loaded plugin: its library handle stays open for the broker's life.
pub(super) struct Loaded {
    pub path: String,
    pub options: Options,
    pub kind: Kind,
}

pub(super) enum Kind {
    V5 {
        user_data: *mut c_void,
        cleanup: CleanupV5,
    },
    /// Its functions live in the domain's `legacy` list.
    Legacy,
}

/// The last `dlerror()` text.
fn dl_error() -> String {
    // SAFETY: dlerror returns null or a NUL-terminated string owned by libc.
    let p = unsafe { libc::dlerror() };
    if p.is_null() {
        return "unknown error".into();
    }
    // SAFETY: non-null and NUL-terminated, read before any other dl call.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// A symbol of `lib`, or None.
pub(super) fn symbol(lib: *mut c_void, name: &CStr) -> Option<*mut c_void> {
    // SAFETY: lib is a live handle from dlopen, name NUL-terminated.
    let p = unsafe { libc::dlsym(lib, name.as_ptr()) };
    (!p.is_null()).then_some(p)
}

/// Loads the plugins of one security domain (in file order) and returns
/// the domain's index. On failure the lines mosquitto would log are logged
/// and the error names the file.
pub fn load_domain(configs: &[PluginConfig]) -> Result<usize, String> {
    let domain = REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        r.domains.push(Domain::default());
        r.domains.len() - 1
    });
    for cfg in configs {
        let path = cfg.path.display().to_string();
        crate::information!("Loading plugin: {path}");
        let loaded = load_one(domain, cfg).map_err(|lines| {
            for l in &lines {
                crate::error!("{l}");
            }
            format!("Unable to load plugin \"{path}\".")
        })?;
        REGISTRY.with(|r| {
            if let Some(d) = r.borrow_mut().domains.get_mut(domain) {
                d.plugins.push(loaded);
                d.deny_special.push(cfg.deny_special_chars);
            }
        });
    }
    Ok(domain)
}

fn load_one(domain: usize, cfg: &PluginConfig) -> Result<Loaded, Vec<String>> {
    let path = cfg.path.display().to_string();
    let cpath = CString::new(cfg.path.as_os_str().as_bytes())
        .map_err(|_| vec![format!("Error: Unable to load auth plugin \"{path}\".")])?;
    // RTLD_GLOBAL as mosquitto: a plugin's own libraries may expect it.
    // SAFETY: a NUL-terminated path; the library's constructors run here,
    // which is what loading a plugin means.
    let lib = unsafe { libc::dlopen(cpath.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
    if lib.is_null() {
        return Err(vec![
            format!("Error: Unable to load auth plugin \"{path}\"."),
            format!("Load error: {}", dl_error()),
        ]);
    }
    let mut options = Options::new(&cfg.options);
    let version = if let Some(f) = symbol(lib, c"mosquitto_plugin_version") {
        let offered: [c_int; 4] = [5, 4, 3, 2];
        // SAFETY: the symbol has this signature in every mosquitto plugin.
        let f: PluginVersion = unsafe { std::mem::transmute::<*mut c_void, PluginVersion>(f) };
        // SAFETY: a valid array and its length.
        unsafe { f(4, offered.as_ptr()) }
    } else if let Some(f) = symbol(lib, c"mosquitto_auth_plugin_version") {
        // SAFETY: as above.
        let f: AuthPluginVersion =
            unsafe { std::mem::transmute::<*mut c_void, AuthPluginVersion>(f) };
        // SAFETY: takes nothing.
        unsafe { f() }
    } else {
        return Err(vec![
            "Error: Unable to load auth plugin function mosquitto_auth_plugin_version() or \
             mosquitto_plugin_version()."
                .into(),
        ]);
    };
    let kind = match version {
        5 => load_v5(domain, lib, &mut options)?,
        2..=4 => {
            let legacy = Legacy::load(lib, version, cfg.deny_special_chars, &mut options)?;
            REGISTRY.with(|r| {
                if let Some(d) = r.borrow_mut().domains.get_mut(domain) {
                    std::rc::Rc::make_mut(&mut d.legacy).push(legacy);
                }
            });
            Kind::Legacy
        }
        v => {
            return Err(vec![format!(
                "Error: Unsupported auth plugin version (got {v}, expected 5)."
            )])
        }
    };
    Ok(Loaded {
        path,
        options,
        kind,
    })
}

fn load_v5(domain: usize, lib: *mut c_void, options: &mut Options) -> Result<Kind, Vec<String>> {
    let Some(init) = symbol(lib, c"mosquitto_plugin_init") else {
        return Err(vec![
            "Error: Unable to load plugin function mosquitto_plugin_init().".into(),
        ]);
    };
    let Some(cleanup) = symbol(lib, c"mosquitto_plugin_cleanup") else {
        return Err(vec![
            "Error: Unable to load plugin function mosquitto_plugin_cleanup().".into(),
        ]);
    };
    // SAFETY: the documented signatures of these two symbols.
    let init: InitV5 = unsafe { std::mem::transmute::<*mut c_void, InitV5>(init) };
    // SAFETY: as above.
    let cleanup: CleanupV5 = unsafe { std::mem::transmute::<*mut c_void, CleanupV5>(cleanup) };
    let id = Box::new(PluginId { domain });
    let id_ptr = (&*id as *const PluginId).cast_mut();
    REGISTRY.with(|r| r.borrow_mut().ids.push(id));
    let mut user_data: *mut c_void = std::ptr::null_mut();
    // SAFETY: the id lives in the registry for the broker's life; the
    // options live in `options`, which the caller keeps.
    let rc = unsafe { init(id_ptr, &mut user_data, options.ptr(), options.count()) };
    if rc != ffi::MOSQ_ERR_SUCCESS {
        return Err(vec![format!(
            "Error: Plugin returned {rc} when initialising."
        )]);
    }
    Ok(Kind::V5 { user_data, cleanup })
}

/// Calls every plugin's cleanup (at shutdown), last loaded first.
pub fn cleanup_all() {
    let domains = REGISTRY.with(|r| std::mem::take(&mut r.borrow_mut().domains));
    for mut d in domains.into_iter().rev() {
        for l in d.legacy.iter() {
            l.cleanup();
        }
        for p in d.plugins.iter_mut().rev() {
            if let Kind::V5 { user_data, cleanup } = p.kind {
                crate::debug!("Cleaning up plugin {}.", p.path);
                // SAFETY: the plugin's own cleanup with what init gave it.
                unsafe { cleanup(user_data, p.options.ptr(), p.options.count()) };
            }
        }
    }
}
