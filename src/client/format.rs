//! mosquitto_sub's `-F` output format: `%` message fields with optional
//! `-`/`0` flags, width and precision, `@` time fields passed to strftime,
//! and `\` escapes. `check_format` rejects what mosquitto rejects, with the
//! same messages; `render` produces the same bytes.

use super::json;
use super::output::Message;
use crate::protocol::properties::PropertyValue;
use crate::sys::time::LocalTime;

/// The `%` conversions mosquitto_sub knows.
const CONVERSIONS: &[u8] = b"%ACDEFIlmPpqRSrtjJUxX";

/// Validate a format string as mosquitto does when `-F` is parsed.
pub fn check_format(f: &str) -> Result<(), String> {
    let b = f.as_bytes();
    let incomplete = || Err("Error: Incomplete format specifier.\n".to_owned());
    let mut i = 0;
    while i < b.len() {
        match at(b, i) {
            b'%' => {
                i += 1;
                if i >= b.len() {
                    return incomplete();
                }
                if at(b, i) == b'0' || at(b, i) == b'-' {
                    i += 1;
                }
                while i < b.len() && at(b, i).is_ascii_digit() {
                    i += 1;
                }
                if i < b.len() && at(b, i) == b'.' {
                    i += 1;
                    while i < b.len() && at(b, i).is_ascii_digit() {
                        i += 1;
                    }
                }
                let Some(&c) = b.get(i) else {
                    return incomplete();
                };
                if !CONVERSIONS.contains(&c) {
                    return Err(format!(
                        "Error: Invalid format specifier '{}'.\n",
                        char_at(f, i)
                    ));
                }
            }
            b'@' => {
                i += 1;
                if i >= b.len() {
                    return incomplete();
                }
            }
            b'\\' => {
                i += 1;
                let Some(&c) = b.get(i) else {
                    return Err("Error: Incomplete escape specifier.\n".to_owned());
                };
                if !b"\\0aenrtv".contains(&c) {
                    return Err(format!(
                        "Error: Invalid escape specifier '{}'.\n",
                        char_at(f, i)
                    ));
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// The byte at `i`, or 0 past the end (never a valid specifier).
fn at(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

fn char_at(s: &str, i: usize) -> char {
    s.get(i..).and_then(|t| t.chars().next()).unwrap_or('?')
}

/// Field modifiers of one `%` conversion.
#[derive(Clone, Copy)]
struct Spec {
    left: bool,
    zero: bool,
    width: usize,
    precision: Option<usize>,
}

/// The wall clock, read at most once per message.
struct Clock(Option<Option<LocalTime>>);

impl Clock {
    fn get(&mut self) -> Option<&LocalTime> {
        self.0.get_or_insert_with(LocalTime::now).as_ref()
    }
}

/// Render one message with a format already accepted by `check_format`.
/// Errors for stderr (such as a `%J` payload that is not JSON) go to `errors`.
pub fn render(
    format: &str,
    m: &Message<'_>,
    eol: bool,
    pretty: bool,
    out: &mut Vec<u8>,
    errors: &mut Vec<String>,
) {
    let b = format.as_bytes();
    let mut clock = Clock(None);
    let mut i = 0;
    while i < b.len() {
        match at(b, i) {
            b'%' if i + 1 < b.len() => {
                i += 1;
                let mut spec = Spec {
                    left: false,
                    zero: false,
                    width: 0,
                    precision: None,
                };
                if at(b, i) == b'-' {
                    spec.left = true;
                    if i + 1 < b.len() {
                        i += 1;
                    }
                }
                if at(b, i) == b'0' {
                    spec.zero = true;
                    if i + 1 < b.len() {
                        i += 1;
                    }
                }
                while i + 1 < b.len() && at(b, i).is_ascii_digit() {
                    spec.width = spec.width.saturating_mul(10) + usize::from(at(b, i) - b'0');
                    i += 1;
                }
                if at(b, i) == b'.' && i + 1 < b.len() {
                    i += 1;
                    let mut p = 0usize;
                    while i + 1 < b.len() && at(b, i).is_ascii_digit() {
                        p = p.saturating_mul(10) + usize::from(at(b, i) - b'0');
                        i += 1;
                    }
                    spec.precision = Some(p);
                }
                conversion(at(b, i), spec, m, pretty, &mut clock, out, errors);
            }
            b'@' if i + 1 < b.len() => {
                i += 1;
                match at(b, i) {
                    b'@' => out.push(b'@'),
                    b'N' => {
                        if let Some(t) = clock.get() {
                            out.extend_from_slice(format!("{:09}", t.nanos).as_bytes());
                        }
                    }
                    c => {
                        let spec = format!("%{}", char_at(format, i));
                        if let Some(t) = clock.get() {
                            out.extend_from_slice(t.strftime(&spec).as_bytes());
                        }
                        // A multi-byte character after '@' is passed whole.
                        i += utf8_extra(c);
                    }
                }
            }
            b'\\' if i + 1 < b.len() => {
                i += 1;
                let c = match at(b, i) {
                    b'\\' => Some(b'\\'),
                    b'0' => Some(0),
                    b'a' => Some(7),
                    b'e' => Some(0x1b),
                    b'n' => Some(b'\n'),
                    b'r' => Some(b'\r'),
                    b't' => Some(b'\t'),
                    b'v' => Some(0x0b),
                    _ => None,
                };
                out.extend(c);
            }
            b'%' | b'@' | b'\\' => {}
            c => out.push(c),
        }
        i += 1;
    }
    if eol {
        out.push(b'\n');
    }
}

/// How many continuation bytes follow a UTF-8 lead byte.
fn utf8_extra(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 1,
        0xE0..=0xEF => 2,
        0xF0..=0xF7 => 3,
        _ => 0,
    }
}

fn pad(out: &mut Vec<u8>, c: u8, n: usize) {
    out.extend(std::iter::repeat_n(c, n));
}

fn int(out: &mut Vec<u8>, v: i64, s: Spec) {
    let text = v.to_string();
    let fill = s.width.saturating_sub(text.len());
    if s.left {
        out.extend_from_slice(text.as_bytes());
        pad(out, b' ', fill);
    } else if s.zero && s.width > 0 {
        let (sign, digits) = match text.strip_prefix('-') {
            Some(d) => ("-", d),
            None => ("", text.as_str()),
        };
        out.extend_from_slice(sign.as_bytes());
        pad(out, b'0', fill);
        out.extend_from_slice(digits.as_bytes());
    } else {
        pad(out, b' ', fill);
        out.extend_from_slice(text.as_bytes());
    }
}

fn string(out: &mut Vec<u8>, v: &[u8], s: Spec) {
    let v = match s.precision {
        Some(p) => v.get(..p.min(v.len())).unwrap_or(v),
        None => v,
    };
    let fill = s.width.saturating_sub(v.len());
    if !s.left {
        pad(out, b' ', fill);
    }
    out.extend_from_slice(v);
    if s.left {
        pad(out, b' ', fill);
    }
}

/// `%p`, `%x`, `%X`: the payload, raw or in hex, padded to the width.
fn payload(out: &mut Vec<u8>, p: &[u8], hex: Option<bool>, s: Spec) {
    let mut len = p.len();
    let padlen;
    if s.width > 0 {
        len = len.min(s.width);
        if hex.is_some() {
            len /= 2;
            padlen = s.width - len * 2;
        } else {
            padlen = s.width - len;
        }
    } else {
        padlen = 0;
    }
    let body = p.get(..len).unwrap_or(p);
    if !s.left {
        pad(out, if s.zero { b'0' } else { b' ' }, padlen);
    }
    match hex {
        None => out.extend_from_slice(body),
        Some(upper) => {
            for byte in body {
                let h = if upper {
                    format!("{byte:02X}")
                } else {
                    format!("{byte:02x}")
                };
                out.extend_from_slice(h.as_bytes());
            }
        }
    }
    if s.left {
        pad(out, b' ', padlen);
    }
}

fn property<'a>(m: &'a Message<'_>, id: u8) -> Option<&'a PropertyValue> {
    m.properties
        .0
        .iter()
        .find(|(pid, _)| *pid == id)
        .map(|(_, v)| v)
}

fn prop_int(m: &Message<'_>, id: u8) -> Option<i64> {
    match property(m, id)? {
        PropertyValue::Byte(v) => Some(i64::from(*v)),
        PropertyValue::U16(v) => Some(i64::from(*v)),
        PropertyValue::U32(v) | PropertyValue::Varint(v) => Some(i64::from(*v)),
        _ => None,
    }
}

fn prop_bytes<'a>(m: &'a Message<'_>, id: u8) -> Option<&'a [u8]> {
    match property(m, id)? {
        PropertyValue::String(s) => Some(s.as_bytes()),
        PropertyValue::Binary(b) => Some(b),
        _ => None,
    }
}

fn conversion(
    c: u8,
    s: Spec,
    m: &Message<'_>,
    pretty: bool,
    clock: &mut Clock,
    out: &mut Vec<u8>,
    errors: &mut Vec<String>,
) {
    let int_prop = |out: &mut Vec<u8>, id: u8| match prop_int(m, id) {
        Some(v) => int(out, v, s),
        None => pad(out, if s.zero { b'0' } else { b' ' }, s.width),
    };
    match c {
        b'%' => out.push(b'%'),
        b'A' => int_prop(out, 0x23),
        b'C' => match prop_bytes(m, 0x03) {
            Some(v) => string(out, v, s),
            None => pad(out, b' ', s.width),
        },
        b'D' => out.extend_from_slice(prop_bytes(m, 0x09).unwrap_or(&[])),
        b'E' => int_prop(out, 0x02),
        b'F' => int_prop(out, 0x01),
        b'I' => match clock.get() {
            Some(t) => string(out, t.strftime("%FT%T%z").as_bytes(), s),
            None => errors.push("Error obtaining system time.\n".to_owned()),
        },
        b'j' | b'J' => {
            let Some(t) = clock.get() else {
                errors.push("Error obtaining system time.\n".to_owned());
                return;
            };
            let tst = json_time(t);
            match json::message(m, &tst, c == b'j', pretty) {
                Some(text) => out.extend_from_slice(&text),
                None => errors.push(format!(
                    "Error: Message payload is not valid JSON on topic {}.\n",
                    m.topic
                )),
            }
        }
        b'l' => int(out, m.payload.len() as i64, s),
        b'm' => int(out, i64::from(m.mid), s),
        b'P' => {
            let mut first = true;
            for (id, v) in &m.properties.0 {
                if let (0x26, PropertyValue::Pair(k, v)) = (*id, v) {
                    if !first {
                        out.push(b' ');
                    }
                    first = false;
                    out.extend_from_slice(format!("{k}:{v}").as_bytes());
                }
            }
        }
        b'p' => payload(out, m.payload, None, s),
        b'q' => out.push(b'0' + m.qos),
        b'R' => {
            if let Some(v) = prop_bytes(m, 0x08) {
                string(out, v, s);
            }
        }
        b'r' => out.push(if m.retain { b'1' } else { b'0' }),
        b'S' => int_prop(out, 0x0B),
        b't' => string(out, m.topic.as_bytes(), s),
        b'U' => {
            if let Some(t) = clock.get() {
                out.extend_from_slice(format!("{}.{:09}", t.secs, t.nanos).as_bytes());
            }
        }
        b'x' => payload(out, m.payload, Some(false), s),
        b'X' => payload(out, m.payload, Some(true), s),
        _ => {}
    }
}

/// The `tst` field of the JSON output: ISO 8601 with microseconds, a `Z`
/// and then the numeric zone, exactly as mosquitto_sub writes it.
fn json_time(t: &LocalTime) -> String {
    format!(
        "{}.{:06}Z{}",
        t.strftime("%Y-%m-%dT%H:%M:%S"),
        t.nanos / 1000,
        t.strftime("%z")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Properties;

    fn msg<'a>(props: &'a Properties) -> Message<'a> {
        Message {
            topic: "r/1",
            payload: b"retained1",
            qos: 0,
            retain: true,
            mid: 0,
            properties: props,
        }
    }

    fn r(f: &str) -> String {
        let props = Properties::default();
        let mut out = Vec::new();
        let mut errs = Vec::new();
        check_format(f).unwrap();
        render(f, &msg(&props), false, false, &mut out, &mut errs);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn like_mosquitto() {
        // Expected strings taken from Debian's mosquitto_sub 2.0.11.
        assert_eq!(
            r("%t|%x|%X|%l|%m|%q|%r|%10t|%-10t|%.2t|%05l|%-5l|\\t|@@|%%"),
            "r/1|72657461696e656431|72657461696E656431|9|0|0|1|       r/1|r/1       |r/|00009|9    |\t|@|%"
        );
        assert_eq!(
            r("%20p|%-20p|%020p|%10x"),
            "           retained1|retained1           |00000000000retained1|  72657461"
        );
    }

    #[test]
    fn checks() {
        assert_eq!(
            check_format("%z"),
            Err("Error: Invalid format specifier 'z'.\n".into())
        );
        assert_eq!(
            check_format("abc%"),
            Err("Error: Incomplete format specifier.\n".into())
        );
        assert_eq!(
            check_format("\\q"),
            Err("Error: Invalid escape specifier 'q'.\n".into())
        );
        assert_eq!(
            check_format("a\\"),
            Err("Error: Incomplete escape specifier.\n".into())
        );
        assert!(check_format("%-08.3t @Y \\n").is_ok());
    }
}
