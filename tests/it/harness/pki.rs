//! A throw-away test PKI made with the `openssl` command line: no key is
//! committed. One builder makes every certificate the TLS tests need:
//!
//! - `ca.crt`/`ca.key`: the test CA ("/CN=Test CA");
//! - `server.*`: signed, for localhost and 127.0.0.1 (subjectAltName);
//! - `other.*`: signed, for other.example only;
//! - `client.*`: signed, "/O=Test Org/CN=client1";
//! - `revoked.*`: signed, "/CN=revoked", revoked in `crl.pem`;
//! - `expired.*`: signed, "/CN=expired", valid only in January 2020;
//! - `untrusted.*`: self-signed "/CN=client1", from no CA the servers trust.
//!
//! Whether a missing `openssl` fails or skips is the caller's choice; here
//! a failing `openssl` run panics.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct Pki {
    pub dir: PathBuf,
}

impl Pki {
    /// The PKI in a fresh directory `mosq-rs-{tag}-{pid}` under the system
    /// temporary directory.
    pub fn fresh(tag: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("mosq-rs-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Pki::build(dir)
    }

    /// Makes every certificate (see the module text) in `dir`, creating it.
    pub fn build(dir: PathBuf) -> Pki {
        std::fs::create_dir_all(&dir).expect("pki dir");
        make(&dir);
        let pki = Pki { dir };
        pki.let_others_read();
        pki
    }

    /// Debian's mosquitto drops root privileges to its own user before it
    /// reads certificates: let it read these throw-away test files.
    pub fn let_others_read(&self) {
        use std::os::unix::fs::PermissionsExt;
        let mode = |m| std::fs::Permissions::from_mode(m);
        let _ = std::fs::set_permissions(&self.dir, mode(0o755));
        for e in std::fs::read_dir(&self.dir)
            .expect("read pki dir")
            .flatten()
        {
            let _ = std::fs::set_permissions(e.path(), mode(0o644));
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `path` as a command-line argument or config-file value.
    pub fn arg(&self, name: &str) -> String {
        self.path(name).to_string_lossy().into_owned()
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn make(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let self_signed = |subj: &str, name: &str| {
        let (key, crt) = (format!("{name}.key"), format!("{name}.crt"));
        let mut a = vec!["req", "-x509"];
        a.extend(ec);
        a.extend(["-subj", subj, "-days", "2", "-keyout", &key, "-out", &crt]);
        openssl(dir, &a);
    };
    let req = |subj: &str, name: &str| {
        let (key, csr) = (format!("{name}.key"), format!("{name}.csr"));
        let mut a = vec!["req", "-new"];
        a.extend(ec);
        a.extend(["-subj", subj, "-keyout", &key, "-out", &csr]);
        openssl(dir, &a);
    };
    let sign = |name: &str, ext: Option<&str>| {
        let (csr, crt) = (format!("{name}.csr"), format!("{name}.crt"));
        let mut a = vec![
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &crt,
        ];
        if let Some(e) = ext {
            a.extend(["-extfile", e]);
        }
        openssl(dir, &a);
    };
    self_signed("/CN=Test CA", "ca");
    self_signed("/CN=client1", "untrusted");
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .expect("san.ext");
    std::fs::write(dir.join("other.ext"), "subjectAltName=DNS:other.example\n").expect("other.ext");
    req("/CN=localhost", "server");
    sign("server", Some("san.ext"));
    req("/CN=other.example", "other");
    sign("other", Some("other.ext"));
    req("/O=Test Org/CN=client1", "client");
    sign("client", None);
    req("/CN=revoked", "revoked");
    sign("revoked", None);
    req("/CN=expired", "expired");
    // `openssl ca` can put the validity wholly in the past.
    std::fs::write(dir.join("index.txt"), "").expect("index");
    std::fs::write(dir.join("serial"), "1000\n").expect("serial");
    std::fs::write(dir.join("crlnumber"), "01\n").expect("crlnumber");
    std::fs::write(
        dir.join("ca.cnf"),
        format!(
            "[ ca ]\ndefault_ca = CA_default\n[ CA_default ]\ndir = {0}\n\
             database = {0}/index.txt\nnew_certs_dir = {0}\nserial = {0}/serial\n\
             crlnumber = {0}/crlnumber\ndefault_md = sha256\ndefault_crl_days = 2\n\
             policy = policy_any\nunique_subject = no\n\
             [ policy_any ]\ncommonName = supplied\n",
            dir.display()
        ),
    )
    .expect("ca.cnf");
    let ca = ["-config", "ca.cnf", "-keyfile", "ca.key", "-cert", "ca.crt"];
    let mut a = vec!["ca", "-batch", "-notext"];
    a.extend(ca);
    a.extend([
        "-in",
        "expired.csr",
        "-out",
        "expired.crt",
        "-startdate",
        "20200101000000Z",
        "-enddate",
        "20200102000000Z",
    ]);
    openssl(dir, &a);
    let mut a = vec!["ca"];
    a.extend(ca);
    a.extend(["-revoke", "revoked.crt"]);
    openssl(dir, &a);
    let mut a = vec!["ca"];
    a.extend(ca);
    a.extend(["-gencrl", "-out", "crl.pem"]);
    openssl(dir, &a);
}
