//! The wall clock in the local time zone, for mosquitto_sub's time formats.
//! A thin wrapper over the C library's `localtime_r` and `strftime` so that
//! `@` format specifiers mean exactly what they mean in mosquitto_sub.

use std::time::{SystemTime, UNIX_EPOCH};

pub struct LocalTime {
    tm: libc::tm,
    pub secs: i64,
    pub nanos: u32,
}

impl LocalTime {
    /// Now, or `None` if the clock or the time zone cannot be read.
    pub fn now() -> Option<LocalTime> {
        let d = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
        let secs = i64::try_from(d.as_secs()).ok()?;
        #[allow(clippy::useless_conversion)] // time_t is not i64 everywhere
        let t: libc::time_t = secs.try_into().ok()?;
        // SAFETY: `tm` is plain old data; localtime_r fills it from `t` and
        // returns null on failure, which we check.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
        if !ok {
            return None;
        }
        Some(LocalTime {
            tm,
            secs,
            nanos: d.subsec_nanos(),
        })
    }

    /// `strftime` with one format; an empty string when the result would be
    /// empty or too long, as mosquitto then prints nothing.
    pub fn strftime(&self, format: &str) -> String {
        let Ok(cfmt) = std::ffi::CString::new(format) else {
            return String::new();
        };
        let mut buf = [0u8; 256];
        // SAFETY: buf is writable for its length, cfmt is NUL-terminated and
        // tm was filled by localtime_r; strftime writes at most buf.len()
        // bytes and returns how many it wrote (0 on overflow).
        let n = unsafe {
            libc::strftime(
                buf.as_mut_ptr().cast::<libc::c_char>(),
                buf.len(),
                cfmt.as_ptr(),
                &self.tm,
            )
        };
        String::from_utf8_lossy(buf.get(..n).unwrap_or(&[])).into_owned()
    }
}
