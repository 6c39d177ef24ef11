//! mosquitto_ctrl: `mosquitto_ctrl [options] dynsec <command> …` sends one
//! dynamic-security command as JSON to `$CONTROL/dynamic-security/v1`,
//! waits (at most 10 s) for the answer on `…/response` and prints it as
//! mosquitto 2.0.11's mosquitto_ctrl does; `dynsec init` writes a new
//! plugin configuration. Passwords not given are asked for on the terminal.

use std::time::{Duration, Instant};

use super::cli::{self, ConnectFailure};
use super::json::{self, Value};
use super::options::{atoi, parse_args, Config, ParseStop, Tool};
use super::session::{Event, SessionError};
use crate::protocol::{Packet, Properties, ProtocolVersion, QoS};

const REQUEST: &str = "$CONTROL/dynamic-security/v1";
const RESPONSE: &str = "$CONTROL/dynamic-security/v1/response";
/// libmosquitto's MOSQ_ERR_INVAL, MOSQ_ERR_NOT_SUPPORTED, MOSQ_ERR_UNKNOWN.
const INVAL: i32 = 3;
const NOT_SUPPORTED: i32 = 10;
const UNKNOWN: i32 = 13;

pub fn main() -> i32 {
    let args = cli::args();
    if args.is_empty() {
        out!("{}", usage());
        return 1;
    }
    let mut cfg = Config::new(Tool::Pub);
    cfg.qos = QoS::AtLeastOnce;
    cfg.protocol = ProtocolVersion::V5;
    // Options come first; the first word that is not one is the module.
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if !a.starts_with(b"-") {
            break;
        }
        let takes_value = !matches!(
            a.as_slice(),
            b"-d"
                | b"--debug"
                | b"--quiet"
                | b"-v"
                | b"--verbose"
                | b"--insecure"
                | b"--help"
                | b"--version"
        );
        let n = if takes_value { 2 } else { 1 };
        if matches!(a.as_slice(), b"-v" | b"--verbose") {
            // Accepted, as by mosquitto_ctrl, where it changes nothing.
            i += 1;
            continue;
        }
        let end = (i + n).min(args.len());
        match parse_args(&mut cfg, args.get(i..end).unwrap_or_default()) {
            Ok(()) => {}
            Err(ParseStop::Error(m)) => eprint!("{m}"),
            Err(ParseStop::Help) => {
                out!("{}", usage());
                return 1;
            }
            Err(ParseStop::Version) => {
                outln!(
                    "{}",
                    super::usage::version_line(Tool::Pub)
                        .replace("mosquitto_pub", "mosquitto_ctrl")
                );
                return 1;
            }
        }
        i = end;
    }
    let words: Vec<String> = args
        .get(i..)
        .unwrap_or_default()
        .iter()
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    if words.len() < 2 {
        out!("{}", usage());
        return 1;
    }
    if !words[0].eq_ignore_ascii_case("dynsec") {
        eprintln!("Error: Module '{}' not supported.", words[0]);
        return NOT_SUPPORTED;
    }
    let payload = match command(&words[1..]) {
        Ok(Some(p)) => p,
        Ok(None) => return 0,
        Err(code) => return code,
    };
    request(&cfg, &payload)
}

fn usage() -> String {
    format!(
        "mosquitto_ctrl is a tool for administering certain Mosquitto features.\n{}\n\n\
General usage: mosquitto_ctrl <module> <module-command> <command-options>\n\
For module specific help use: mosquitto_ctrl <module> help\n\n\
Modules available: dynsec\n\n",
        super::usage::version_line(Tool::Pub).replace("mosquitto_pub", "mosquitto_ctrl")
    )
}

/// A JSON object under construction, members in the order added.
struct Obj(Vec<u8>);

impl Obj {
    fn new(command: &str) -> Obj {
        let mut o = Obj(b"{".to_vec());
        o.string("command", command);
        o
    }
    fn key(&mut self, k: &str) {
        if self.0.len() > 1 {
            self.0.push(b',');
        }
        json::write_str(&mut self.0, k.as_bytes());
        self.0.push(b':');
    }
    fn string(&mut self, k: &str, v: &str) {
        self.key(k);
        json::write_str(&mut self.0, v.as_bytes());
    }
    fn int(&mut self, k: &str, v: i64) {
        self.key(k);
        self.0.extend_from_slice(v.to_string().as_bytes());
    }
    fn raw(&mut self, k: &str, v: &str) {
        self.key(k);
        self.0.extend_from_slice(v.as_bytes());
    }
    /// The request document around this one command.
    fn finish(mut self) -> Vec<u8> {
        self.0.push(b'}');
        let mut doc = b"{\"commands\":[".to_vec();
        doc.extend_from_slice(&self.0);
        doc.extend_from_slice(b"]}");
        doc
    }
}

const ACL_TYPES: &[&str] = &[
    "publishClientSend",
    "publishClientReceive",
    "subscribeLiteral",
    "subscribePattern",
    "unsubscribeLiteral",
    "unsubscribePattern",
];

/// The JSON for one dynsec command, `None` after printing help, or the
/// exit status after printing mosquitto_ctrl's message.
fn command(words: &[String]) -> Result<Option<Vec<u8>>, i32> {
    let (name, a) = words.split_first().ok_or(INVAL)?;
    let lname = name.to_ascii_lowercase();
    let inval = invalid_arguments;
    let arg = |i: usize| arg_at(a, i);
    let mut o = Obj::new(name);
    match lname.as_str() {
        "help" => {
            out!("{}", DYNSEC_HELP);
            return Ok(None);
        }
        "init" => return init(a).map(|()| None),
        "getdefaultaclaccess" | "getanonymousgroup" => o = Obj::new(canonical(&lname)),
        "setdefaultaclaccess" => o = set_default_acl_access(a)?,
        "createclient" => match create_client(a)? {
            Some(c) => o = c,
            None => return Ok(None),
        },
        "deleteclient" | "getclient" | "enableclient" | "disableclient" if a.len() == 1 => {
            if lname == "deleteclient" || lname == "getclient" {
                o = Obj::new(canonical(&lname));
            }
            o.string("username", arg(0));
        }
        "setclientid" if (1..=2).contains(&a.len()) => {
            o = Obj::new("setClientId");
            o.string("username", arg(0));
            if a.len() == 2 {
                o.string("clientid", arg(1));
            }
        }
        "setclientpassword" if (1..=2).contains(&a.len()) => {
            let password = match a.get(1) {
                Some(p) => p.clone(),
                None => match get_password(arg(0), true, false) {
                    Ok(p) => p,
                    Err(_) => return Ok(None),
                },
            };
            o = Obj::new("setClientPassword");
            o.string("username", arg(0));
            o.string("password", &password);
        }
        "addclientrole" | "removeclientrole" if (2..=3).contains(&a.len()) => {
            o.string("username", arg(0));
            o.string("rolename", arg(1));
            priority(&mut o, a.get(2));
        }
        "listclients" | "listgroups" | "listroles" if a.len() <= 2 => {
            o = Obj::new(canonical(&lname));
            for (i, key) in ["count", "offset"].into_iter().enumerate() {
                let n = a.get(i).map_or(-1, |v| atoi(v));
                if n > 0 {
                    o.int(key, n);
                }
            }
        }
        "creategroup" | "deletegroup" | "getgroup" | "setanonymousgroup" if a.len() == 1 => {
            o = Obj::new(canonical(&lname));
            o.string("groupname", arg(0));
        }
        "addgrouprole" | "removegrouprole" if (2..=3).contains(&a.len()) => {
            o.string("groupname", arg(0));
            o.string("rolename", arg(1));
            priority(&mut o, a.get(2));
        }
        "addgroupclient" | "removegroupclient" if (2..=3).contains(&a.len()) => {
            o.string("username", arg(1));
            o.string("groupname", arg(0));
            priority(&mut o, a.get(2));
        }
        "createrole" | "deleterole" | "getrole" if a.len() == 1 => {
            o = Obj::new(canonical(&lname));
            o.string("rolename", arg(0));
        }
        "addroleacl" | "removeroleacl" => o = role_acl(&lname, a)?,
        _ if KNOWN.iter().any(|k| k.eq_ignore_ascii_case(name)) => return Err(inval()),
        _ => {
            eprintln!("Command '{name}' not recognised.");
            return Err(UNKNOWN);
        }
    }
    Ok(Some(o.finish()))
}

/// mosquitto_ctrl's message for arguments that do not fit the command.
fn invalid_arguments() -> i32 {
    eprintln!("Error: Invalid function arguments provided.");
    INVAL
}

/// The `i`th argument, or "".
fn arg_at(a: &[String], i: usize) -> &str {
    a.get(i).map(String::as_str).unwrap_or_default()
}

/// `setDefaultACLAccess ACLTYPE allow|deny`.
fn set_default_acl_access(a: &[String]) -> Result<Obj, i32> {
    let inval = invalid_arguments;
    let arg = |i: usize| arg_at(a, i);
    if a.len() != 2
        || ![
            "publishClientSend",
            "publishClientReceive",
            "subscribe",
            "unsubscribe",
        ]
        .iter()
        .any(|t| t.eq_ignore_ascii_case(arg(0)))
    {
        return Err(inval());
    }
    if !["allow", "deny"]
        .iter()
        .any(|t| t.eq_ignore_ascii_case(arg(1)))
    {
        eprintln!("Error: access must be \"allow\" or \"deny\".");
        return Err(inval());
    }
    let mut o = Obj::new("setDefaultACLAccess");
    let mut acl = Vec::new();
    json::write_str(&mut acl, b"acltype");
    acl.push(b':');
    json::write_str(&mut acl, arg(0).as_bytes());
    acl.extend_from_slice(b",\"access\":");
    json::write_str(&mut acl, arg(1).as_bytes());
    o.raw("acls", &format!("[{{{}}}]", String::from_utf8_lossy(&acl)));
    Ok(o)
}

/// `createClient USER [-c ID] [-p PASSWORD]`, asking for the password when
/// none is given; `None` when the two typed passwords differ.
fn create_client(a: &[String]) -> Result<Option<Obj>, i32> {
    let inval = invalid_arguments;
    let user = a.first().ok_or_else(inval)?;
    let mut o = Obj::new("createClient");
    o.string("username", user);
    let (mut id, mut pw) = (None, None);
    let mut i = 1;
    while let Some(w) = a.get(i) {
        match (w.as_str(), a.get(i + 1)) {
            ("-c", Some(v)) => id = Some(v),
            ("-p", Some(v)) => pw = Some(v),
            ("-c", None) => {
                eprintln!("Error: -c argument given, but no clientid provided.");
                return Err(inval());
            }
            ("-p", None) => {
                eprintln!("Error: -p argument given, but no password provided.");
                return Err(inval());
            }
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    let asked;
    let pw = match pw {
        Some(p) => Some(p.as_str()),
        None => {
            outln!("Enter new password for {user}. Press return for no password (user will be unable to login).");
            match get_password(user, true, true) {
                Ok(p) => {
                    asked = p;
                    Some(asked.as_str())
                }
                Err(2) => {
                    eprintln!("Error: Passwords do not match.");
                    return Ok(None);
                }
                Err(_) => {
                    outln!();
                    None
                }
            }
        }
    };
    if let Some(id) = id {
        o.string("clientid", id);
    }
    if let Some(pw) = pw {
        o.string("password", pw);
    }
    Ok(Some(o))
}

/// `addRoleACL ROLE TYPE TOPIC allow|deny [PRIORITY]` and
/// `removeRoleACL ROLE TYPE TOPIC`.
fn role_acl(lname: &str, a: &[String]) -> Result<Obj, i32> {
    let inval = invalid_arguments;
    let arg = |i: usize| arg_at(a, i);
    let adding = lname == "addroleacl";
    let ok_len = if adding {
        (4..=5).contains(&a.len())
    } else {
        a.len() == 3
    };
    if !ok_len || !ACL_TYPES.iter().any(|t| t.eq_ignore_ascii_case(arg(1))) {
        return Err(inval());
    }
    let mut o = Obj::new(canonical(lname));
    o.string("rolename", arg(0));
    o.string("acltype", arg(1));
    o.string("topic", arg(2));
    if adding {
        let allow = match arg(3).to_ascii_lowercase().as_str() {
            "allow" => "true",
            "deny" => "false",
            _ => {
                eprintln!("Error: ACL must be \"allow\" or \"deny\".");
                return Err(inval());
            }
        };
        o.raw("allow", allow);
        priority(&mut o, a.get(4));
    }
    Ok(o)
}

const KNOWN: &[&str] = &[
    "deleteClient",
    "getClient",
    "enableClient",
    "disableClient",
    "setClientId",
    "setClientPassword",
    "addClientRole",
    "removeClientRole",
    "listClients",
    "listGroups",
    "listRoles",
    "createGroup",
    "deleteGroup",
    "getGroup",
    "setAnonymousGroup",
    "addGroupRole",
    "removeGroupRole",
    "addGroupClient",
    "removeGroupClient",
    "createRole",
    "deleteRole",
    "getRole",
];

/// The spelling mosquitto_ctrl sends for commands it names itself.
fn canonical(lname: &str) -> &'static str {
    [
        "getDefaultACLAccess",
        "getAnonymousGroup",
        "deleteClient",
        "getClient",
        "listClients",
        "listGroups",
        "listRoles",
        "createGroup",
        "deleteGroup",
        "getGroup",
        "setAnonymousGroup",
        "createRole",
        "deleteRole",
        "getRole",
        "addRoleACL",
        "removeRoleACL",
    ]
    .into_iter()
    .find(|c| c.eq_ignore_ascii_case(lname))
    .unwrap_or("")
}

/// `dynsec init file admin-user admin-password`: a new plugin
/// configuration with one administrator, as mosquitto_ctrl writes it (its
/// password prompt is not implemented: the password must be given).
fn init(a: &[String]) -> Result<(), i32> {
    if a.len() < 2 {
        eprintln!("dynsec init: Not enough arguments - filename, or admin-user missing.");
        eprintln!("Error: Invalid function arguments provided.");
        return Err(INVAL);
    }
    if a.len() > 3 {
        eprintln!("dynsec init: Too many arguments.");
        eprintln!("Error: Invalid function arguments provided.");
        return Err(INVAL);
    }
    let (file, user) = (&a[0], &a[1]);
    let password = match a.get(2) {
        Some(p) => p.clone(),
        None => match get_password(user, true, false) {
            Ok(p) => p,
            Err(_) => return Ok(()),
        },
    };
    if std::path::Path::new(file).exists() {
        eprintln!(
            "dynsec init: '{file}' already exists. Remove the file or use a different location.."
        );
        return Ok(());
    }
    if !crate::passwd::HASHING_AVAILABLE {
        eprintln!("dynsec init: Password hashing is not available in this build of mosquitto_ctrl (built without TLS).");
        return Err(NOT_SUPPORTED);
    }
    let Some(tree) = init_tree(user, &password) else {
        eprintln!("dynsec init: Internal error while encoding password.");
        return Err(UNKNOWN);
    };
    let mut text = Vec::new();
    json::write(&mut text, &tree, true, 0);
    if std::fs::write(file, &text).is_err() {
        eprintln!("dynsec init: Unable to open '{file}' for writing.");
        return Ok(());
    }
    out!(
        "The client '{user}' has been created in the file '{file}'.
This client is configured to allow you to administer the dynamic security plugin only.
It does not have access to publish messages to normal topics.
You should create your application clients to do that, for example:
   mosquitto_ctrl <connect options> dynsec createClient <username>
   mosquitto_ctrl <connect options> dynsec createRole <rolename>
   mosquitto_ctrl <connect options> dynsec addRoleACL <rolename> publishClientSend my/topic [priority]
   mosquitto_ctrl <connect options> dynsec addClientRole <username> <rolename> [priority]
See https://mosquitto.org/documentation/dynamic-security/ for details of all commands.
"
    );
    Ok(())
}

/// The configuration `init` writes: an admin client with a PBKDF2-SHA512
/// password, the admin role, mosquitto's default access.
fn init_tree(user: &str, password: &str) -> Option<Value> {
    use crate::passwd::{base64_encode, digest_pbkdf2, DEFAULT_ITERATIONS, SALT_LEN};
    let mut salt = [0u8; SALT_LEN];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").ok()?, &mut salt).ok()?;
    let hash = digest_pbkdf2(password.as_bytes(), &salt, DEFAULT_ITERATIONS)?;
    let s = |v: &str| Value::Str(v.as_bytes().to_vec());
    let k = |v: &str| v.as_bytes().to_vec();
    let obj = |fields: Vec<(&str, Value)>| {
        Value::Object(fields.into_iter().map(|(n, v)| (k(n), v)).collect())
    };
    let acl = |t: &str, topic: &str| {
        obj(vec![
            ("acltype", s(t)),
            ("topic", s(topic)),
            ("allow", Value::Bool(true)),
        ])
    };
    let client = obj(vec![
        ("username", s(user)),
        ("textName", s("Dynsec admin user")),
        ("password", s(&base64_encode(&hash))),
        ("salt", s(&base64_encode(&salt))),
        ("iterations", Value::Number(DEFAULT_ITERATIONS.to_string())),
        (
            "roles",
            Value::Array(vec![obj(vec![("rolename", s("admin"))])]),
        ),
    ]);
    let acls = vec![
        acl("publishClientSend", "$CONTROL/dynamic-security/#"),
        acl("publishClientReceive", "$CONTROL/dynamic-security/#"),
        acl("subscribePattern", "$CONTROL/dynamic-security/#"),
        acl("publishClientReceive", "$SYS/#"),
        acl("subscribePattern", "$SYS/#"),
        acl("publishClientReceive", "#"),
        acl("subscribePattern", "#"),
        acl("unsubscribePattern", "#"),
    ];
    let role = obj(vec![("rolename", s("admin")), ("acls", Value::Array(acls))]);
    Some(obj(vec![
        ("clients", Value::Array(vec![client])),
        ("roles", Value::Array(vec![role])),
        (
            "defaultACLAccess",
            obj(vec![
                ("publishClientSend", Value::Bool(false)),
                ("publishClientReceive", Value::Bool(true)),
                ("subscribe", Value::Bool(false)),
                ("unsubscribe", Value::Bool(true)),
            ]),
        ),
    ]))
}

/// Ask for a password on the terminal without echo, twice when `verify`
/// (mosquitto's `get_password`): 1 for an empty answer, 2 for two
/// different ones; `quiet` leaves the message to the caller.
fn get_password(user: &str, verify: bool, quiet: bool) -> Result<String, i32> {
    use std::io::Write;
    let ask = |prompt: String| -> Result<Vec<u8>, i32> {
        out!("{prompt}");
        let _ = std::io::stdout().flush();
        let line = crate::sys::terminal::read_hidden_line().unwrap_or_default();
        if line.is_empty() {
            if !quiet {
                eprintln!("Error: Empty password.");
            }
            return Err(1);
        }
        outln!();
        Ok(line)
    };
    let first = ask(format!("New password for {user}: "))?;
    if verify && ask(format!("Reenter password for {user}: "))? != first {
        if !quiet {
            eprintln!("Error: Passwords do not match.");
        }
        return Err(2);
    }
    Ok(String::from_utf8_lossy(&first).into_owned())
}

fn priority(o: &mut Obj, v: Option<&String>) {
    let p = v.map_or(-1, |v| atoi(v));
    if p != -1 {
        o.int("priority", p);
    }
}

/// Connect, subscribe to the response topic, publish the request, print
/// the answer.
fn request(cfg: &Config, payload: &[u8]) -> i32 {
    if cfg.tls.cafile.is_none() && cfg.tls.capath.is_none() {
        eprint!("Warning: You are running mosquitto_ctrl without encryption.\nThis means all of the configuration changes you are making are visible on the network, including passwords.\n\n");
    }
    let mut session = match cli::connect(cfg) {
        Ok(s) => s,
        Err(ConnectFailure::Refused(_) | ConnectFailure::Failed(_)) => return 0,
    };
    let none = Properties::default();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut run = || -> Result<(), SessionError> {
        session.subscribe(&[RESPONSE.to_owned()], cfg.qos, 0, &none)?;
        loop {
            match session.wait(Some(deadline), None, None)? {
                Event::Packet(Packet::SubAck(ack)) => {
                    let code = ack.codes.first().copied().unwrap_or(0x80);
                    if code >= 0x80 {
                        if cfg.protocol == ProtocolVersion::V5 {
                            eprintln!("Subscribe error: {}", cli::reason_string(code));
                        } else {
                            eprintln!("Subscribe error: Subscription refused.");
                        }
                        break;
                    }
                    session.publish(REQUEST, payload, cfg.qos, false, &none)?;
                }
                Event::Packet(Packet::PubAck(a)) if a.reason >= 0x80 => {
                    eprintln!("Publish error: {}", cli::reason_string(a.reason));
                    break;
                }
                Event::Packet(Packet::PubRec(a)) if a.reason < 0x80 => {
                    session.send_pubrel(a.packet_id)?;
                }
                Event::Packet(Packet::Publish(m)) => {
                    print_answer(&m.payload);
                    break;
                }
                Event::Deadline => break,
                _ => {}
            }
        }
        session.disconnect(&none);
        Ok(())
    };
    // Once connected, mosquitto_ctrl exits 0 whatever happens next.
    let _ = run();
    0
}

/// Print the broker's answer as mosquitto_ctrl does.
fn print_answer(payload: &[u8]) {
    let Some(tree) = json::parse(payload) else {
        eprintln!("Error: Payload not JSON.");
        return;
    };
    let response = tree.get("responses").and_then(|r| match r {
        Value::Array(items) => items.first(),
        _ => None,
    });
    let Some(response) = response else {
        eprintln!("Error: Payload missing data.");
        return;
    };
    let Some(command) = response.get("command").and_then(Value::str) else {
        eprintln!("Error: Payload missing data.");
        return;
    };
    if let Some(e) = response.get("error") {
        eprintln!("{command}: Error: {}", e.str().unwrap_or_default());
        return;
    }
    let data = response.get("data");
    let mut out = String::new();
    let ok = match command.to_ascii_lowercase().as_str() {
        "listclients" => list(&mut out, data, "clients", "username"),
        "listgroups" => list(&mut out, data, "groups", "groupname"),
        "listroles" => list(&mut out, data, "roles", "rolename"),
        "getclient" => client(&mut out, data),
        "getgroup" => group(&mut out, data),
        "getrole" => role(&mut out, data),
        "getdefaultaclaccess" => default_access(&mut out, data),
        "getanonymousgroup" => data
            .and_then(|d| d.get("group"))
            .and_then(|g| g.get("groupname"))
            .and_then(Value::str)
            .map(|g| out.push_str(&format!("{g}\n")))
            .is_some(),
        _ => true,
    };
    out!("{out}");
    if !ok {
        eprintln!("Error: Invalid response from server.");
    }
}

fn list(out: &mut String, data: Option<&Value>, array: &str, key: &str) -> bool {
    let Some(arr @ Value::Array(_)) = data.and_then(|d| d.get(array)) else {
        return false;
    };
    for e in arr.items() {
        let name = match e {
            Value::Object(_) => e.get(key).and_then(Value::str),
            other => other.str(),
        };
        if let Some(n) = name {
            out.push_str(&format!("{n}\n"));
        }
    }
    true
}

/// " (priority: N)" as printed by mosquitto_ctrl.
fn prio(e: &Value) -> String {
    match e.get("priority") {
        Some(Value::Number(n)) => {
            format!(" (priority: {})", n.parse::<f64>().map_or(0, |f| f as i64))
        }
        _ => " (priority: -1)".to_owned(),
    }
}

fn roles(out: &mut String, r: Option<&Value>, width: usize) {
    let Some(arr @ Value::Array(_)) = r else {
        out.push_str("Roles:\n");
        return;
    };
    let mut first = true;
    for e in arr.items() {
        if let Some(name) = e.get("rolename").and_then(Value::str) {
            let label = if first { "Roles:" } else { "" };
            first = false;
            out.push_str(&format!("{label:<width$} {name}{}\n", prio(e)));
        }
    }
}

fn client(out: &mut String, data: Option<&Value>) -> bool {
    let Some(c) = data.and_then(|d| d.get("client")) else {
        return false;
    };
    let Some(user) = c.get("username").and_then(Value::str) else {
        return false;
    };
    out.push_str(&format!("Username: {user}\n"));
    match c.get("clientid").and_then(Value::str) {
        Some(id) => out.push_str(&format!("Clientid: {id}\n")),
        None => out.push_str("Clientid:\n"),
    }
    if let Some(Value::Bool(d)) = c.get("disabled") {
        out.push_str(&format!("Disabled: {d}\n"));
    }
    roles(out, c.get("roles"), "Username:".len());
    match c.get("groups") {
        Some(arr @ Value::Array(_)) => {
            let mut first = true;
            for e in arr.items() {
                if let Some(g) = e.get("groupname").and_then(Value::str) {
                    let label = if first { "Groups:" } else { "" };
                    first = false;
                    out.push_str(&format!("{label:<9} {g}{}\n", prio(e)));
                }
            }
        }
        _ => out.push_str("Groups:\n"),
    }
    true
}

fn group(out: &mut String, data: Option<&Value>) -> bool {
    let Some(g) = data.and_then(|d| d.get("group")) else {
        return false;
    };
    let Some(name) = g.get("groupname").and_then(Value::str) else {
        return false;
    };
    out.push_str(&format!("Groupname: {name}\n"));
    roles(out, g.get("roles"), "Groupname:".len());
    let mut first = true;
    for e in g.get("clients").map(Value::items).unwrap_or_default() {
        if let Some(u) = e.get("username").and_then(Value::str) {
            let label = if first { "Clients:" } else { "" };
            first = false;
            out.push_str(&format!("{label:<10} {u}\n"));
        }
    }
    true
}

fn role(out: &mut String, data: Option<&Value>) -> bool {
    let Some(r) = data.and_then(|d| d.get("role")) else {
        return false;
    };
    let Some(name) = r.get("rolename").and_then(Value::str) else {
        return false;
    };
    out.push_str(&format!("Rolename: {name}\n"));
    let mut first = true;
    for e in r.get("acls").map(Value::items).unwrap_or_default() {
        let Some(t) = e.get("acltype").and_then(Value::str) else {
            continue;
        };
        let label = if first { "ACLs:" } else { "" };
        first = false;
        out.push_str(&format!("{label:<9} {t:<20}"));
        if let Some(Value::Bool(allow)) = e.get("allow") {
            out.push_str(if *allow { " : allow" } else { " : deny " });
        }
        if let Some(topic) = e.get("topic").and_then(Value::str) {
            out.push_str(&format!(" : {topic}"));
        }
        out.push_str(&prio(e));
        out.push('\n');
    }
    true
}

fn default_access(out: &mut String, data: Option<&Value>) -> bool {
    let Some(acls @ Value::Array(_)) = data.and_then(|d| d.get("acls")) else {
        return false;
    };
    for e in acls.items() {
        match (e.get("acltype").and_then(Value::str), e.get("allow")) {
            (Some(t), Some(Value::Bool(a))) => {
                out.push_str(&format!(
                    "{t:<20} : {}\n",
                    if *a { "allow" } else { "deny" }
                ));
            }
            _ => return false,
        }
    }
    true
}

const DYNSEC_HELP: &str = "
Dynamic Security module
=======================

Initialisation
--------------
Create a new configuration file with an admin user:
    mosquitto_ctrl dynsec init <new-config-file> <admin-username> [admin-password]

General
-------
Get ACL default access:          getDefaultACLAccess
Set ACL default access:          setDefaultACLAccess <acltype> allow|deny
Get group for anonymous clients: getAnonymousGroup
Set group for anonymous clients: setAnonymousGroup   <groupname>

Clients
-------
Create a new client:         createClient      <username> [-c clientid] [-p password]
Delete a client:             deleteClient      <username>
Set a client password:       setClientPassword <username> [password]
Set a client id:             setClientId       <username> [clientid]
Add a role to a client:      addClientRole     <username> <rolename> [priority]
    Higher priority (larger numerical value) roles are evaluated first.
Remove role from a client:   removeClientRole  <username> <rolename>
Get client information:      getClient         <username>
List all clients:            listClients       [count [offset]]
Enable client:               enableClient      <username>
Disable client:              disableClient     <username>

Groups
------
Create a new group:          createGroup       <groupname>
Delete a group:              deleteGroup       <groupname>
Add a role to a group:       addGroupRole      <groupname> <rolename> [priority]
Remove role from a group:    removeGroupRole   <groupname> <rolename>
Add client to a group:       addGroupClient    <groupname> <username> [priority]
Remove client from a group:  removeGroupClient <groupname> <username>
Get group information:       getGroup          <groupname>
List all groups:             listGroups        [count [offset]]

Roles
------
Create a new role:           createRole        <rolename>
Delete a role:               deleteRole        <rolename>
Add an ACL to a role:        addRoleACL        <rolename> <aclspec> [priority]
Remove ACL from a role:      removeRoleACL     <rolename> <aclspec>
Get role information:        getRole           <rolename>
List all roles:              listRoles         [count [offset]]

aclspec:                     <acltype> <topicFilter> allow|deny
acltype:                     publishClientSend|publishClientReceive
                              |subscribeLiteral|subscribePattern
                              |unsubscribeLiteral|unsubscribePattern

";

#[cfg(test)]
mod tests {
    use super::*;

    fn json(words: &str) -> Result<String, i32> {
        let w: Vec<String> = words.split(' ').map(str::to_owned).collect();
        command(&w).map(|p| String::from_utf8(p.unwrap_or_default()).unwrap_or_default())
    }

    #[test]
    fn commands_as_mosquitto_ctrl_sends_them() {
        assert_eq!(
            json("createClient al\"x -c id -p pw").unwrap(),
            r#"{"commands":[{"command":"createClient","username":"al\"x","clientid":"id","password":"pw"}]}"#
        );
        assert_eq!(
            json("addRoleACL r subscribePattern a/# deny 7").unwrap(),
            r#"{"commands":[{"command":"addRoleACL","rolename":"r","acltype":"subscribePattern","topic":"a/#","allow":false,"priority":7}]}"#
        );
        assert_eq!(
            json("setDefaultACLAccess subscribe allow").unwrap(),
            r#"{"commands":[{"command":"setDefaultACLAccess","acls":[{"acltype":"subscribe","access":"allow"}]}]}"#
        );
        assert_eq!(
            json("listClients 5 2").unwrap(),
            r#"{"commands":[{"command":"listClients","count":5,"offset":2}]}"#
        );
        assert_eq!(json("getClient"), Err(INVAL));
        assert_eq!(json("nothing"), Err(UNKNOWN));
    }

    #[test]
    fn answers_printed_as_mosquitto_ctrl() {
        let mut out = String::new();
        let data = json::parse(br#"{"role":{"rolename":"r","acls":[{"acltype":"publishClientSend","topic":"t","allow":false,"priority":2}]}}"#);
        assert!(role(&mut out, data.as_ref()));
        assert_eq!(
            out,
            "Rolename: r\nACLs:     publishClientSend    : deny  : t (priority: 2)\n"
        );
        let mut out = String::new();
        assert!(!client(&mut out, None));
    }
}
