//! JSON output for mosquitto_sub's `%j` and `%J` formats: a small JSON
//! reader (for `%J`, whose payload must itself be JSON) and a writer that
//! lays objects out as mosquitto_sub does, compact or with `--pretty`.

use super::output::Message;

/// A parsed JSON value; numbers keep their source text.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(String),
    Str(Vec<u8>),
    Array(Vec<Value>),
    Object(Vec<(Vec<u8>, Value)>),
}

/// The JSON document for one message, or `None` for `%J` when the payload
/// is not JSON.
pub fn message(m: &Message<'_>, tst: &str, escaped: bool, pretty: bool) -> Option<Vec<u8>> {
    let mut fields: Vec<(Vec<u8>, Value)> = vec![
        (b"tst".to_vec(), Value::Str(tst.as_bytes().to_vec())),
        (b"topic".to_vec(), Value::Str(m.topic.as_bytes().to_vec())),
        (b"qos".to_vec(), Value::Number(m.qos.to_string())),
        (
            b"retain".to_vec(),
            Value::Number(u8::from(m.retain).to_string()),
        ),
        (
            b"payloadlen".to_vec(),
            Value::Number(m.payload.len().to_string()),
        ),
    ];
    if m.qos > 0 {
        fields.push((b"mid".to_vec(), Value::Number(m.mid.to_string())));
    }
    if !m.properties.is_empty() {
        fields.push((b"properties".to_vec(), properties(m.properties)));
    }
    let payload = if escaped {
        Value::Str(m.payload.to_vec())
    } else if m.payload.is_empty() {
        Value::Null
    } else {
        parse(m.payload)?
    };
    fields.push((b"payload".to_vec(), payload));
    let mut out = Vec::new();
    write(&mut out, &Value::Object(fields), pretty, 0);
    Some(out)
}

/// The message's MQTT 5 properties as mosquitto_sub shows them: in the
/// order received, user properties gathered in one object where the first
/// one was, correlation data as a C string (up to a zero byte).
fn properties(props: &crate::protocol::Properties) -> Value {
    use crate::protocol::properties::id;
    use crate::protocol::PropertyValue as P;
    let mut fields: Vec<(Vec<u8>, Value)> = Vec::new();
    let mut users: Option<usize> = None;
    for (pid, v) in &props.0 {
        let (name, value): (&str, Value) = match (*pid, v) {
            (id::PAYLOAD_FORMAT_INDICATOR, P::Byte(b)) => {
                ("payload-format-indicator", Value::Number(b.to_string()))
            }
            (id::MESSAGE_EXPIRY_INTERVAL, P::U32(n)) => {
                ("message-expiry-interval", Value::Number(n.to_string()))
            }
            (id::CONTENT_TYPE, P::String(t)) => ("content-type", Value::Str(t.as_bytes().to_vec())),
            (id::RESPONSE_TOPIC, P::String(t)) => {
                ("response-topic", Value::Str(t.as_bytes().to_vec()))
            }
            (id::CORRELATION_DATA, P::Binary(b)) => {
                let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
                (
                    "correlation-data",
                    Value::Str(b.get(..end).unwrap_or(&[]).to_vec()),
                )
            }
            (id::SUBSCRIPTION_IDENTIFIER, P::Varint(n)) => {
                ("subscription-identifier", Value::Number(n.to_string()))
            }
            (id::TOPIC_ALIAS, P::U16(n)) => ("topic-alias", Value::Number(n.to_string())),
            (id::USER_PROPERTY, P::Pair(k, v)) => {
                let at = *users.get_or_insert_with(|| {
                    fields.push((b"user-properties".to_vec(), Value::Object(Vec::new())));
                    fields.len() - 1
                });
                if let Some((_, Value::Object(o))) = fields.get_mut(at) {
                    o.push((k.as_bytes().to_vec(), Value::Str(v.as_bytes().to_vec())));
                }
                continue;
            }
            _ => continue,
        };
        fields.push((name.as_bytes().to_vec(), value));
    }
    Value::Object(fields)
}

impl Value {
    /// The member `key` of an object (the first, as cJSON finds it).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(fields) => fields
                .iter()
                .find(|(k, _)| k.as_slice() == key.as_bytes())
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn str(&self) -> Option<String> {
        match self {
            Value::Str(s) => Some(String::from_utf8_lossy(s).into_owned()),
            _ => None,
        }
    }

    pub fn items(&self) -> &[Value] {
        match self {
            Value::Array(items) => items,
            _ => &[],
        }
    }
}

pub fn parse(text: &[u8]) -> Option<Value> {
    let mut p = Parser { b: text, i: 0 };
    let v = p.value(0)?;
    p.ws();
    (p.i == text.len()).then_some(v)
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn lit(&mut self, word: &[u8], v: Value) -> Option<Value> {
        if self.b.get(self.i..self.i + word.len())? == word {
            self.i += word.len();
            Some(v)
        } else {
            None
        }
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        if depth > 1000 {
            return None;
        }
        self.ws();
        match self.peek()? {
            b'n' => self.lit(b"null", Value::Null),
            b't' => self.lit(b"true", Value::Bool(true)),
            b'f' => self.lit(b"false", Value::Bool(false)),
            b'"' => self.string().map(Value::Str),
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek()? == b']' {
                    self.i += 1;
                    return Some(Value::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(Value::Array(items));
                        }
                        _ => return None,
                    }
                }
            }
            b'{' => {
                self.i += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Some(Value::Object(fields));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    self.ws();
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.i += 1;
                    let v = self.value(depth + 1)?;
                    fields.push((k, v));
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return Some(Value::Object(fields));
                        }
                        _ => return None,
                    }
                }
            }
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let digits = |p: &mut Parser<'_>| {
            let s = p.i;
            while matches!(p.peek(), Some(b'0'..=b'9')) {
                p.i += 1;
            }
            p.i > s
        };
        if !digits(self) {
            return None;
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !digits(self) {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !digits(self) {
                return None;
            }
        }
        let text = std::str::from_utf8(self.b.get(start..self.i)?).ok()?;
        Some(Value::Number(text.to_owned()))
    }

    /// A string literal, unescaped to bytes (UTF-8 for `\u` escapes).
    fn string(&mut self) -> Option<Vec<u8>> {
        if self.peek()? != b'"' {
            return None;
        }
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let c = self.peek()?;
            self.i += 1;
            match c {
                b'"' => return Some(out),
                b'\\' => {
                    let e = self.peek()?;
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp) {
                                if self.b.get(self.i..self.i + 2)? != b"\\u" {
                                    return None;
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return None;
                                }
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                            }
                            let ch = char::from_u32(cp)?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return None,
                    }
                }
                0..=0x1F => return None,
                _ => out.push(c),
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = std::str::from_utf8(self.b.get(self.i..self.i + 4)?).ok()?;
        let v = u32::from_str_radix(h, 16).ok()?;
        self.i += 4;
        Some(v)
    }
}

pub fn write_str(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            8 => out.extend_from_slice(b"\\b"),
            12 => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1F => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            _ => out.push(c),
        }
    }
    out.push(b'"');
}

fn indent(out: &mut Vec<u8>, depth: usize) {
    out.extend(std::iter::repeat_n(b'\t', depth));
}

pub fn write(out: &mut Vec<u8>, v: &Value, pretty: bool, depth: usize) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => out.extend_from_slice(n.as_bytes()),
        Value::Str(s) => write_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.extend_from_slice(if pretty { b", " } else { b"," });
                }
                write(out, item, pretty, depth + 1);
            }
            out.push(b']');
        }
        Value::Object(fields) => {
            out.push(b'{');
            if pretty {
                out.push(b'\n');
            }
            for (n, (k, item)) in fields.iter().enumerate() {
                if pretty {
                    indent(out, depth + 1);
                }
                write_str(out, k);
                out.push(b':');
                if pretty {
                    out.push(b'\t');
                }
                write(out, item, pretty, depth + 1);
                if n + 1 < fields.len() {
                    out.push(b',');
                }
                if pretty {
                    out.push(b'\n');
                }
            }
            if pretty {
                indent(out, depth);
            }
            out.push(b'}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Properties;

    fn m<'a>(payload: &'a [u8], p: &'a Properties) -> Message<'a> {
        Message {
            topic: "r/1",
            payload,
            qos: 0,
            retain: true,
            mid: 0,
            properties: p,
        }
    }

    #[test]
    fn escaped_payload() {
        let p = Properties::default();
        let out = message(&m(b"retained1", &p), "T", true, false).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"tst":"T","topic":"r/1","qos":0,"retain":1,"payloadlen":9,"payload":"retained1"}"#
        );
    }

    #[test]
    fn json_payload() {
        let p = Properties::default();
        let out = message(&m(br#" {"a" : [1, 2.5e3, "x\n"]} "#, &p), "T", false, false).unwrap();
        assert!(String::from_utf8(out)
            .unwrap()
            .ends_with(r#""payload":{"a":[1,2.5e3,"x\n"]}}"#));
        assert!(message(&m(b"not json", &p), "T", false, false).is_none());
        assert!(message(&m(b"{\"a\":1", &p), "T", false, false).is_none());
    }
}
