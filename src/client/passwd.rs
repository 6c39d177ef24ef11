//! mosquitto_passwd: create a password file, add or change a user's
//! password, delete a user, or hash a plain-text file in place; options,
//! messages and exit statuses as mosquitto_passwd 2.0's.

use std::io::Write;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use crate::passwd::{HashKind, PasswordHash, DEFAULT_ITERATIONS, HASHING_AVAILABLE};
use crate::sys::terminal;

const USAGE: &str = "\
mosquitto_passwd is a tool for managing password files for mosquitto.

Usage: mosquitto_passwd [-H sha512 | -H sha512-pbkdf2] [-c | -D] passwordfile username
       mosquitto_passwd [-H sha512 | -H sha512-pbkdf2] [-c] -b passwordfile username password
       mosquitto_passwd -U passwordfile
 -b : batch mode: take the password from the command line instead of asking.
 -c : create a new password file, replacing any existing one.
 -D : delete the user instead of setting a password.
 -H : hash to use: sha512-pbkdf2 (the default, recommended) or sha512 (the
      only one mosquitto 1.6 and older understand).
 -I : number of PBKDF2 iterations for sha512-pbkdf2. Default: 101.
 -U : replace the plain-text passwords of an existing file with hashes.

See https://mosquitto.org/ for more information.

";

/// What the command line asks for.
struct Request {
    kind: HashKind,
    iterations: u32,
    batch: bool,
    create: bool,
    delete: bool,
    update_file: bool,
    file: PathBuf,
    username: Option<String>,
    password: Option<Vec<u8>>,
}

fn fail(msg: &str) -> i32 {
    eprintln!("{msg}");
    1
}

pub fn main() -> i32 {
    let args: Vec<Vec<u8>> = std::env::args_os().skip(1).map(|a| a.into_vec()).collect();
    let req = match parse(&args) {
        Ok(r) => r,
        Err(code) => return code,
    };
    run(&req)
}

fn parse(args: &[Vec<u8>]) -> Result<Request, i32> {
    if args.is_empty() {
        out!("{USAGE}");
        return Err(1);
    }
    let (mut req, idx) = parse_flags(args)?;
    let rest = args.get(idx..).unwrap_or(&[]);
    let n_needed = positional_count(&req, rest)?;
    req.file = PathBuf::from(std::ffi::OsString::from_vec(
        rest.first().cloned().unwrap_or_default(),
    ));
    if n_needed >= 2 {
        req.username = rest.get(1).map(|v| String::from_utf8_lossy(v).into_owned());
    }
    if n_needed >= 3 {
        req.password = rest.get(2).cloned();
    }
    check_credentials(req.username.as_deref(), req.password.as_deref())?;
    Ok(req)
}

/// The options before the file name, and the index of the first argument
/// after them.
fn parse_flags(args: &[Vec<u8>]) -> Result<(Request, usize), i32> {
    let mut kind = HashKind::Sha512Pbkdf2;
    let mut iterations = DEFAULT_ITERATIONS;
    let (mut batch, mut create, mut delete, mut update_file) = (false, false, false, false);
    let mut idx = 0;
    while let Some(a) = args.get(idx) {
        match a.as_slice() {
            b"-H" => {
                let Some(v) = args.get(idx + 1) else {
                    return Err(fail(
                        "Error: -H argument given but not enough other arguments.",
                    ));
                };
                kind = match v.as_slice() {
                    b"sha512" => HashKind::Sha512,
                    b"sha512-pbkdf2" => HashKind::Sha512Pbkdf2,
                    other => {
                        return Err(fail(&format!(
                            "Error: Unknown hash type '{}'",
                            String::from_utf8_lossy(other)
                        )))
                    }
                };
                idx += 1;
            }
            b"-b" => batch = true,
            b"-c" => create = true,
            b"-D" => delete = true,
            b"-I" => {
                let Some(v) = args.get(idx + 1) else {
                    return Err(fail(
                        "Error: -I argument given but not enough other arguments.",
                    ));
                };
                let n = super::options::atoi(&String::from_utf8_lossy(v));
                if n < 1 {
                    return Err(fail("Error: Number of iterations must be > 0."));
                }
                iterations = u32::try_from(n).unwrap_or(u32::MAX);
                idx += 1;
            }
            b"-U" => update_file = true,
            _ => break,
        }
        idx += 1;
    }
    for (a, b, an, bn) in [
        (create, delete, "-c", "-D"),
        (create, update_file, "-c", "-U"),
        (delete, update_file, "-D", "-U"),
        (delete, batch, "-b", "-D"),
    ] {
        if a && b {
            return Err(fail(&format!(
                "Error: {an} and {bn} cannot be used together."
            )));
        }
    }
    Ok((
        Request {
            kind,
            iterations,
            batch,
            create,
            delete,
            update_file,
            file: PathBuf::new(),
            username: None,
            password: None,
        },
        idx,
    ))
}

/// How many of the positional arguments (file, username, password) the
/// options call for, or mosquitto_passwd's complaint.
fn positional_count(req: &Request, rest: &[Vec<u8>]) -> Result<usize, i32> {
    Ok(if req.create {
        if req.batch {
            if rest.len() < 3 {
                return Err(fail(
                    "Error: -c argument given but password file, username, or password missing.",
                ));
            }
        } else if rest.len() < 2 {
            return Err(fail(
                "Error: -c argument given but password file or username missing.",
            ));
        }
        if req.batch {
            3
        } else {
            2
        }
    } else if req.delete {
        if rest.len() < 2 {
            return Err(fail(
                "Error: -D argument given but password file or username missing.",
            ));
        }
        2
    } else if req.update_file {
        if rest.len() != 1 {
            return Err(fail("Error: -U argument given but password file missing."));
        }
        1
    } else if req.batch && rest.len() == 3 {
        3
    } else if !req.batch && rest.len() == 2 {
        2
    } else {
        out!("{USAGE}");
        return Err(1);
    })
}

/// mosquitto_passwd's limits on what goes into the file.
fn check_credentials(username: Option<&str>, password: Option<&[u8]>) -> Result<(), i32> {
    if let Some(u) = username {
        if u.len() > 65535 {
            return Err(fail(
                "Error: Username must be less than 65536 characters long.",
            ));
        }
        if u.chars().any(char::is_control) {
            return Err(fail("Error: Username must not contain control characters."));
        }
        if u.contains(':') {
            return Err(fail("Error: Username must not contain the ':' character."));
        }
    }
    if password.is_some_and(|p| p.len() > 65535) {
        return Err(fail(
            "Error: Password must be less than 65536 characters long.",
        ));
    }
    Ok(())
}

/// Ask twice on the terminal, as mosquitto_passwd does.
fn ask_password() -> Result<Vec<u8>, i32> {
    let prompt = |p: &str| -> Result<Vec<u8>, i32> {
        out!("{p}");
        let _ = std::io::stdout().flush();
        let line = terminal::read_hidden_line().unwrap_or_default();
        if line.is_empty() {
            eprintln!("Error: Empty password.");
            return Err(1);
        }
        outln!();
        Ok(line)
    };
    let first = prompt("Password: ")?;
    let second = prompt("Reenter password: ")?;
    if first != second {
        eprintln!("Error: Passwords do not match.");
        return Err(2);
    }
    Ok(first)
}

/// `username:hash\n` for a new password.
fn hashed_line(
    req: &Request,
    username: &str,
    password: &[u8],
    iterations: u32,
) -> Result<String, i32> {
    match PasswordHash::new_for(password, req.kind, iterations) {
        Some(h) => Ok(format!("{username}:{}\n", h.to_text())),
        None => Err(fail("Error: Unable to hash password.")),
    }
}

impl PasswordHash {
    #[cfg(feature = "tls")]
    fn new_for(password: &[u8], kind: HashKind, iterations: u32) -> Option<PasswordHash> {
        PasswordHash::new(password, kind, iterations)
    }

    #[cfg(not(feature = "tls"))]
    fn new_for(_: &[u8], _: HashKind, _: u32) -> Option<PasswordHash> {
        None
    }
}

fn strerror(e: &std::io::Error) -> String {
    crate::sys::net::strerror(e)
}

/// Refuse clearly, before asking for anything, when this build cannot hash.
fn need_hashing() -> Result<(), i32> {
    if HASHING_AVAILABLE {
        Ok(())
    } else {
        Err(fail("Error: This mosquitto_passwd was built without the `tls` feature (OpenSSL), so it cannot hash passwords."))
    }
}

fn run(req: &Request) -> i32 {
    let username = req.username.as_deref().unwrap_or("");
    if req.create {
        if let Err(code) = need_hashing() {
            return code;
        }
        let password = match &req.password {
            Some(p) if req.batch => p.clone(),
            _ => match ask_password() {
                Ok(p) => p,
                Err(code) => return code,
            },
        };
        let line = match hashed_line(req, username, &password, req.iterations) {
            Ok(l) => l,
            Err(code) => return code,
        };
        if let Err(e) = std::fs::write(&req.file, line) {
            return fail(&format!(
                "Error: Unable to open file {} for writing. {}.",
                req.file.display(),
                strerror(&e)
            ));
        }
        return 0;
    }
    let original = match std::fs::read(&req.file) {
        Ok(d) => d,
        Err(e) => {
            return fail(&format!(
                "Error: Unable to open password file {}. {}.",
                absolute(&req.file).display(),
                strerror(&e)
            ))
        }
    };
    if !req.delete {
        if let Err(code) = need_hashing() {
            return code;
        }
    }
    let updated = if req.delete {
        delete_user(&original, username)
    } else if req.update_file {
        hash_plain_file(req, &original)
    } else {
        let password = match &req.password {
            Some(p) if req.batch => p.clone(),
            _ => match ask_password() {
                Ok(p) => p,
                Err(code) => return code,
            },
        };
        set_user(req, &original, username, &password)
    };
    let updated = match updated {
        Ok(u) => u,
        Err(code) => return code,
    };
    write_in_place(&req.file, &original, &updated)
}

fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Rewrite the file in place (keeping its owner and mode), with a backup
/// copy `<file>.tmp` while it is being written.
fn write_in_place(file: &Path, original: &[u8], updated: &[u8]) -> i32 {
    let mut backup = absolute(file).into_os_string();
    backup.push(".tmp");
    let backup = PathBuf::from(backup);
    if std::fs::write(&backup, original).is_err() {
        return fail(&format!(
            "Error creating backup password file \"{}\", not continuing.",
            backup.display()
        ));
    }
    let written = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(file)
        .and_then(|mut f| f.write_all(updated));
    if written.is_err() {
        eprintln!("Error occurred updating password file.");
        eprintln!(
            "Password file may be corrupt, check the backup file: {}.",
            backup.display()
        );
        return 1;
    }
    let _ = std::fs::remove_file(&backup);
    0
}

/// The file's lines, each with its line ending, and the user name and
/// password fields as mosquitto_passwd splits them (at ':' and trimmed).
/// One line of a password file: the raw line, the user name, the password.
type Entry<'a> = (&'a [u8], String, String);

fn entries(data: &[u8]) -> Result<Vec<Entry<'_>>, i32> {
    let mut out = Vec::new();
    for (n, line) in data.split_inclusive(|&b| b == b'\n').enumerate() {
        let text = String::from_utf8_lossy(line);
        let mut fields = text.split(':').filter(|f| !f.is_empty());
        let user = fields.next().map(str::trim).unwrap_or("");
        let pass = fields.next().map(str::trim).unwrap_or("");
        if user.is_empty() || pass.is_empty() {
            eprintln!("Error: Corrupt password file at line {}.", n + 1);
            return Err(1);
        }
        out.push((line, user.to_owned(), pass.to_owned()));
    }
    Ok(out)
}

fn push_line(out: &mut Vec<u8>, line: &[u8]) {
    out.extend_from_slice(line);
    if !line.ends_with(b"\n") {
        out.push(b'\n');
    }
}

fn delete_user(data: &[u8], username: &str) -> Result<Vec<u8>, i32> {
    let mut out = Vec::with_capacity(data.len());
    let mut found = false;
    for (line, user, _) in entries(data)? {
        if user == username {
            found = true;
        } else {
            out.extend_from_slice(line);
        }
    }
    if !found {
        eprintln!("Warning: User {username} not found in password file.");
        return Err(1);
    }
    Ok(out)
}

fn set_user(req: &Request, data: &[u8], username: &str, password: &[u8]) -> Result<Vec<u8>, i32> {
    let mut out = Vec::with_capacity(data.len() + 128);
    let mut found = false;
    for (line, user, _) in entries(data)? {
        if user == username {
            found = true;
            out.extend_from_slice(hashed_line(req, username, password, req.iterations)?.as_bytes());
        } else {
            push_line(&mut out, line);
        }
    }
    if !found {
        out.extend_from_slice(hashed_line(req, username, password, req.iterations)?.as_bytes());
    }
    Ok(out)
}

/// `-U`: every line's second field is a plain-text password to hash. Like
/// mosquitto_passwd, `-I` does not apply here: the default count is used.
fn hash_plain_file(req: &Request, data: &[u8]) -> Result<Vec<u8>, i32> {
    let mut out = Vec::with_capacity(data.len() * 4);
    for (_, user, pass) in entries(data)? {
        out.extend_from_slice(
            hashed_line(req, &user, pass.as_bytes(), DEFAULT_ITERATIONS)?.as_bytes(),
        );
    }
    Ok(out)
}
