//! mosquitto_ctrl dynsec: ours and Debian's give the same answers, for the
//! same script, each against a fresh Debian mosquitto 2.0.11 running its
//! dynamic-security plugin (our broker has no such plugin yet) on the
//! configuration that tool's own `dynsec init` wrote.

use crate::harness::*;
use std::time::Duration;

const OUR_CTRL: &str = env!("CARGO_BIN_EXE_mosquitto_ctrl");
const DEBIAN_CTRL: &str = "/usr/bin/mosquitto_ctrl";
const PLUGIN: &str = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so";

const SCRIPT: &[&str] = &[
    "createClient alice -p secret -c alice-id",
    "createClient bob -p pw2",
    "createGroup staff",
    "createRole reader",
    "createRole writer",
    "addRoleACL reader subscribeLiteral sensors/# allow 5",
    "addRoleACL writer publishClientSend sensors/+/set deny",
    "addRoleACL reader publishClientReceive a/b allow",
    "addClientRole alice reader 3",
    "addClientRole bob writer",
    "addGroupRole staff reader 2",
    "addGroupClient staff alice 4",
    "addGroupClient staff bob",
    "getClient alice",
    "getClient bob",
    "getGroup staff",
    "getRole reader",
    "getRole writer",
    "listClients",
    "listGroups",
    "listRoles",
    "listClients 1",
    "getDefaultACLAccess",
    "setDefaultACLAccess publishClientSend allow",
    "setDefaultACLAccess subscribe maybe",
    "setAnonymousGroup staff",
    "getAnonymousGroup",
    "removeRoleACL reader subscribeLiteral sensors/#",
    "removeGroupClient staff bob",
    "removeClientRole alice reader",
    "disableClient bob",
    "getClient bob",
    "enableClient bob",
    "setClientId bob newid",
    "setClientPassword bob pw3",
    "getClient nobody",
    "createClient alice -p x",
    "deleteGroup nosuch",
    "deleteClient bob",
    "deleteRole writer",
    "fooBar x",
    "getClient",
    "listClients",
];

/// Runs the script with `ctrl` against a fresh broker; the transcript.
fn transcript(ctrl: &str) -> Option<String> {
    let dir = TempDir::new("dynsec");
    let file = dir.join("dynsec.json");
    let file_s = file.to_string_lossy().into_owned();
    // The configuration comes from `ctrl`'s own init: the broker must
    // accept the admin password it hashed. (A build without TLS cannot
    // hash; Debian's init stands in.)
    let init_tool = if cfg!(feature = "tls") {
        ctrl
    } else {
        DEBIAN_CTRL
    };
    let init = run(init_tool, &["dynsec", "init", &file_s, "admin", "adminpw"]);
    assert_eq!(init.code, Some(0), "{init:?}");
    let again = run(init_tool, &["dynsec", "init", &file_s, "admin", "x"]);
    let broker = RefBroker::start(|port| {
        dir.write(
            "m.conf",
            &format!(
                "listener {port} 127.0.0.1\nplugin {PLUGIN}\nplugin_opt_config_file {file_s}\n"
            ),
        )
    })?;
    let port = broker.port.to_string();
    let mut out = format!(
        "{}{}{}rc={:?}\n",
        init.stdout_text(),
        again.stderr,
        run(ctrl, &["dynsec", "init", &file_s]).stderr,
        again.code
    )
    .replace(&file_s, "FILE");
    for line in SCRIPT {
        let mut args = vec!["-p", &port, "-u", "admin", "-P", "adminpw", "dynsec"];
        args.extend(line.split(' '));
        let r = run_limit(ctrl, &args, b"", Duration::from_secs(15));
        out.push_str(&format!(
            "> {line}\n{}{}rc={:?}\n",
            r.stdout_text(),
            r.stderr,
            r.code
        ));
    }
    Some(out)
}

#[test]
fn dynsec_script_gives_debians_answers() {
    if !std::path::Path::new(PLUGIN).exists() {
        assert!(!in_ci(), "{PLUGIN} is required in CI");
        eprintln!("SKIP: {PLUGIN} not installed");
        return;
    }
    if require_tool("mosquitto_ctrl", "Debian's mosquitto-clients").is_none() {
        return;
    }
    let Some(theirs) = transcript(DEBIAN_CTRL) else {
        return;
    };
    let Some(ours) = transcript(OUR_CTRL) else {
        return;
    };
    assert!(theirs.contains("Rolename: reader"), "{theirs}");
    assert!(
        theirs.contains("getClient: Error: Client not found"),
        "{theirs}"
    );
    assert_eq!(ours, theirs);
}

#[test]
fn usage_and_unknown_module() {
    let r = run(OUR_CTRL, &[]);
    assert_eq!(r.code, Some(1));
    assert!(r.stdout_text().contains("Modules available: dynsec"));
    let r = run(OUR_CTRL, &["nosuch", "x"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (Some(10), "Error: Module 'nosuch' not supported.\n")
    );
    let r = run(OUR_CTRL, &["dynsec", "help"]);
    assert_eq!(r.code, Some(0));
    assert!(r.stdout_text().contains("createClient"));
}

#[test]
fn password_prompts_as_debian() {
    if require_tool("mosquitto_ctrl", "Debian's mosquitto-clients").is_none() {
        return;
    }
    let dir = TempDir::new("ctrl-prompt");
    let cases: &[(&[&str], &[u8])] = &[
        (&["dynsec", "init", "FILE", "admin"], b"pw\npx\n"),
        (&["dynsec", "init", "FILE", "admin"], b"\n"),
        (&["-p", "1", "dynsec", "createClient", "x"], b"a\nb\n"),
        (&["-p", "1", "dynsec", "setClientPassword", "x"], b"a\n"),
    ];
    let file = dir.join("new.json").to_string_lossy().into_owned();
    for (args, input) in cases {
        let args: Vec<&str> = args
            .iter()
            .map(|a| if *a == "FILE" { file.as_str() } else { a })
            .collect();
        let ours = run_limit(OUR_CTRL, &args, input, Duration::from_secs(10));
        let theirs = run_limit(DEBIAN_CTRL, &args, input, Duration::from_secs(10));
        assert_eq!(
            (ours.code, ours.stdout_text(), ours.stderr),
            (theirs.code, theirs.stdout_text(), theirs.stderr),
            "{args:?}"
        );
    }
}
