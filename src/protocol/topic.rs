//! Topic names and filters: validation and matching ([MQTT-4.7]).

/// A topic name as a PUBLISH may carry it: non-empty, no wildcards.
pub fn valid_topic_name(t: &str) -> bool {
    !t.is_empty() && !t.bytes().any(|b| b == b'+' || b == b'#')
}

/// A topic filter: non-empty; `+` only as a whole level; `#` only as the
/// whole last level. Shared subscriptions (`$share/group/filter`) are checked
/// as the filter they carry.
pub fn valid_topic_filter(f: &str) -> bool {
    if f.is_empty() {
        return false;
    }
    let mut levels = f.split('/').peekable();
    while let Some(level) = levels.next() {
        let last = levels.peek().is_none();
        if level.contains('#') && (level != "#" || !last) {
            return false;
        }
        if level.contains('+') && level != "+" {
            return false;
        }
    }
    true
}

/// Whether `filter` matches `topic`. Topics beginning with `$` are not
/// matched by filters beginning with a wildcard ([MQTT-4.7.2-1]).
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "/", "a/b", "主题", "$SYS/x", " ", "a//b"] {
            assert!(valid_topic_name(ok), "{ok}");
        }
        for bad in ["", "a/+", "#", "a/b#", "+"] {
            assert!(!valid_topic_name(bad), "{bad}");
        }
    }

    #[test]
    fn filters() {
        for ok in [
            "#", "+", "a/#", "+/+", "/+", "a/+/b", "+/#", "$SYS/#", "a//b", "/",
        ] {
            assert!(valid_topic_filter(ok), "{ok}");
        }
        for bad in ["", "a#", "a/#/b", "a+", "+a/b", "a/b+", "##", "#/"] {
            assert!(!valid_topic_filter(bad), "{bad}");
        }
    }

    #[test]
    fn matching_table() {
        let table = [
            ("#", "a", true),
            ("#", "a/b/c", true),
            ("#", "/", true),
            ("a/#", "a", true),
            ("a/#", "a/b", true),
            ("a/#", "ab", false),
            ("a/+", "a/b", true),
            ("a/+", "a", false),
            ("a/+", "a/b/c", false),
            ("a/+", "a/", true),
            ("+/+", "/", true),
            ("+", "/a", false),
            ("/+", "/a", true),
            ("a/b", "a/b", true),
            ("a/b", "a/b/", false),
            ("+/b/#", "x/b", true),
            ("#", "$SYS/x", false),
            ("+/x", "$SYS/x", false),
            ("$SYS/#", "$SYS/x", true),
            ("$SYS/+", "$SYS/x", true),
            ("a//b", "a//b", true),
            ("a/+/b", "a//b", true),
        ];
        for (f, t, want) in table {
            assert_eq!(matches(f, t), want, "{f} vs {t}");
        }
    }
}
