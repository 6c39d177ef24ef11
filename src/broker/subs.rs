//! The subscription tree: one node per topic level, with `+` and `#` as
//! ordinary child names. Matching a topic walks only the branches that can
//! match, so its cost follows the topic's depth, not the number of clients.

use std::collections::HashMap;

use crate::protocol::QoS;

/// One subscription at a node: which session, at which QoS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscriber {
    pub session: usize,
    pub qos: QoS,
}

#[derive(Default, Debug)]
struct Node {
    children: HashMap<Box<str>, Node>,
    subs: Vec<Subscriber>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.children.is_empty() && self.subs.is_empty()
    }
}

#[derive(Default, Debug)]
pub struct SubTree {
    root: Node,
    count: usize,
}

impl SubTree {
    /// Adds or replaces `session`'s subscription to `filter`. Returns true if
    /// it is new (false when only the QoS changed).
    pub fn subscribe(&mut self, filter: &str, session: usize, qos: QoS) -> bool {
        let mut node = &mut self.root;
        for level in filter.split('/') {
            node = node.children.entry(level.into()).or_default();
        }
        if let Some(s) = node.subs.iter_mut().find(|s| s.session == session) {
            s.qos = qos;
            false
        } else {
            node.subs.push(Subscriber { session, qos });
            self.count += 1;
            true
        }
    }

    /// Removes `session`'s subscription to `filter`; true if there was one.
    /// Empty branches are pruned so the tree does not grow without bound.
    pub fn unsubscribe(&mut self, filter: &str, session: usize) -> bool {
        fn walk<'a>(
            node: &mut Node,
            mut levels: impl Iterator<Item = &'a str>,
            session: usize,
        ) -> bool {
            match levels.next() {
                None => {
                    let before = node.subs.len();
                    node.subs.retain(|s| s.session != session);
                    before != node.subs.len()
                }
                Some(level) => {
                    let Some(child) = node.children.get_mut(level) else {
                        return false;
                    };
                    let removed = walk(child, levels, session);
                    if child.is_empty() {
                        node.children.remove(level);
                    }
                    removed
                }
            }
        }
        let removed = walk(&mut self.root, filter.split('/'), session);
        if removed {
            self.count -= 1;
        }
        removed
    }

    /// Number of subscriptions held.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends every subscription matching `topic` to `out` (a reused buffer;
    /// a session appears once per matching filter).
    pub fn matches(&self, topic: &str, out: &mut Vec<Subscriber>) {
        // [MQTT-4.7.2-1]: `$` topics are not matched by root-level wildcards.
        let dollar = topic.starts_with('$');
        collect(&self.root, topic, dollar, out);
    }

    /// Writes every filter with its subscribers to `out`, one line each (for
    /// SIGUSR2's tree dump).
    pub fn dump(&self, out: &mut Vec<(String, Subscriber)>) {
        fn walk(node: &Node, path: &str, out: &mut Vec<(String, Subscriber)>) {
            for s in &node.subs {
                out.push((path.to_owned(), *s));
            }
            for (name, child) in &node.children {
                walk(child, &format!("{path}/{name}"), out);
            }
        }
        for (name, child) in &self.root.children {
            walk(child, name, out);
        }
    }
}

/// `rest` is the topic from the current level on; the root call skips
/// wildcard children when the topic starts with `$`.
fn collect(node: &Node, rest: &str, skip_wild: bool, out: &mut Vec<Subscriber>) {
    let (level, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    if !skip_wild {
        if let Some(hash) = node.children.get("#") {
            out.extend_from_slice(&hash.subs);
        }
    }
    let mut visit = |child: &Node| match tail {
        Some(t) => collect(child, t, false, out),
        None => {
            out.extend_from_slice(&child.subs);
            // "a/#" also matches "a".
            if let Some(hash) = child.children.get("#") {
                out.extend_from_slice(&hash.subs);
            }
        }
    };
    if let Some(child) = node.children.get(level) {
        visit(child);
    }
    if !skip_wild {
        if let Some(plus) = node.children.get("+") {
            visit(plus);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::topic::matches as filter_matches;

    fn hits(tree: &SubTree, topic: &str) -> Vec<usize> {
        let mut out = Vec::new();
        tree.matches(topic, &mut out);
        let mut v: Vec<usize> = out.iter().map(|s| s.session).collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn tree_agrees_with_filter_matching() {
        let filters = [
            "#", "+", "a", "a/#", "a/+", "a/b", "+/b", "+/+", "/+", "a//b", "a/+/b", "$SYS/#",
            "$SYS/+", "+/#", "a/b/#", "/", "",
        ];
        let topics = [
            "a", "a/b", "a/b/c", "/", "/a", "a/", "a//b", "$SYS/x", "$SYS", "b", "x/b",
        ];
        let mut tree = SubTree::default();
        for (i, f) in filters.iter().enumerate() {
            if !f.is_empty() {
                tree.subscribe(f, i, QoS::AtMostOnce);
            }
        }
        for t in topics {
            let want: Vec<usize> = filters
                .iter()
                .enumerate()
                .filter(|(_, f)| !f.is_empty() && filter_matches(f, t))
                .map(|(i, _)| i)
                .collect();
            assert_eq!(hits(&tree, t), want, "topic {t}");
        }
    }

    #[test]
    fn subscribe_replace_unsubscribe_prunes() {
        let mut tree = SubTree::default();
        assert!(tree.subscribe("a/b/c", 1, QoS::AtMostOnce));
        assert!(!tree.subscribe("a/b/c", 1, QoS::ExactlyOnce));
        assert!(tree.subscribe("a/b/c", 2, QoS::AtLeastOnce));
        assert_eq!(tree.len(), 2);
        let mut out = Vec::new();
        tree.matches("a/b/c", &mut out);
        assert!(out.contains(&Subscriber {
            session: 1,
            qos: QoS::ExactlyOnce
        }));
        assert!(tree.unsubscribe("a/b/c", 1));
        assert!(!tree.unsubscribe("a/b/c", 1));
        assert!(!tree.unsubscribe("a/x", 2));
        assert!(tree.unsubscribe("a/b/c", 2));
        assert!(tree.is_empty());
        assert!(tree.root.children.is_empty(), "branches pruned");
    }
}
