//! The retained-message tree: one node per topic level holding at most one
//! message. A subscription's filter walks it, so `a/+/c` visits only the
//! branches it can match; `#` visits everything below its level.

use std::collections::HashMap;
use std::rc::Rc;

use super::database::Message;

#[derive(Default, Debug)]
struct Node {
    children: HashMap<Box<str>, Node>,
    msg: Option<Rc<Message>>,
}

#[derive(Default, Debug)]
pub struct RetainTree {
    root: Node,
    count: usize,
}

impl RetainTree {
    /// Stores `msg` as the retained message of its topic; an empty payload
    /// clears it ([MQTT-3.3.1-10]).
    pub fn store(&mut self, msg: &Rc<Message>) {
        if msg.payload.is_empty() {
            self.remove(&msg.topic);
            return;
        }
        let mut node = &mut self.root;
        for level in msg.topic.split('/') {
            node = node.children.entry(level.into()).or_default();
        }
        if node.msg.replace(Rc::clone(msg)).is_none() {
            self.count += 1;
        }
    }

    /// Removes the retained message of `topic`, if any.
    pub fn remove(&mut self, topic: &str) {
        fn walk<'a>(node: &mut Node, mut levels: impl Iterator<Item = &'a str>) -> bool {
            match levels.next() {
                None => node.msg.take().is_some(),
                Some(level) => {
                    let Some(child) = node.children.get_mut(level) else {
                        return false;
                    };
                    let removed = walk(child, levels);
                    if child.msg.is_none() && child.children.is_empty() {
                        node.children.remove(level);
                    }
                    removed
                }
            }
        }
        if walk(&mut self.root, topic.split('/')) {
            self.count -= 1;
        }
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends every retained message matching `filter` to `out`.
    pub fn matching(&self, filter: &str, out: &mut Vec<Rc<Message>>) {
        let levels: Vec<&str> = filter.split('/').collect();
        walk_filter(&self.root, &levels, true, out);
    }

    /// Calls `f` with every retained message, by reference: a save walks
    /// the tree without copying or collecting anything.
    pub fn for_each<'a>(&'a self, mut f: impl FnMut(&'a Rc<Message>)) {
        visit(&self.root, &mut f);
    }
}

fn visit<'a, F: FnMut(&'a Rc<Message>)>(node: &'a Node, f: &mut F) {
    if let Some(m) = &node.msg {
        f(m);
    }
    for child in node.children.values() {
        visit(child, f);
    }
}

fn everything(node: &Node, out: &mut Vec<Rc<Message>>) {
    if let Some(m) = &node.msg {
        out.push(Rc::clone(m));
    }
    for child in node.children.values() {
        everything(child, out);
    }
}

/// `root` is true at the top level, where wildcards skip `$` topics.
fn walk_filter(node: &Node, levels: &[&str], root: bool, out: &mut Vec<Rc<Message>>) {
    let Some((&level, rest)) = levels.split_first() else {
        if let Some(m) = &node.msg {
            out.push(Rc::clone(m));
        }
        return;
    };
    match level {
        "#" => {
            // "a/#" matches "a" itself too.
            if let Some(m) = &node.msg {
                if !root {
                    out.push(Rc::clone(m));
                }
            }
            for (name, child) in &node.children {
                if !(root && name.starts_with('$')) {
                    everything(child, out);
                }
            }
        }
        "+" => {
            for (name, child) in &node.children {
                if !(root && name.starts_with('$')) {
                    walk_filter(child, rest, false, out);
                }
            }
        }
        _ => {
            if let Some(child) = node.children.get(level) {
                walk_filter(child, rest, false, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::topic::matches;
    use crate::protocol::QoS;

    fn msg(topic: &str, payload: &[u8]) -> Rc<Message> {
        Rc::new(Message::new(
            topic.into(),
            payload.to_vec(),
            QoS::AtLeastOnce,
            true,
        ))
    }

    fn topics(tree: &RetainTree, filter: &str) -> Vec<String> {
        let mut out = Vec::new();
        tree.matching(filter, &mut out);
        let mut v: Vec<String> = out.iter().map(|m| m.topic.to_string()).collect();
        v.sort();
        v
    }

    #[test]
    fn walk_agrees_with_filter_matching() {
        let all = [
            "a", "a/b", "a/b/c", "/", "/a", "a//b", "$SYS/x", "b/b", "a/",
        ];
        let mut tree = RetainTree::default();
        for t in all {
            tree.store(&msg(t, b"x"));
        }
        assert_eq!(tree.len(), all.len());
        for f in [
            "#", "+", "a/#", "a/+", "+/b", "+/+", "/+", "a/+/b", "$SYS/#", "+/#", "a", "a/b/#",
        ] {
            let mut want: Vec<String> = all
                .iter()
                .filter(|t| matches(f, t))
                .map(|t| t.to_string())
                .collect();
            want.sort();
            assert_eq!(topics(&tree, f), want, "filter {f}");
        }
    }

    #[test]
    fn replace_and_clear() {
        let mut tree = RetainTree::default();
        tree.store(&msg("a/b", b"1"));
        tree.store(&msg("a/b", b"2"));
        assert_eq!(tree.len(), 1);
        let mut out = Vec::new();
        tree.matching("a/b", &mut out);
        assert_eq!(&out[0].payload[..], b"2");
        tree.store(&msg("a/b", b""));
        assert!(tree.is_empty());
        assert!(tree.root.children.is_empty(), "pruned");
        tree.store(&msg("x", b""));
        assert!(tree.is_empty());
    }
}
