//! mosquitto-rs: a mosquitto-compatible MQTT broker and its command-line clients.
//!
//! Module map (see ARCHITECTURE.md), from the top down:
//!
//! - `broker`: the single-threaded mio broker; `config` reads mosquitto.conf
//!   and the broker's command line (the broker's alone);
//! - `client`: the small blocking client and the tools (mosquitto_pub,
//!   mosquitto_sub, mosquitto_passwd);
//! - shared layers, below both: `protocol` is the wire format with no IO,
//!   `tls` the OpenSSL server and client sides with their two option
//!   structs, `passwd` the password and PSK files (hashes, base64, hex
//!   keys), `sys` the libc wrappers (sockets, signals, time, process,
//!   terminal) where nearly all `unsafe` lives, `capi` the C API both
//!   libmosquitto.so.1 and the broker's plugin API export (the
//!   `mosquitto_property_*` lists).
//!
//! `client` never names `broker` and `broker` never names `client` (a unit
//! test below checks the sources); the shared layers name neither.

pub mod broker;
pub mod capi;
pub mod client;
pub mod config;
pub mod passwd;
pub mod protocol;
pub mod sys;
pub mod tls;

/// The version we report wherever mosquitto reports its own.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod layering {
    //! The layering rule, checked on the sources: a file under `src/client`
    //! must not name the broker module, one under `src/broker` not the
    //! client module, and the shared layers neither (through `crate::`).

    use std::path::{Path, PathBuf};

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|x| x == "rs") {
                out.push(path);
            }
        }
    }

    fn is_ident(c: char) -> bool {
        c.is_alphanumeric() || c == '_'
    }

    /// Whether `text` uses `module` as a path segment: `module::…` (not
    /// part of a longer name such as `sub_module::`), `…::module` (as in
    /// `crate::module;`), or `module` inside a `crate::{…}` /
    /// `super::{…}` group. The bare word (as in English prose) is fine.
    /// `relative`: also `module::…` on its own, as `use` in a sibling would
    /// write it; off for the shared layers, whose own submodules may share
    /// the name (`tls::client`).
    fn names(text: &str, module: &str, relative: bool) -> Option<usize> {
        for (n, line) in text.lines().enumerate() {
            let hit = |pat: &str, before: bool| {
                line.match_indices(pat).any(|(i, _)| {
                    if before {
                        // `module::`: not preceded by an identifier.
                        !line[..i].chars().next_back().is_some_and(is_ident)
                    } else {
                        // `::module`: not followed by an identifier.
                        !line[i + pat.len()..].chars().next().is_some_and(is_ident)
                    }
                })
            };
            let absolute = [
                format!("crate::{module}"),
                format!("super::{module}"),
                format!("mosquitto_rs::{module}"),
            ];
            if absolute.iter().any(|p| hit(p, false))
                || (relative && hit(&format!("{module}::"), true))
                || in_group(text, line, module)
            {
                return Some(n + 1);
            }
        }
        None
    }

    /// `module` listed inside a `crate::{…}` or `super::{…}` group that
    /// starts on `line` (groups may span lines).
    fn in_group(text: &str, line: &str, module: &str) -> bool {
        for root in ["crate::{", "super::{"] {
            let Some(start) = line.find(root) else {
                continue;
            };
            // The group's text: from this line on, up to the closing brace.
            let offset = line.as_ptr() as usize - text.as_ptr() as usize + start + root.len();
            let group = text[offset..].split('}').next().unwrap_or("");
            if group.split(|c: char| !is_ident(c)).any(|w| w == module) {
                return true;
            }
        }
        false
    }

    fn violations(dirs: &[&str], module: &str, relative: bool) -> Vec<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        for d in dirs {
            rust_files(&root.join(d), &mut files);
        }
        assert!(!files.is_empty(), "no sources found under {dirs:?}");
        let mut bad = Vec::new();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            if let Some(line) = names(&text, module, relative) {
                bad.push(format!("{}:{line} names `{module}`", f.display()));
            }
        }
        bad
    }

    #[test]
    fn client_and_broker_do_not_name_each_other() {
        let mut bad = violations(&["client"], "broker", true);
        bad.extend(violations(&["broker"], "client", true));
        assert!(bad.is_empty(), "layering broken:\n{}", bad.join("\n"));
    }

    #[test]
    fn shared_layers_name_neither() {
        let layers = ["tls", "passwd", "sys", "protocol", "capi"];
        let mut bad = violations(&layers, "broker", false);
        bad.extend(violations(&layers, "client", false));
        assert!(bad.is_empty(), "layering broken:\n{}", bad.join("\n"));
    }

    /// Where a function starting at `lines[0]` ends: the first line after it
    /// that is its closing brace at the same indentation.
    fn function_length(lines: &[&str]) -> usize {
        let indent = lines[0].len() - lines[0].trim_start().len();
        let close = format!("{}}}", " ".repeat(indent));
        lines
            .iter()
            .position(|l| l.trim_end() == close)
            .map_or(lines.len(), |n| n + 1)
    }

    /// The size rule: no function of the product (outside its tests) is
    /// longer than 120 lines.
    #[test]
    fn no_function_is_longer_than_120_lines() {
        let mut files = Vec::new();
        rust_files(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        let mut long = Vec::new();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            let lines: Vec<&str> = code.lines().collect();
            for (n, line) in lines.iter().enumerate() {
                let t = line.trim_start();
                let t = t.strip_prefix("pub ").unwrap_or(t);
                let t = [
                    "pub(crate) ",
                    "pub(super) ",
                    "const ",
                    "unsafe ",
                    "extern \"C\" ",
                ]
                .iter()
                .fold(t, |t, p| t.strip_prefix(p).unwrap_or(t));
                if t.starts_with("fn ") && !line.trim_end().ends_with(';') {
                    let len = function_length(&lines[n..]);
                    if len > 120 {
                        long.push(format!("{}:{} ({len} lines)", f.display(), n + 1));
                    }
                }
            }
        }
        assert!(
            long.is_empty(),
            "functions over 120 lines:\n{}",
            long.join("\n")
        );
    }

    #[test]
    fn the_check_sees_paths_and_ignores_prose() {
        for text in [
            "use crate::broker::tls;",
            "use crate::broker;",
            "let x = super::super::broker::net::f();",
            "use crate::{\n    broker,\n    protocol,\n};",
            "    broker::security::f();",
            "use mosquitto_rs::broker::Broker;",
            "/// see `crate::broker::net`",
        ] {
            assert!(names(text, "broker", true).is_some(), "{text}");
        }
        for text in [
            "// the broker: one thread",
            "/// a broker's CONNACK; brokers::x is another crate",
            "use crate::brokerage::x;",
            "use crate::{protocol, sys};\nfn broker() {}",
            "let sub_broker::x = 1;",
        ] {
            assert!(names(text, "broker", true).is_none(), "{text}");
        }
        assert!(names("pub use client::TlsClientConfig;", "client", false).is_none());
    }
}
