//! The subscription tree: one node per topic level. `+` and `#` have fields
//! of their own rather than entries in the children map, so matching a
//! topic costs one map lookup per level (the profile showed hashing as the
//! largest single cost when they were map entries). Matching walks only the
//! branches that can match: its cost follows the topic's depth, not the
//! number of clients.

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
    /// The `+` child.
    plus: Option<Box<Node>>,
    /// Subscriptions to `<this level>/#` (`#` is always last, so it needs
    /// no node of its own).
    hash_subs: Vec<Subscriber>,
    /// Subscriptions ending exactly at this level.
    subs: Vec<Subscriber>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.children.is_empty()
            && self.plus.is_none()
            && self.hash_subs.is_empty()
            && self.subs.is_empty()
    }
}

/// Adds or updates `session` in a subscriber list; true if it is new.
fn upsert(list: &mut Vec<Subscriber>, session: usize, qos: QoS) -> bool {
    match list.iter_mut().find(|s| s.session == session) {
        Some(s) => {
            s.qos = qos;
            false
        }
        None => {
            list.push(Subscriber { session, qos });
            true
        }
    }
}

/// Removes `session` from a subscriber list; true if it was there.
fn remove(list: &mut Vec<Subscriber>, session: usize) -> bool {
    let before = list.len();
    list.retain(|s| s.session != session);
    before != list.len()
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
        let mut levels = filter.split('/').peekable();
        let mut list = None;
        while let Some(level) = levels.next() {
            match level {
                // Valid filters have `#` only as their last level.
                "#" if levels.peek().is_none() => {
                    list = Some(&mut node.hash_subs);
                    break;
                }
                "+" => node = node.plus.get_or_insert_with(Default::default),
                _ => node = node.children.entry(level.into()).or_default(),
            }
        }
        let list = match list {
            Some(l) => l,
            None => &mut node.subs,
        };
        let new = upsert(list, session, qos);
        if new {
            self.count += 1;
        }
        new
    }

    /// Removes `session`'s subscription to `filter`; true if there was one.
    /// Empty branches are pruned so the tree does not grow without bound.
    pub fn unsubscribe(&mut self, filter: &str, session: usize) -> bool {
        fn walk<'a>(
            node: &mut Node,
            mut levels: std::iter::Peekable<impl Iterator<Item = &'a str>>,
            session: usize,
        ) -> bool {
            let Some(level) = levels.next() else {
                return remove(&mut node.subs, session);
            };
            match level {
                "#" if levels.peek().is_none() => remove(&mut node.hash_subs, session),
                "+" => {
                    let Some(child) = node.plus.as_deref_mut() else {
                        return false;
                    };
                    let removed = walk(child, levels, session);
                    if child.is_empty() {
                        node.plus = None;
                    }
                    removed
                }
                _ => {
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
        let removed = walk(&mut self.root, filter.split('/').peekable(), session);
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
        /// `path` is the filter down to this node; `None` at the root.
        fn walk(node: &Node, path: Option<&str>, out: &mut Vec<(String, Subscriber)>) {
            let join = |name: &str| match path {
                Some(p) => format!("{p}/{name}"),
                None => name.to_owned(),
            };
            if let Some(p) = path {
                for s in &node.subs {
                    out.push((p.to_owned(), *s));
                }
            }
            for s in &node.hash_subs {
                out.push((join("#"), *s));
            }
            if let Some(plus) = &node.plus {
                walk(plus, Some(&join("+")), out);
            }
            for (name, child) in &node.children {
                walk(child, Some(&join(name)), out);
            }
        }
        walk(&self.root, None, out);
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
        out.extend_from_slice(&node.hash_subs);
    }
    let mut visit = |child: &Node| match tail {
        Some(t) => collect(child, t, false, out),
        None => {
            out.extend_from_slice(&child.subs);
            // "a/#" also matches "a".
            out.extend_from_slice(&child.hash_subs);
        }
    };
    if let Some(child) = node.children.get(level) {
        visit(child);
    }
    if !skip_wild {
        if let Some(plus) = &node.plus {
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

    #[test]
    fn dump_names_wildcard_filters() {
        let mut tree = SubTree::default();
        for (i, f) in ["#", "a/#", "+/b", "a/+/c", "x"].iter().enumerate() {
            tree.subscribe(f, i, QoS::AtLeastOnce);
        }
        let mut out = Vec::new();
        tree.dump(&mut out);
        let mut filters: Vec<String> = out.into_iter().map(|(f, _)| f).collect();
        filters.sort();
        assert_eq!(filters, ["#", "+/b", "a/#", "a/+/c", "x"]);
        assert!(tree.unsubscribe("a/+/c", 3));
        assert!(tree.unsubscribe("#", 0));
        assert!(!tree.unsubscribe("#", 0));
        assert_eq!(tree.len(), 3);
    }
}
