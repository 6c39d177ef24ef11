//! How mosquitto_sub prints a message: the payload bytes as they are (not
//! re-encoded, so binary payloads come out raw), `-v` with the topic first,
//! `-N` without the newline, or the `-F` format.

use super::format;
use crate::protocol::Properties;

/// The parts of a received message that output can show.
pub struct Message<'a> {
    pub topic: &'a str,
    pub payload: &'a [u8],
    pub qos: u8,
    pub retain: bool,
    pub mid: u16,
    pub properties: &'a Properties,
}

/// How to print.
pub struct OutputStyle<'a> {
    pub format: Option<&'a str>,
    pub verbose: bool,
    pub eol: bool,
    pub pretty: bool,
}

/// The bytes mosquitto_sub writes to stdout for one message, plus any
/// error lines for stderr.
pub fn render(style: &OutputStyle<'_>, m: &Message<'_>) -> (Vec<u8>, Vec<String>) {
    let mut out = Vec::with_capacity(m.payload.len() + m.topic.len() + 2);
    let mut errors = Vec::new();
    if let Some(f) = style.format {
        format::render(f, m, style.eol, style.pretty, &mut out, &mut errors);
    } else if style.verbose {
        if m.payload.is_empty() {
            if style.eol {
                out.extend_from_slice(m.topic.as_bytes());
                out.extend_from_slice(b" (null)\n");
            }
        } else {
            out.extend_from_slice(m.topic.as_bytes());
            out.push(b' ');
            out.extend_from_slice(m.payload);
            if style.eol {
                out.push(b'\n');
            }
        }
    } else if !m.payload.is_empty() {
        out.extend_from_slice(m.payload);
        if style.eol {
            out.push(b'\n');
        }
    }
    (out, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_verbose() {
        let p = Properties::default();
        let m = Message {
            topic: "主题",
            payload: "你好".as_bytes(),
            qos: 0,
            retain: false,
            mid: 0,
            properties: &p,
        };
        let style = |verbose, eol| OutputStyle {
            format: None,
            verbose,
            eol,
            pretty: false,
        };
        assert_eq!(render(&style(false, true), &m).0, "你好\n".as_bytes());
        assert_eq!(render(&style(true, true), &m).0, "主题 你好\n".as_bytes());
        assert_eq!(render(&style(false, false), &m).0, "你好".as_bytes());
        let empty = Message { payload: b"", ..m };
        assert!(render(&style(false, true), &empty).0.is_empty());
        assert_eq!(
            render(&style(true, true), &empty).0,
            "主题 (null)\n".as_bytes()
        );
        assert!(render(&style(true, false), &empty).0.is_empty());
    }
}
