//! mosquitto's `acl_file` and its access decision.
//!
//! File format, as mosquitto 2.0 reads it (`aclfile__parse`):
//!
//! - trailing whitespace is dropped; a line whose first byte is `#` is a
//!   comment; an empty line is skipped. Words are separated by spaces only
//!   (a tab does not separate; an indented `#` is not a comment but an
//!   invalid line: mosquitto refuses both, and so do we);
//! - `user <name>`: the following `topic` lines belong to that user (the
//!   rest of the line, trimmed, is the name, spaces included). `topic` lines
//!   before the first `user` line apply to clients *without a username*
//!   only. Several blocks for one user add up;
//! - `topic [read|write|readwrite|deny] <topic>`: the access word is
//!   optional (`topic <topic>` is readwrite; `topic read` alone is readwrite
//!   on the topic named `read`); the topic is the rest of the line, trimmed;
//! - `pattern [read|write|readwrite|deny] <pattern>`: for every client,
//!   wherever it appears in the file; `%c` is replaced by the client id and
//!   `%u` by the username (a pattern with `%u` never applies to a client
//!   without a username);
//! - topics and patterns must be valid subscription filters; anything else
//!   stops the load with file:line and the reason.
//!
//! Decision (`mosquitto_acl_check` + `mosquitto_acl_check_default`), for
//! non-bridge clients:
//!
//! 1. `$SYS…` topics are never writable except
//!    `$SYS/broker/connection/+/state`; `$share…` is never readable or
//!    writable (only subscribable). This holds even without an ACL file
//!    ([`dollar_allowed`]).
//! 2. SUBSCRIBE and UNSUBSCRIBE are not checked by the ACL file at all in
//!    mosquitto 2.0 (`FIXME - implement ACL subscription strings`): the
//!    client may subscribe to anything; what it receives is filtered by the
//!    read check at delivery, against each message's topic, including
//!    retained messages.
//! 3. The client's own rules (its `user` block, or the anonymous block for a
//!    client without a username): a matching `deny` refuses; a matching rule
//!    granting the access allows. A rule matching a `$` topic must itself
//!    begin with `$` (so `topic #` does not grant `$SYS/#`).
//! 4. If the file has any `pattern` line and the username or client id
//!    contains `+` or `#`, access is refused (otherwise a client called `#`
//!    would match every `%c` pattern). This check comes *after* the user
//!    rules: a user rule still applies to such a client.
//! 5. Patterns, after substitution: a matching `deny` refuses, a matching
//!    grant allows.
//! 6. Otherwise refused. In particular a client with no block and no
//!    patterns can do nothing.
//!
//! Note the order: a user-block grant wins over a `pattern deny`, because
//! patterns are only looked at when no user rule allowed.
//!
//! **Extension beyond mosquitto** ([`Acl::subscribe_allowed`]): a SUBSCRIBE
//! whose filter lies entirely within a `deny` rule of the client (its own
//! block or a substituted pattern) is refused (SUBACK 0x80 / 0x87), instead
//! of being accepted and then never delivering anything. Filters that only
//! overlap a deny rule (`#` with `deny secret/#`) are accepted; the read
//! check still hides the denied messages.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{is_c_space, read_lines, trim_blanks, SecurityError, Warning};
use crate::protocol::topic::matches;

/// What a client wants to do with a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Receive a message on this topic (checked at delivery).
    Read,
    /// Publish to this topic.
    Write,
    /// Subscribe with this filter (mosquitto: only the `$` rules apply).
    Subscribe,
    /// Unsubscribe from this filter: only plugins decide (the file and the
    /// `$` rules allow it).
    Unsubscribe,
}

const READ: u8 = 1;
const WRITE: u8 = 2;
/// mosquitto's `TOPIC_HIERARCHY_LIMIT`.
const HIERARCHY_LIMIT: usize = 200;

#[derive(Debug, Clone, Default)]
struct Rules {
    deny: Vec<String>,
    /// Topic and READ/WRITE bits.
    grant: Vec<(String, u8)>,
}

impl Rules {
    fn add(&mut self, topic: String, access: u8) {
        if access == 0 {
            self.deny.push(topic);
        } else {
            self.grant.push((topic, access));
        }
    }

    fn is_empty(&self) -> bool {
        self.deny.is_empty() && self.grant.is_empty()
    }
}

/// A loaded ACL file.
#[derive(Debug, Clone, Default)]
pub struct Acl {
    path: PathBuf,
    /// Rules before the first `user` line: clients without a username.
    anonymous: Option<Rules>,
    users: HashMap<String, Rules>,
    patterns: Rules,
    warnings: Vec<Warning>,
}

/// C's `strtok_r(s, " ")` followed by `strtok_r(NULL, "")`: the first
/// space-separated word and the text after the single space that ended it.
fn split_word(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start_matches(' ');
    if s.is_empty() {
        return None;
    }
    match s.find(' ') {
        Some(i) => Some((&s[..i], &s[i + 1..])),
        None => Some((s, "")),
    }
}

/// mosquitto's `mosquitto_sub_topic_check` as the broker builds it.
fn valid_acl_topic(t: &str) -> bool {
    let b = t.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        let prev = if i == 0 { None } else { b.get(i - 1).copied() };
        let next = b.get(i + 1).copied();
        let prev_ok = matches!(prev, None | Some(b'/'));
        match c {
            b'+' if !prev_ok || !matches!(next, None | Some(b'/')) => return false,
            b'#' if !prev_ok || next.is_some() => return false,
            _ => {}
        }
    }
    t.len() <= 65535 && b.iter().filter(|&&c| c == b'/').count() <= HIERARCHY_LIMIT
}

/// The `$` rules of mosquitto's `acl__check_dollar`, applied to every
/// non-bridge client whether or not there is an ACL file.
pub fn dollar_allowed(topic: &str, access: Access) -> bool {
    if !topic.starts_with('$') {
        return true;
    }
    if topic.starts_with("$SYS") {
        if access == Access::Write {
            // Bridge status may be written; nothing else under $SYS.
            return matches("$SYS/broker/connection/+/state", topic);
        }
        return true;
    }
    if topic.starts_with("$share") {
        return matches!(access, Access::Subscribe | Access::Unsubscribe);
    }
    true
}

/// The full decision for a non-bridge client: [`dollar_allowed`], then the
/// ACL file when there is one (without one, allowed).
pub fn acl_allows(
    acl: Option<&Acl>,
    client_id: &str,
    username: Option<&str>,
    topic: &str,
    access: Access,
) -> bool {
    match acl {
        Some(a) => a.check(client_id, username, topic, access),
        None => dollar_allowed(topic, access),
    }
}

/// `%c` → client id, `%u` → username (when there is one); any other `%`
/// stays.
fn substitute(pattern: &str, client_id: &str, username: Option<&str>) -> String {
    let mut out = String::with_capacity(pattern.len() + client_id.len());
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '%' {
            match (chars.peek(), username) {
                (Some('c'), _) => {
                    chars.next();
                    out.push_str(client_id);
                    continue;
                }
                (Some('u'), Some(u)) => {
                    chars.next();
                    out.push_str(u);
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
    }
    out
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['+', '#'])
}

/// Whether every topic that `filter` can match is matched by `rule`
/// (both valid filters).
fn covers(rule: &str, filter: &str) -> bool {
    let first_is_wild = |s: &str| s.starts_with('+') || s.starts_with('#');
    if filter.starts_with('$') && first_is_wild(rule) {
        return false;
    }
    let mut r = rule.split('/');
    let mut f = filter.split('/');
    loop {
        match (r.next(), f.next()) {
            (Some("#"), _) => return true,
            (Some(_), Some("#")) => return false,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b && b != "+" => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// `$share/<group>/<filter>` → `<filter>`.
fn strip_share(filter: &str) -> &str {
    if let Some(rest) = filter.strip_prefix("$share/") {
        if let Some((_group, f)) = rest.split_once('/') {
            return f;
        }
    }
    filter
}

impl Acl {
    /// Reads and parses `path`; any invalid line is an error with
    /// file:line and the reason, as in mosquitto.
    pub fn load(path: &Path) -> Result<Acl, SecurityError> {
        let lines = read_lines(path)?;
        Self::parse_lines(path, &lines)
    }

    /// Parses file content; `name` stands for the path in messages.
    pub fn parse(name: &str, content: &str) -> Result<Acl, SecurityError> {
        let lines: Vec<String> = content.split('\n').map(str::to_owned).collect();
        Self::parse_lines(Path::new(name), &lines)
    }

    fn parse_lines(path: &Path, lines: &[String]) -> Result<Acl, SecurityError> {
        let mut acl = Acl {
            path: path.to_path_buf(),
            ..Acl::default()
        };
        let mut user: Option<String> = None;
        for (i, raw) in lines.iter().enumerate() {
            let lineno = i + 1;
            let err = |reason: String| SecurityError::Parse {
                path: path.to_path_buf(),
                line: lineno,
                reason,
            };
            let line = raw.trim_end_matches(is_c_space);
            if line.starts_with('#') {
                continue;
            }
            let Some((keyword, rest)) = split_word(line) else {
                continue;
            };
            match keyword {
                "topic" | "pattern" => {
                    let Some((word, after)) = split_word(rest) else {
                        return Err(err(format!("empty {keyword} in acl_file")));
                    };
                    let (access, topic) = if after.is_empty() {
                        (READ | WRITE, word)
                    } else {
                        let access = match word {
                            "read" => READ,
                            "write" => WRITE,
                            "readwrite" => READ | WRITE,
                            "deny" => 0,
                            other => {
                                return Err(err(format!(
                                    "invalid topic access type \"{other}\" (expected read, \
                                     write, readwrite or deny)"
                                )))
                            }
                        };
                        (access, trim_blanks(after))
                    };
                    if topic.is_empty() || !valid_acl_topic(topic) {
                        return Err(err(format!("invalid ACL topic \"{topic}\"")));
                    }
                    if keyword == "topic" {
                        let rules = match &user {
                            Some(u) => acl.users.entry(u.clone()).or_default(),
                            None => acl.anonymous.get_or_insert_with(Rules::default),
                        };
                        rules.add(topic.to_owned(), access);
                    } else {
                        if !topic.contains("%c") && !topic.contains("%u") {
                            acl.warnings.push(Warning {
                                path: path.to_path_buf(),
                                line: lineno,
                                message: format!(
                                    "ACL pattern '{topic}' does not contain '%c' or '%u'"
                                ),
                            });
                        }
                        acl.patterns.add(topic.to_owned(), access);
                    }
                }
                "user" => {
                    let name = trim_blanks(rest);
                    if name.is_empty() {
                        return Err(err("missing username in acl_file".into()));
                    }
                    user = Some(name.to_owned());
                }
                _ => {
                    return Err(err(format!(
                        "invalid line in acl_file: \"{line}\" (expected user, topic or \
                         pattern; words are separated by spaces)"
                    )))
                }
            }
        }
        Ok(acl)
    }

    /// The file this was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Non-fatal remarks (patterns without `%c`/`%u`), with file:line.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    fn rules_for(&self, username: Option<&str>) -> Option<&Rules> {
        match username {
            Some(u) => self.users.get(u),
            None => self.anonymous.as_ref(),
        }
    }

    /// mosquitto 2.0's decision for a non-bridge client (see the module
    /// documentation). `topic` is the message topic for [`Access::Read`]
    /// and [`Access::Write`] (after the mount point was prepended), the
    /// filter for [`Access::Subscribe`].
    pub fn check(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
        access: Access,
    ) -> bool {
        if !dollar_allowed(topic, access) {
            return false;
        }
        let bit = match access {
            Access::Read => READ,
            Access::Write => WRITE,
            Access::Subscribe | Access::Unsubscribe => return true,
        };
        let own = self.rules_for(username);
        if own.is_none() && self.patterns.is_empty() {
            return false;
        }
        if let Some(rules) = own {
            if rules.deny.iter().any(|d| matches(d, topic)) {
                return false;
            }
            if rules
                .grant
                .iter()
                .any(|(t, a)| a & bit != 0 && matches(t, topic))
            {
                return true;
            }
        }
        if self.patterns.is_empty() {
            return false;
        }
        if has_wildcard(client_id) || username.is_some_and(has_wildcard) {
            log::info!(
                "ACL denying access to client with dangerous client id \"{client_id}\" or username"
            );
            return false;
        }
        let applies = |p: &str| username.is_some() || !p.contains("%u");
        for d in &self.patterns.deny {
            if applies(d) && matches(&substitute(d, client_id, username), topic) {
                return false;
            }
        }
        self.patterns.grant.iter().any(|(p, a)| {
            a & bit != 0 && applies(p) && matches(&substitute(p, client_id, username), topic)
        })
    }

    /// Our extension (not in mosquitto): false when every topic `filter`
    /// can match is denied to this client by a `deny` line of its own block
    /// or a `pattern deny` line. The broker then answers the SUBSCRIBE with
    /// 0x80 (MQTT 5: 0x87) for that filter. `$share/<group>/` is removed
    /// before the test. Grants are not consulted: a filter that no rule
    /// grants is still accepted, as in mosquitto, and delivers nothing.
    pub fn subscribe_allowed(&self, client_id: &str, username: Option<&str>, filter: &str) -> bool {
        let filter = strip_share(filter);
        if let Some(rules) = self.rules_for(username) {
            if rules.deny.iter().any(|d| covers(d, filter)) {
                return false;
            }
        }
        if has_wildcard(client_id) || username.is_some_and(has_wildcard) {
            // Patterns never apply to such a client (every read is refused).
            return true;
        }
        !self.patterns.deny.iter().any(|d| {
            (username.is_some() || !d.contains("%u"))
                && covers(&substitute(d, client_id, username), filter)
        })
    }

    /// Whether the file has any rule at all.
    pub fn is_empty(&self) -> bool {
        self.anonymous.as_ref().is_none_or(Rules::is_empty)
            && self.users.values().all(Rules::is_empty)
            && self.patterns.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(text: &str) -> Acl {
        Acl::parse("acl", text).unwrap()
    }

    fn parse_err(text: &str) -> String {
        Acl::parse("acl", text).unwrap_err().to_string()
    }

    #[test]
    fn anonymous_block_and_user_blocks() {
        let a = acl("topic read public/#\n\nuser alice\ntopic readwrite alice/#\ntopic write in\n# c\nuser bob\ntopic deny alice/secret\ntopic alice/#\n");
        // Anonymous: only the rules before the first user line.
        assert!(a.check("c", None, "public/x", Access::Read));
        assert!(!a.check("c", None, "public/x", Access::Write));
        assert!(!a.check("c", None, "alice/x", Access::Read));
        // alice
        assert!(a.check("c", Some("alice"), "alice/x", Access::Write));
        assert!(a.check("c", Some("alice"), "alice", Access::Read));
        assert!(a.check("c", Some("alice"), "in", Access::Write));
        assert!(!a.check("c", Some("alice"), "in", Access::Read));
        assert!(!a.check("c", Some("alice"), "public/x", Access::Read));
        // bob: deny wins over a later grant.
        assert!(a.check("c", Some("bob"), "alice/other", Access::Read));
        assert!(!a.check("c", Some("bob"), "alice/secret", Access::Read));
        assert!(!a.check("c", Some("bob"), "alice/secret", Access::Write));
        // Unknown user, no patterns: nothing.
        assert!(!a.check("c", Some("carol"), "public/x", Access::Read));
        // Subscribe is never refused by the file.
        assert!(a.check("c", Some("carol"), "#", Access::Subscribe));
    }

    #[test]
    fn repeated_user_blocks_add_up() {
        let a = acl("user u\ntopic read a\nuser v\ntopic read b\nuser u\ntopic read c\n");
        assert!(a.check("x", Some("u"), "a", Access::Read));
        assert!(a.check("x", Some("u"), "c", Access::Read));
        assert!(!a.check("x", Some("u"), "b", Access::Read));
    }

    #[test]
    fn dollar_topics() {
        let a = acl("user u\ntopic readwrite #\ntopic readwrite $SYS/#\n");
        // '#' does not reach $ topics; $SYS is never writable.
        assert!(a.check("x", Some("u"), "$SYS/broker/uptime", Access::Read));
        assert!(!a.check("x", Some("u"), "$SYS/broker/uptime", Access::Write));
        assert!(!a.check("x", Some("u"), "$SYSfoo", Access::Write));
        assert!(a.check(
            "x",
            Some("u"),
            "$SYS/broker/connection/b1/state",
            Access::Write
        ));
        let b = acl("user u\ntopic readwrite #\n");
        assert!(!b.check("x", Some("u"), "$SYS/broker/uptime", Access::Read));
        assert!(!b.check("x", Some("u"), "$other/t", Access::Write));
        assert!(b.check("x", Some("u"), "other/t", Access::Write));
        // $share is only for subscriptions.
        assert!(!dollar_allowed("$share/g/t", Access::Write));
        assert!(!dollar_allowed("$share/g/t", Access::Read));
        assert!(dollar_allowed("$share/g/t", Access::Subscribe));
        assert!(dollar_allowed("$SYS/#", Access::Subscribe));
        assert!(acl_allows(None, "c", None, "a/b", Access::Write));
        assert!(!acl_allows(None, "c", None, "$SYS/x", Access::Write));
    }

    #[test]
    fn patterns_substitute_client_id_and_username() {
        let a =
            acl("pattern readwrite devices/%c/#\npattern read users/%u/in\npattern write %u/%c\n");
        assert!(a.check("dev1", None, "devices/dev1/temp", Access::Write));
        assert!(!a.check("dev1", None, "devices/dev2/temp", Access::Write));
        // %u patterns never apply without a username.
        assert!(!a.check("dev1", None, "users//in", Access::Read));
        assert!(a.check("dev1", Some("ann"), "users/ann/in", Access::Read));
        assert!(!a.check("dev1", Some("ann"), "users/ann/in", Access::Write));
        assert!(a.check("dev1", Some("ann"), "ann/dev1", Access::Write));
        // A '/' in the username is substituted as is (mosquitto does).
        assert!(a.check("c", Some("a/b"), "users/a/b/in", Access::Read));
        // '%' not followed by c or u stays literal.
        let b = acl("pattern read 100%/%c\n");
        assert!(b.check("x", None, "100%/x", Access::Read));
    }

    #[test]
    fn wildcards_in_ids_cannot_widen_patterns() {
        let a = acl("pattern readwrite devices/%c/#\npattern readwrite users/%u\n");
        for id in ["+", "#", "a+b", "x#"] {
            assert!(
                !a.check(id, None, &format!("devices/{id}/t"), Access::Write),
                "{id}"
            );
            assert!(!a.check(id, None, "devices/other/t", Access::Read), "{id}");
            assert!(!a.check(id, None, "devices/other/t", Access::Write), "{id}");
        }
        assert!(!a.check("c", Some("#"), "users/anything", Access::Read));
        assert!(!a.check("c", Some("+"), "users/bob", Access::Write));
        // Even the client's own slot is refused to a dangerous client.
        assert!(!a.check("c", Some("+"), "devices/c/t", Access::Write));
        // But user rules still apply to it (they come first in mosquitto).
        let b = acl("user +\ntopic read open\npattern read %u\n");
        assert!(b.check("c", Some("+"), "open", Access::Read));
        assert!(!b.check("c", Some("+"), "x", Access::Read));
    }

    #[test]
    fn deny_order_user_grant_beats_pattern_deny() {
        let a = acl("user u\ntopic read #\npattern deny secret/%u\npattern read secret/%c\n");
        // The user block grants read on everything; mosquitto never reaches
        // the pattern deny.
        assert!(a.check("c", Some("u"), "secret/u", Access::Read));
        // For another user the pattern deny applies before the grant.
        assert!(!a.check("v", Some("v"), "secret/v", Access::Read));
        assert!(a.check("c", Some("w"), "secret/c", Access::Read));
    }

    #[test]
    fn parsing_quirks() {
        // `topic x` is readwrite; `topic read` alone is the topic "read".
        let a = acl("topic foo\ntopic read\n");
        assert!(a.check("c", None, "foo", Access::Write));
        assert!(a.check("c", None, "read", Access::Write));
        // Spaces inside topics and usernames, extra spaces between words.
        let b = acl("user  jo smith  \ntopic  read   a b/c  \n");
        assert!(b.check("c", Some("jo smith"), "a b/c", Access::Read));
        // Leading spaces before a keyword are fine; CRLF is fine.
        let c = acl("  user u\r\n   topic write t\r\n");
        assert!(c.check("c", Some("u"), "t", Access::Write));
        // Pattern warning.
        let d = acl("pattern read fixed\n");
        assert_eq!(d.warnings().len(), 1);
        assert_eq!(d.warnings()[0].line, 1);
    }

    #[test]
    fn errors_carry_line_and_reason() {
        let e = parse_err("user u\ntopic sometimes t\n");
        assert!(e.contains("acl:2:") && e.contains("sometimes"), "{e}");
        let e = parse_err("# ok\ntopic\n");
        assert!(e.contains("acl:2:") && e.contains("empty"), "{e}");
        let e = parse_err("user\n");
        assert!(e.contains("acl:1:") && e.contains("username"), "{e}");
        let e = parse_err("\n\ntopic read a/#/b\n");
        assert!(e.contains("acl:3:") && e.contains("a/#/b"), "{e}");
        let e = parse_err("pattern read a+\n");
        assert!(e.contains("acl:1:"), "{e}");
        let e = parse_err("users alice\n");
        assert!(e.contains("acl:1:") && e.contains("invalid line"), "{e}");
        // Tabs do not separate words; an indented '#' is not a comment.
        let e = parse_err("topic\tread\tt\n");
        assert!(e.contains("acl:1:"), "{e}");
        let e = parse_err("  # indented\n");
        assert!(e.contains("acl:1:"), "{e}");
        let deep = format!("topic read {}\n", "a/".repeat(201) + "b");
        assert!(parse_err(&deep).contains("acl:1:"));
        let missing = Acl::load(Path::new("/nonexistent/mosq-rs/acl")).unwrap_err();
        assert!(matches!(missing, SecurityError::Io { .. }));
    }

    #[test]
    fn topic_validation_mirrors_mosquitto() {
        for ok in [
            "#", "+", "a/+/b", "a/#", "+/+", "/", "a//b", "$SYS/#", "%c/#",
        ] {
            assert!(valid_acl_topic(ok), "{ok}");
        }
        for bad in ["a#", "#/a", "a+", "+a", "a/+b/c", "a/b#"] {
            assert!(!valid_acl_topic(bad), "{bad}");
        }
    }

    #[test]
    fn subscribe_extension_refuses_only_covered_filters() {
        let a = acl("user u\ntopic deny secret/#\ntopic deny one/+/x\ntopic readwrite #\npattern deny private/%c/#\n");
        let s = |f: &str| a.subscribe_allowed("me", Some("u"), f);
        assert!(!s("secret/#"));
        assert!(!s("secret"));
        assert!(!s("secret/a/+"));
        assert!(!s("one/+/x"));
        assert!(!s("one/a/x"));
        assert!(!s("$share/g/secret/a"));
        assert!(!s("private/me/#"));
        assert!(s("private/you/#"));
        // Overlap only: accepted (delivery filters).
        assert!(s("#"));
        assert!(s("+/a"));
        assert!(s("one/#"));
        assert!(s("one/+/+"));
        assert!(s("public/a"));
        // `#` deny does not cover $ topics.
        let b = acl("user u\ntopic deny #\n");
        assert!(!b.subscribe_allowed("c", Some("u"), "a/b"));
        assert!(b.subscribe_allowed("c", Some("u"), "$SYS/#"));
        // Wildcards in the client id: patterns are not substituted.
        assert!(a.subscribe_allowed("#", Some("u"), "private/x/#"));
    }

    #[test]
    fn covers_table() {
        let t = [
            ("#", "a/b", true),
            ("a/#", "a", true),
            ("a/#", "a/#", true),
            ("a/#", "a/+/c", true),
            ("a/+", "a/b", true),
            ("a/+", "a/+", true),
            ("a/+", "a/#", false),
            ("a/+/#", "a/#", false),
            ("a/b", "a/+", false),
            ("a/b", "a/b/c", false),
            ("a/b/c", "a/b", false),
            ("+/b", "a/b", true),
            ("+", "$SYS", false),
            ("$SYS/#", "$SYS/x", true),
        ];
        for (rule, filter, want) in t {
            assert_eq!(covers(rule, filter), want, "{rule} vs {filter}");
        }
    }

    #[test]
    fn empty_file_denies_everything_but_subscribe() {
        let a = acl("# nothing\n\n");
        assert!(a.is_empty());
        assert!(!a.check("c", None, "t", Access::Read));
        assert!(!a.check("c", Some("u"), "t", Access::Write));
        assert!(a.check("c", Some("u"), "t", Access::Subscribe));
    }
}
