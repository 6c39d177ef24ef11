//! The debug lines libmosquitto gives its log callback for each packet
//! sent and received (what `mosquitto_sub -d` prints).

use mosquitto_rs::protocol::Packet;

/// libmosquitto prints a client without an id with printf's "(null)".
pub fn id_text(id: Option<&str>) -> &str {
    id.unwrap_or("(null)")
}

/// The lines for a packet `sent` (or received); `mid` is the message id of
/// a QoS 0 PUBLISH, which has none on the wire.
pub fn lines(id: &str, p: &Packet, sent: bool, mid: u16) -> Vec<String> {
    let verb = if sent { "sending" } else { "received" };
    let one = |rest: String| vec![format!("Client {id} {verb} {rest}")];
    match p {
        Packet::Connect(_) => one("CONNECT".into()),
        Packet::ConnAck(c) => one(format!("CONNACK ({})", c.code)),
        Packet::Publish(m) => one(format!(
            "PUBLISH (d{}, q{}, r{}, m{}, '{}', ... ({} bytes))",
            u8::from(m.dup),
            m.qos.as_u8(),
            u8::from(m.retain),
            if m.packet_id == 0 { mid } else { m.packet_id },
            m.topic,
            m.payload.len()
        )),
        Packet::PubAck(a) | Packet::PubComp(a) if !sent => one(format!(
            "{} (Mid: {}, RC:{})",
            p.packet_type().name(),
            a.packet_id,
            a.reason
        )),
        Packet::PubRec(a) | Packet::PubRel(a) if !sent => {
            one(format!("{} (Mid: {})", p.packet_type().name(), a.packet_id))
        }
        Packet::PubAck(a) | Packet::PubRec(a) => one(format!(
            "{} (m{}, rc{})",
            p.packet_type().name(),
            a.packet_id,
            a.reason
        )),
        Packet::PubRel(a) | Packet::PubComp(a) => {
            one(format!("{} (m{})", p.packet_type().name(), a.packet_id))
        }
        Packet::Subscribe(s) => (0..s.filters.len())
            .map(|i| {
                let o = s.options_at(i).to_byte();
                format!(
                    "Client {id} sending SUBSCRIBE (Mid: {}, Topic: {}, QoS: {}, Options: 0x{:02x})",
                    s.packet_id,
                    s.filters.get(i).map_or("", |f| f.0.as_str()),
                    o & 0x03,
                    o & 0xFC
                )
            })
            .collect(),
        Packet::Unsubscribe(u) => u
            .filters
            .iter()
            .map(|f| {
                format!(
                    "Client {id} sending UNSUBSCRIBE (Mid: {}, Topic: {f})",
                    u.packet_id
                )
            })
            .collect(),
        Packet::Disconnect(reason, _) if !sent => vec![format!("Received DISCONNECT ({reason})")],
        other => one(other.packet_type().name().to_string()),
    }
}
