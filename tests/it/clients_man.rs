//! The manual pages describe every option the tools accept.

use crate::harness::*;

fn man(name: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("man")
        .join(name);
    std::fs::read_to_string(p).expect("man page")
}

/// Options as `--help` lists them (" -x : ..." lines), in roff spelling.
fn options_in_help(bin: &str) -> Vec<String> {
    run(bin, &["--help"])
        .stdout_text()
        .lines()
        .filter(|l| l.starts_with(" -"))
        .filter_map(|l| l.split(" : ").next())
        .map(|o| o.trim().replace('-', "\\-"))
        .collect()
}

#[test]
fn man_pages_cover_all_options() {
    let rr = env!("CARGO_BIN_EXE_mosquitto_rr");
    for (bin, page) in [
        (OUR_PUB, "mosquitto_pub.1"),
        (OUR_SUB, "mosquitto_sub.1"),
        (rr, "mosquitto_rr.1"),
    ] {
        let text = man(page);
        let opts = options_in_help(bin);
        assert!(opts.len() > 25, "{opts:?}");
        for o in opts {
            assert!(text.contains(&o), "{page} does not mention {o}");
        }
    }
    let text = man("mosquitto_passwd.1");
    for o in [
        "\\-b",
        "\\-c",
        "\\-D",
        "\\-H",
        "\\-I",
        "\\-U",
        "sha512\\-pbkdf2",
    ] {
        assert!(text.contains(o), "mosquitto_passwd.1 lacks {o}");
    }
}
