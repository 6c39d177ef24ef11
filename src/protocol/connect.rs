//! CONNECT: the first packet of every connection.

use super::codec::{bytes_len, put_bytes, put_fixed_header, put_u16, varint_len, Reader};
use super::error::DecodeError;
use super::properties::{Properties, PropertyContext};
use super::topic::valid_topic_name;
use super::{ProtocolVersion, QoS};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: QoS,
    pub retain: bool,
    pub properties: Properties,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    pub protocol: ProtocolVersion,
    /// The 0x80 bit of the protocol level: a mosquitto bridge announcing itself
    /// (`try_private`).
    pub bridge: bool,
    pub clean_session: bool,
    pub keep_alive: u16,
    /// As sent; may be empty (the broker decides whether to assign one).
    pub client_id: String,
    pub will: Option<Will>,
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
    pub properties: Properties,
}

impl Connect {
    pub fn decode(flags: u8, body: &[u8]) -> Result<Connect, DecodeError> {
        let mut r = Reader::new(body);
        let name = r.binary()?;
        let level = r.u8()?;
        let protocol = match (name, level & 0x7F) {
            (b"MQIsdp", 3) => ProtocolVersion::V31,
            (b"MQTT", 4) => ProtocolVersion::V311,
            (b"MQTT", 5) => ProtocolVersion::V5,
            (b"MQIsdp", _) | (b"MQTT", _) => {
                return Err(DecodeError::UnsupportedProtocolVersion(level))
            }
            _ => return Err(DecodeError::UnknownProtocolName),
        };
        // 3.1 did not fix the CONNECT flags nibble; 3.1.1 and 5 require zero.
        if protocol != ProtocolVersion::V31 && flags != 0 {
            return Err(DecodeError::BadFlags {
                packet_type: 1,
                flags,
            });
        }
        let cf = r.u8()?;
        if protocol != ProtocolVersion::V31 && cf & 0x01 != 0 {
            return Err(DecodeError::BadConnectFlags);
        }
        let clean_session = cf & 0x02 != 0;
        let has_will = cf & 0x04 != 0;
        let will_qos = QoS::from_u8((cf >> 3) & 0x03).ok_or(DecodeError::InvalidQos)?;
        let will_retain = cf & 0x20 != 0;
        let has_password = cf & 0x40 != 0;
        let has_username = cf & 0x80 != 0;
        if !has_will && (will_qos != QoS::AtMostOnce || will_retain) {
            return Err(DecodeError::BadConnectFlags);
        }
        if has_password && !has_username && protocol != ProtocolVersion::V5 {
            return Err(DecodeError::BadConnectFlags);
        }
        let keep_alive = r.u16()?;
        let properties = if protocol == ProtocolVersion::V5 {
            Properties::decode_for(&mut r, PropertyContext::Connect)?
        } else {
            Properties::default()
        };
        let client_id = r.string()?.to_owned();
        let will = if has_will {
            let properties = if protocol == ProtocolVersion::V5 {
                Properties::decode_for(&mut r, PropertyContext::Will)?
            } else {
                Properties::default()
            };
            let topic = r.string()?;
            if !valid_topic_name(topic) {
                return Err(DecodeError::InvalidTopicName);
            }
            let payload = r.binary()?.to_vec();
            Some(Will {
                topic: topic.to_owned(),
                payload,
                qos: will_qos,
                retain: will_retain,
                properties,
            })
        } else {
            None
        };
        // MQTT 3.1 clients are known to set the flags and omit the field;
        // mosquitto tolerates that, so do we.
        let lenient = protocol == ProtocolVersion::V31;
        let username = if has_username {
            match r.string() {
                Ok(u) => Some(u.to_owned()),
                Err(DecodeError::Truncated) if lenient && r.is_empty() => None,
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        let password = if has_password {
            match r.binary() {
                Ok(p) => Some(p.to_vec()),
                Err(DecodeError::Truncated) if lenient && r.is_empty() => None,
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        r.finish()?;
        Ok(Connect {
            protocol,
            bridge: level & 0x80 != 0 && protocol != ProtocolVersion::V5,
            clean_session,
            keep_alive,
            client_id,
            will,
            username,
            password,
            properties,
        })
    }

    /// The CONNECT flags byte for this packet's fields.
    fn flags(&self) -> u8 {
        let mut cf = 0u8;
        if self.clean_session {
            cf |= 0x02;
        }
        if let Some(w) = &self.will {
            cf |= 0x04 | (w.qos.as_u8() << 3);
            if w.retain {
                cf |= 0x20;
            }
        }
        if self.username.is_some() {
            cf |= 0x80;
        }
        if self.password.is_some() {
            cf |= 0x40;
        }
        cf
    }

    fn remaining_len(&self) -> usize {
        let v5 = self.protocol == ProtocolVersion::V5;
        let name = self.protocol.protocol_name();
        let mut len = bytes_len(name.len()) + 1 + 1 + 2 + bytes_len(self.client_id.len());
        if v5 {
            len += self.properties.encoded_len();
        }
        if let Some(w) = &self.will {
            len += bytes_len(w.topic.len()) + bytes_len(w.payload.len());
            if v5 {
                len += w.properties.encoded_len();
            }
        }
        len += self.username.as_ref().map_or(0, |u| bytes_len(u.len()));
        len += self.password.as_ref().map_or(0, |p| bytes_len(p.len()));
        len
    }

    /// Size of the encoded packet, fixed header included.
    pub fn encoded_len(&self) -> usize {
        let rem = self.remaining_len();
        1 + varint_len(rem) + rem
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        let v5 = self.protocol == ProtocolVersion::V5;
        let name = self.protocol.protocol_name();
        let len = self.remaining_len();
        let cf = self.flags();
        put_fixed_header(out, 0x10, len);
        put_bytes(out, name.as_bytes());
        let bridge = if self.bridge { 0x80 } else { 0 };
        out.push(self.protocol.level() | bridge);
        out.push(cf);
        put_u16(out, self.keep_alive);
        if v5 {
            self.properties.encode(out);
        }
        put_bytes(out, self.client_id.as_bytes());
        if let Some(w) = &self.will {
            if v5 {
                w.properties.encode(out);
            }
            put_bytes(out, w.topic.as_bytes());
            put_bytes(out, &w.payload);
        }
        if let Some(u) = &self.username {
            put_bytes(out, u.as_bytes());
        }
        if let Some(p) = &self.password {
            put_bytes(out, p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> Connect {
        Connect {
            protocol: ProtocolVersion::V311,
            bridge: false,
            clean_session: true,
            keep_alive: 60,
            client_id: "c".into(),
            will: None,
            username: None,
            password: None,
            properties: Properties::default(),
        }
    }

    #[test]
    fn byte_exact_311() {
        let mut out = Vec::new();
        minimal().encode(&mut out);
        assert_eq!(
            out,
            [0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 1, b'c']
        );
        assert_eq!(Connect::decode(0, &out[2..]).unwrap(), minimal());
    }

    #[test]
    fn full_round_trip_31() {
        let c = Connect {
            protocol: ProtocolVersion::V31,
            bridge: true,
            clean_session: false,
            keep_alive: 5,
            client_id: "発布端".into(),
            will: Some(Will {
                topic: "w/t".into(),
                payload: b"bye".to_vec(),
                qos: QoS::ExactlyOnce,
                retain: true,
                properties: Properties::default(),
            }),
            username: Some("u".into()),
            password: Some(vec![0, 1, 2]),
            properties: Properties::default(),
        };
        let mut out = Vec::new();
        c.encode(&mut out);
        assert_eq!(&out[2..10], &[0, 6, b'M', b'Q', b'I', b's', b'd', b'p']);
        assert_eq!(out[10], 0x83);
        assert_eq!(out[11], 0x80 | 0x40 | 0x20 | 0x10 | 0x04);
        assert_eq!(Connect::decode(0, &out[2..]).unwrap(), c);
    }

    fn body(level: u8, flags: u8) -> Vec<u8> {
        let mut b = vec![
            0, 4, b'M', b'Q', b'T', b'T', level, flags, 0, 10, 0, 1, b'x',
        ];
        if flags & 0x04 != 0 {
            b.extend_from_slice(&[0, 1, b't', 0, 0]);
        }
        b
    }

    #[test]
    fn rule_violations() {
        assert_eq!(
            Connect::decode(0, &body(4, 0x01)),
            Err(DecodeError::BadConnectFlags),
            "reserved flag"
        );
        assert_eq!(
            Connect::decode(0, &body(4, 0x18 | 0x04)),
            Err(DecodeError::InvalidQos)
        );
        assert_eq!(
            Connect::decode(0, &body(4, 0x08)),
            Err(DecodeError::BadConnectFlags),
            "will qos without will"
        );
        assert_eq!(
            Connect::decode(0, &body(4, 0x20)),
            Err(DecodeError::BadConnectFlags),
            "will retain without will"
        );
        assert_eq!(
            Connect::decode(0, &body(4, 0x40)),
            Err(DecodeError::BadConnectFlags),
            "password without username"
        );
        assert_eq!(
            Connect::decode(0, &body(6, 0)),
            Err(DecodeError::UnsupportedProtocolVersion(6))
        );
        assert_eq!(
            Connect::decode(2, &body(4, 0)),
            Err(DecodeError::BadFlags {
                packet_type: 1,
                flags: 2
            })
        );
        let mut b = body(4, 0);
        b[2] = b'X';
        assert_eq!(
            Connect::decode(0, &b),
            Err(DecodeError::UnknownProtocolName)
        );
        let mut b = body(4, 0);
        b.push(0);
        assert_eq!(Connect::decode(0, &b), Err(DecodeError::TrailingBytes));
        let b = body(4, 0x04 | 0x80);
        assert_eq!(Connect::decode(0, &b), Err(DecodeError::Truncated));
        // Wildcards in a will topic.
        let mut b = body(4, 0x04);
        let n = b.len();
        b[n - 3] = b'#';
        assert_eq!(Connect::decode(0, &b), Err(DecodeError::InvalidTopicName));
    }

    fn v5() -> Connect {
        let mut c = minimal();
        c.protocol = ProtocolVersion::V5;
        c.properties.set_session_expiry_interval(30);
        c.properties.set_receive_maximum(5);
        let mut wp = Properties::default();
        wp.set_will_delay_interval(9);
        wp.set_payload_format_utf8(true);
        c.will = Some(Will {
            topic: "w".into(),
            payload: b"x".to_vec(),
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: wp,
        });
        c.password = Some(b"p".to_vec());
        c
    }

    #[test]
    fn byte_exact_v5() {
        let mut out = Vec::new();
        v5().encode(&mut out);
        #[rustfmt::skip]
        let want = [
            0x10, 39,
            0, 4, b'M', b'Q', b'T', b'T', 5,
            0x02 | 0x04 | 0x08 | 0x40, 0, 60,
            8, 0x11, 0, 0, 0, 30, 0x21, 0, 5,
            0, 1, b'c',
            7, 0x01, 1, 0x18, 0, 0, 0, 9,
            0, 1, b'w', 0, 1, b'x',
            0, 1, b'p',
        ];
        assert_eq!(out, want);
        assert_eq!(Connect::decode(0, &out[2..]).unwrap(), v5());
    }

    #[test]
    fn v5_property_rules() {
        // Will delay in the CONNECT properties instead of the will's.
        let mut c = v5();
        c.properties.set_will_delay_interval(1);
        let mut out = Vec::new();
        c.encode(&mut out);
        assert_eq!(
            Connect::decode(0, &out[2..]),
            Err(DecodeError::PropertyNotAllowed(0x18))
        );
        // Receive maximum 0.
        let mut c = v5();
        c.properties.set_receive_maximum(0);
        out.clear();
        c.encode(&mut out);
        assert_eq!(
            Connect::decode(0, &out[2..]),
            Err(DecodeError::InvalidPropertyValue(0x21))
        );
        // Session expiry in the will.
        let mut c = v5();
        if let Some(w) = c.will.as_mut() {
            w.properties.set_session_expiry_interval(1);
        }
        out.clear();
        c.encode(&mut out);
        assert_eq!(
            Connect::decode(0, &out[2..]),
            Err(DecodeError::PropertyNotAllowed(0x11))
        );
    }

    #[test]
    fn every_truncation_is_an_error() {
        let mut out = Vec::new();
        let mut c = minimal();
        c.username = Some("user".into());
        c.password = Some(b"pw".to_vec());
        c.will = Some(Will {
            topic: "a".into(),
            payload: b"p".to_vec(),
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: Properties::default(),
        });
        c.encode(&mut out);
        for cut in 2..out.len() - 1 {
            assert!(Connect::decode(0, &out[2..cut]).is_err(), "cut at {cut}");
        }
    }
}
