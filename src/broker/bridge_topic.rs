//! Bridge topic remapping: a message matching a bridge topic's filter on
//! one side has that side's prefix taken off (when it starts with it) and
//! the other side's prefix put on, as mosquitto does.

use crate::config::{BridgeTopic, Direction};
use crate::protocol::topic::matches;

/// The topic a message from the local broker has on the remote one, or
/// None when no `out`/`both` topic of the bridge matches it.
pub fn local_to_remote(topics: &[BridgeTopic], topic: &str) -> Option<String> {
    remap(topics, topic, true)
}

/// The topic a message from the remote broker gets locally, or None when
/// no `in`/`both` topic of the bridge matches it.
pub fn remote_to_local(topics: &[BridgeTopic], topic: &str) -> Option<String> {
    remap(topics, topic, false)
}

fn remap(topics: &[BridgeTopic], topic: &str, outgoing: bool) -> Option<String> {
    for t in topics {
        let wanted = match t.direction {
            Direction::Both => true,
            Direction::Out => outgoing,
            Direction::In => !outgoing,
        };
        if !wanted {
            continue;
        }
        let (filter, from, to) = if outgoing {
            (t.local_topic(), &t.local_prefix, &t.remote_prefix)
        } else {
            (t.remote_topic(), &t.remote_prefix, &t.local_prefix)
        };
        if !matches(&filter, topic) {
            continue;
        }
        let rest = match from {
            Some(p) => topic.strip_prefix(p.as_str()).unwrap_or(topic),
            None => topic,
        };
        return Some(match to {
            Some(p) => format!("{p}{rest}"),
            None => rest.to_owned(),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(pattern: &str, d: Direction, local: Option<&str>, remote: Option<&str>) -> BridgeTopic {
        BridgeTopic {
            pattern: Some(pattern.into()),
            direction: d,
            qos: 1,
            local_prefix: local.map(Into::into),
            remote_prefix: remote.map(Into::into),
        }
    }

    #[test]
    fn prefixes_are_swapped() {
        let topics = [
            t("sensors/#", Direction::Out, Some("edge/"), Some("site1/")),
            t("cmd/#", Direction::In, Some("local/"), Some("hq/")),
            t("both/+", Direction::Both, None, Some("r/")),
        ];
        assert_eq!(
            local_to_remote(&topics, "edge/sensors/t1").as_deref(),
            Some("site1/sensors/t1")
        );
        assert_eq!(
            local_to_remote(&topics, "sensors/t1"),
            None,
            "needs the local prefix"
        );
        assert_eq!(
            remote_to_local(&topics, "hq/cmd/reboot").as_deref(),
            Some("local/cmd/reboot")
        );
        assert_eq!(
            remote_to_local(&topics, "site1/sensors/t1"),
            None,
            "out-only topic"
        );
        assert_eq!(
            local_to_remote(&topics, "both/x").as_deref(),
            Some("r/both/x")
        );
        assert_eq!(
            remote_to_local(&topics, "r/both/x").as_deref(),
            Some("both/x")
        );
        assert_eq!(
            local_to_remote(&topics, "local/cmd/x"),
            None,
            "in-only topic"
        );
    }

    #[test]
    fn empty_pattern_maps_prefix_to_prefix() {
        let topics = [BridgeTopic {
            pattern: None,
            direction: Direction::Both,
            qos: 0,
            local_prefix: Some("a/b".into()),
            remote_prefix: Some("x/y".into()),
        }];
        assert_eq!(local_to_remote(&topics, "a/b").as_deref(), Some("x/y"));
        assert_eq!(remote_to_local(&topics, "x/y").as_deref(), Some("a/b"));
        assert_eq!(local_to_remote(&topics, "a/b/c"), None);
    }
}
