//! SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK.

use super::codec::{bytes_len, put_bytes, put_fixed_header, put_u16, varint_len, Reader};
use super::error::DecodeError;
use super::packet::PacketType;
use super::properties::{Properties, PropertyContext};
use super::reason::ReasonCode;
use super::sub_options::SubscriptionOptions;
use super::topic::valid_topic_filter;
use super::{ProtocolVersion, QoS};

/// SUBACK return code for a refused subscription.
pub const SUBACK_FAILURE: u8 = 0x80;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    pub packet_id: u16,
    /// Each filter with its requested QoS. MQTT 5's other option bits live in
    /// the options byte, kept whole in `options` for when they are honoured.
    pub filters: Vec<(String, QoS)>,
    pub options: Vec<u8>,
    pub properties: Properties,
}

fn packet_id(r: &mut Reader<'_>) -> Result<u16, DecodeError> {
    match r.u16()? {
        0 => Err(DecodeError::ZeroPacketId),
        id => Ok(id),
    }
}

fn properties(
    r: &mut Reader<'_>,
    version: ProtocolVersion,
    ctx: PropertyContext,
) -> Result<Properties, DecodeError> {
    if version == ProtocolVersion::V5 {
        Properties::decode_for(r, ctx)
    } else {
        Ok(Properties::default())
    }
}

/// MQTT 5 acknowledgements carry one reason code per filter, each of which
/// must be on the packet's list.
fn check_codes(codes: &[u8], packet: PacketType) -> Result<(), DecodeError> {
    match codes.iter().find(|&&c| !ReasonCode(c).allowed_in(packet)) {
        Some(&code) => Err(DecodeError::InvalidReasonCode {
            packet_type: packet as u8,
            code,
        }),
        None => Ok(()),
    }
}

/// The options byte after one SUBSCRIBE filter. 3.1.1 reserves the upper
/// six bits; MQTT 5's rules are in `SubscriptionOptions::from_byte`.
fn read_options(r: &mut Reader<'_>, f: &str, version: ProtocolVersion) -> Result<u8, DecodeError> {
    let opts = r.u8()?;
    if version == ProtocolVersion::V5 {
        let o = SubscriptionOptions::from_byte(opts)?;
        if o.no_local && f.starts_with("$share/") {
            return Err(DecodeError::NoLocalOnSharedSubscription);
        }
        return Ok(opts);
    }
    if opts & 0xFC != 0 {
        return Err(DecodeError::BadFlags {
            packet_type: 8,
            flags: opts,
        });
    }
    QoS::from_u8(opts & 0x03).ok_or(DecodeError::InvalidQos)?;
    Ok(opts)
}

/// The fixed header, packet id and (MQTT 5 only) properties that all four
/// packets here start with; `rest` is the length of what follows them.
fn put_head(
    out: &mut Vec<u8>,
    byte1: u8,
    rest: usize,
    packet_id: u16,
    props: &Properties,
    version: ProtocolVersion,
) {
    put_fixed_header(out, byte1, head_len(rest, props, version));
    put_u16(out, packet_id);
    if version == ProtocolVersion::V5 {
        props.encode(out);
    }
}

/// The remaining length `put_head` writes.
fn head_len(rest: usize, props: &Properties, version: ProtocolVersion) -> usize {
    let props_len = if version == ProtocolVersion::V5 {
        props.encoded_len()
    } else {
        0
    };
    2 + props_len + rest
}

/// Size of a whole packet whose remaining length is `rem`.
fn total_len(rem: usize) -> usize {
    1 + varint_len(rem) + rem
}

fn filter(r: &mut Reader<'_>) -> Result<String, DecodeError> {
    let f = r.string()?;
    if !valid_topic_filter(f) {
        return Err(DecodeError::InvalidTopicFilter);
    }
    Ok(f.to_owned())
}

impl Subscribe {
    pub fn decode(body: &[u8], version: ProtocolVersion) -> Result<Subscribe, DecodeError> {
        let mut r = Reader::new(body);
        let packet_id = packet_id(&mut r)?;
        let properties = properties(&mut r, version, PropertyContext::Subscribe)?;
        let mut filters = Vec::new();
        let mut options = Vec::new();
        while !r.is_empty() {
            let f = filter(&mut r)?;
            let opts = read_options(&mut r, &f, version)?;
            let qos = QoS::from_u8(opts & 0x03).ok_or(DecodeError::InvalidQos)?;
            filters.push((f, qos));
            options.push(opts);
        }
        if filters.is_empty() {
            return Err(DecodeError::EmptySubscription);
        }
        Ok(Subscribe {
            packet_id,
            filters,
            options,
            properties,
        })
    }

    /// The options of filter `i` (MQTT 5 bits are all clear for 3.1.1).
    pub fn options_at(&self, i: usize) -> SubscriptionOptions {
        let qos = self.filters.get(i).map_or(QoS::AtMostOnce, |(_, q)| *q);
        let byte = self.options.get(i).copied().unwrap_or(0);
        SubscriptionOptions::from_byte_lenient(byte, qos)
    }

    /// Adds a filter with its options, keeping `filters` and `options` in
    /// step.
    pub fn push(&mut self, filter: impl Into<String>, opts: SubscriptionOptions) {
        self.filters.push((filter.into(), opts.qos));
        self.options.push(opts.to_byte());
    }

    fn rest_len(&self) -> usize {
        self.filters
            .iter()
            .map(|(f, _)| bytes_len(f.len()) + 1)
            .sum::<usize>()
    }

    /// Size of the encoded packet, fixed header included.
    pub fn encoded_len(&self, version: ProtocolVersion) -> usize {
        total_len(head_len(self.rest_len(), &self.properties, version))
    }

    pub fn encode(&self, out: &mut Vec<u8>, version: ProtocolVersion) {
        let v5 = version == ProtocolVersion::V5;
        let rest = self.rest_len();
        put_head(out, 0x82, rest, self.packet_id, &self.properties, version);
        for (i, (f, q)) in self.filters.iter().enumerate() {
            put_bytes(out, f.as_bytes());
            let extra = if v5 {
                self.options.get(i).copied().unwrap_or(0) & 0xFC
            } else {
                0
            };
            out.push(q.as_u8() | extra);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    pub packet_id: u16,
    /// Granted QoS (0, 1, 2) or `SUBACK_FAILURE`, one per filter.
    pub codes: Vec<u8>,
    pub properties: Properties,
}

impl SubAck {
    pub fn decode(body: &[u8], version: ProtocolVersion) -> Result<SubAck, DecodeError> {
        let mut r = Reader::new(body);
        let packet_id = packet_id(&mut r)?;
        let properties = properties(&mut r, version, PropertyContext::SubAck)?;
        let codes = r.rest().to_vec();
        if codes.is_empty() {
            return Err(DecodeError::EmptySubscription);
        }
        if version == ProtocolVersion::V5 {
            check_codes(&codes, PacketType::SubAck)?;
        }
        Ok(SubAck {
            packet_id,
            codes,
            properties,
        })
    }

    /// Size of the encoded packet, fixed header included.
    pub fn encoded_len(&self, version: ProtocolVersion) -> usize {
        total_len(head_len(self.codes.len(), &self.properties, version))
    }

    pub fn encode(&self, out: &mut Vec<u8>, version: ProtocolVersion) {
        put_head(
            out,
            0x90,
            self.codes.len(),
            self.packet_id,
            &self.properties,
            version,
        );
        out.extend_from_slice(&self.codes);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    pub packet_id: u16,
    pub filters: Vec<String>,
    pub properties: Properties,
}

impl Unsubscribe {
    pub fn decode(body: &[u8], version: ProtocolVersion) -> Result<Unsubscribe, DecodeError> {
        let mut r = Reader::new(body);
        let packet_id = packet_id(&mut r)?;
        let properties = properties(&mut r, version, PropertyContext::Unsubscribe)?;
        let mut filters = Vec::new();
        while !r.is_empty() {
            filters.push(filter(&mut r)?);
        }
        if filters.is_empty() {
            return Err(DecodeError::EmptySubscription);
        }
        Ok(Unsubscribe {
            packet_id,
            filters,
            properties,
        })
    }

    fn rest_len(&self) -> usize {
        self.filters
            .iter()
            .map(|f| bytes_len(f.len()))
            .sum::<usize>()
    }

    /// Size of the encoded packet, fixed header included.
    pub fn encoded_len(&self, version: ProtocolVersion) -> usize {
        total_len(head_len(self.rest_len(), &self.properties, version))
    }

    pub fn encode(&self, out: &mut Vec<u8>, version: ProtocolVersion) {
        let rest = self.rest_len();
        put_head(out, 0xA2, rest, self.packet_id, &self.properties, version);
        for f in &self.filters {
            put_bytes(out, f.as_bytes());
        }
    }
}

/// UNSUBACK: in 3.1/3.1.1 only a packet identifier; MQTT 5 adds one reason
/// code per filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    pub packet_id: u16,
    pub codes: Vec<u8>,
    pub properties: Properties,
}

impl UnsubAck {
    pub fn new(packet_id: u16) -> UnsubAck {
        UnsubAck {
            packet_id,
            codes: Vec::new(),
            properties: Properties::default(),
        }
    }

    pub fn decode(body: &[u8], version: ProtocolVersion) -> Result<UnsubAck, DecodeError> {
        let mut r = Reader::new(body);
        let packet_id = packet_id(&mut r)?;
        let mut ack = UnsubAck::new(packet_id);
        if version == ProtocolVersion::V5 {
            ack.properties = Properties::decode_for(&mut r, PropertyContext::UnsubAck)?;
            ack.codes = r.rest().to_vec();
            check_codes(&ack.codes, PacketType::UnsubAck)?;
        }
        r.finish()?;
        Ok(ack)
    }

    /// Size of the encoded packet, fixed header included.
    pub fn encoded_len(&self, version: ProtocolVersion) -> usize {
        let codes = if version == ProtocolVersion::V5 {
            self.codes.len()
        } else {
            0
        };
        total_len(head_len(codes, &self.properties, version))
    }

    pub fn encode(&self, out: &mut Vec<u8>, version: ProtocolVersion) {
        // 3.x UNSUBACK carries no codes.
        let codes: &[u8] = if version == ProtocolVersion::V5 {
            &self.codes
        } else {
            &[]
        };
        put_head(
            out,
            0xB0,
            codes.len(),
            self.packet_id,
            &self.properties,
            version,
        );
        out.extend_from_slice(codes);
    }
}

#[cfg(test)]
mod tests {
    use super::super::sub_options::RetainHandling;
    use super::*;
    const V: ProtocolVersion = ProtocolVersion::V311;

    #[test]
    fn subscribe_vectors() {
        let s = Subscribe {
            packet_id: 10,
            filters: vec![
                ("a/+".into(), QoS::AtLeastOnce),
                ("#".into(), QoS::ExactlyOnce),
            ],
            options: vec![1, 2],
            properties: Properties::default(),
        };
        let mut out = Vec::new();
        s.encode(&mut out, V);
        assert_eq!(
            out,
            [0x82, 12, 0, 10, 0, 3, b'a', b'/', b'+', 1, 0, 1, b'#', 2]
        );
        assert_eq!(Subscribe::decode(&out[2..], V).unwrap(), s);
        for cut in 2..out.len() - 1 {
            let r = Subscribe::decode(&out[2..cut], V);
            if cut == 10 {
                // A whole first entry is a valid one-filter SUBSCRIBE.
                assert_eq!(r.unwrap().filters.len(), 1);
            } else {
                assert!(r.is_err(), "cut {cut}");
            }
        }
    }

    #[test]
    fn subscribe_invalid() {
        assert_eq!(
            Subscribe::decode(&[0, 1], V),
            Err(DecodeError::EmptySubscription)
        );
        assert_eq!(
            Subscribe::decode(&[0, 0, 0, 1, b'a', 0], V),
            Err(DecodeError::ZeroPacketId)
        );
        assert_eq!(
            Subscribe::decode(&[0, 1, 0, 1, b'a', 3], V),
            Err(DecodeError::InvalidQos)
        );
        assert!(Subscribe::decode(&[0, 1, 0, 1, b'a', 4], V).is_err());
        assert_eq!(
            Subscribe::decode(&[0, 1, 0, 2, b'a', b'#', 0], V),
            Err(DecodeError::InvalidTopicFilter)
        );
        assert_eq!(
            Subscribe::decode(&[0, 1, 0, 0, 0], V),
            Err(DecodeError::InvalidTopicFilter)
        );
    }

    #[test]
    fn suback_unsubscribe_unsuback() {
        let mut out = Vec::new();
        SubAck {
            packet_id: 7,
            codes: vec![0, 1, 2, SUBACK_FAILURE],
            properties: Properties::default(),
        }
        .encode(&mut out, V);
        assert_eq!(out, [0x90, 6, 0, 7, 0, 1, 2, 0x80]);
        assert_eq!(SubAck::decode(&out[2..], V).unwrap().codes, [0, 1, 2, 0x80]);

        let u = Unsubscribe {
            packet_id: 3,
            filters: vec!["x/#".into()],
            properties: Properties::default(),
        };
        out.clear();
        u.encode(&mut out, V);
        assert_eq!(out, [0xA2, 7, 0, 3, 0, 3, b'x', b'/', b'#']);
        assert_eq!(Unsubscribe::decode(&out[2..], V).unwrap(), u);
        assert_eq!(
            Unsubscribe::decode(&[0, 3], V),
            Err(DecodeError::EmptySubscription)
        );

        out.clear();
        UnsubAck::new(3).encode(&mut out, V);
        assert_eq!(out, [0xB0, 2, 0, 3]);
        assert_eq!(UnsubAck::decode(&out[2..], V).unwrap(), UnsubAck::new(3));
    }

    const V5: ProtocolVersion = ProtocolVersion::V5;

    #[test]
    fn v5_subscribe_vectors() {
        let mut s = Subscribe {
            packet_id: 1,
            filters: Vec::new(),
            options: Vec::new(),
            properties: Properties::default(),
        };
        s.properties.set_subscription_identifier(300);
        s.push(
            "a/+",
            SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                no_local: true,
                retain_as_published: true,
                retain_handling: RetainHandling::DoNotSend,
            },
        );
        s.push("$share/g/x", SubscriptionOptions::new(QoS::ExactlyOnce));
        let mut out = Vec::new();
        s.encode(&mut out, V5);
        #[rustfmt::skip]
        let want = [
            0x82, 25, 0, 1, 3, 0x0B, 0xAC, 0x02,
            0, 3, b'a', b'/', b'+', 0x2D,
            0, 10, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'g', b'/', b'x', 0x02,
        ];
        assert_eq!(out, want);
        let d = Subscribe::decode(&out[2..], V5).unwrap();
        assert_eq!(d, s);
        assert_eq!(d.options_at(0).retain_handling, RetainHandling::DoNotSend);
        assert!(d.options_at(0).no_local);
        assert_eq!(d.options_at(1), SubscriptionOptions::new(QoS::ExactlyOnce));
        assert_eq!(d.options_at(9), SubscriptionOptions::default());
    }

    #[test]
    fn v5_subscribe_invalid() {
        let with = |opts: u8, f: &[u8]| {
            let mut b = vec![0, 1, 0, 0, f.len() as u8];
            b.extend_from_slice(f);
            b.push(opts);
            Subscribe::decode(&b, V5)
        };
        assert_eq!(
            with(0x40, b"a"),
            Err(DecodeError::ReservedSubscriptionBits(0x40))
        );
        assert_eq!(with(0x30, b"a"), Err(DecodeError::InvalidRetainHandling));
        assert_eq!(with(0x03, b"a"), Err(DecodeError::InvalidQos));
        assert_eq!(
            with(0x04, b"$share/g/a"),
            Err(DecodeError::NoLocalOnSharedSubscription)
        );
        assert!(with(0x2E, b"a").is_ok());
        assert_eq!(
            DecodeError::ReservedSubscriptionBits(0x40).reason_code(),
            ReasonCode::MALFORMED_PACKET
        );
        assert_eq!(
            DecodeError::InvalidRetainHandling.reason_code(),
            ReasonCode::PROTOCOL_ERROR
        );
        // The property block is required at 5, and checked.
        assert_eq!(
            Subscribe::decode(&[0, 1, 0, 1, b'a', 0], V5),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            Subscribe::decode(&[0, 1, 4, 0x0B, 1, 0x0B, 2, 0, 1, b'a', 0], V5),
            Err(DecodeError::DuplicateProperty(0x0B))
        );
    }

    #[test]
    fn v5_acks() {
        let mut a = SubAck {
            packet_id: 2,
            codes: vec![0, 2, 0x8F, 0xA2],
            properties: Properties::default(),
        };
        a.properties.set_reason_string("r");
        let mut out = Vec::new();
        a.encode(&mut out, V5);
        assert_eq!(out, [0x90, 11, 0, 2, 4, 0x1F, 0, 1, b'r', 0, 2, 0x8F, 0xA2]);
        assert_eq!(SubAck::decode(&out[2..], V5).unwrap(), a);
        assert_eq!(
            SubAck::decode(&[0, 2, 0, 0x11], V5),
            Err(DecodeError::InvalidReasonCode {
                packet_type: 9,
                code: 0x11
            })
        );
        let mut u = UnsubAck::new(3);
        u.codes = vec![0x00, 0x11, 0x87];
        out.clear();
        u.encode(&mut out, V5);
        assert_eq!(out, [0xB0, 6, 0, 3, 0, 0, 0x11, 0x87]);
        assert_eq!(UnsubAck::decode(&out[2..], V5).unwrap(), u);
        assert_eq!(
            UnsubAck::decode(&[0, 3, 0, 0x02], V5),
            Err(DecodeError::InvalidReasonCode {
                packet_type: 11,
                code: 0x02
            })
        );
        let mut un = Unsubscribe {
            packet_id: 4,
            filters: vec!["t".into()],
            properties: Properties::default(),
        };
        un.properties.add_user_property("a", "b");
        out.clear();
        un.encode(&mut out, V5);
        assert_eq!(
            out,
            [0xA2, 13, 0, 4, 7, 0x26, 0, 1, b'a', 0, 1, b'b', 0, 1, b't']
        );
        assert_eq!(Unsubscribe::decode(&out[2..], V5).unwrap(), un);
        assert_eq!(
            Unsubscribe::decode(&[0, 4, 2, 0x1F, 0, 0, 1, b't'], V5),
            Err(DecodeError::Truncated)
        );
    }
}
