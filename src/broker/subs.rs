//! The subscription tree: one node per topic level. `+` and `#` have fields
//! of their own rather than entries in the children map, so matching a
//! topic costs one map lookup per level (the profile showed hashing as the
//! largest single cost when they were map entries). Matching walks only the
//! branches that can match: its cost follows the topic's depth, not the
//! number of clients.
//!
//! Shared subscriptions (`$share/GROUP/FILTER`) sit at the node of their
//! filter, one group per name; a matching message goes to one member of
//! each group, the members taking turns (as mosquitto: offline persistent
//! members take their turn too, their copy is queued).

use std::cell::Cell;
use std::collections::HashMap;

use crate::protocol::QoS;

/// MQTT 5 subscription option bits kept per subscription.
pub const NO_LOCAL: u8 = 0x04;
pub const RETAIN_AS_PUBLISHED: u8 = 0x08;

/// What a session asked for with one filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubOpts {
    pub qos: QoS,
    /// `NO_LOCAL` | `RETAIN_AS_PUBLISHED` (0 for 3.1.1 clients).
    pub flags: u8,
    /// The subscription identifier; 0 for none.
    pub id: u32,
}

impl SubOpts {
    pub fn new(qos: QoS) -> SubOpts {
        SubOpts {
            qos,
            ..SubOpts::default()
        }
    }

    pub fn no_local(&self) -> bool {
        self.flags & NO_LOCAL != 0
    }

    pub fn retain_as_published(&self) -> bool {
        self.flags & RETAIN_AS_PUBLISHED != 0
    }
}

/// One subscription at a node: which session, with which options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscriber {
    pub session: usize,
    pub opts: SubOpts,
}

/// `$share/GROUP/FILTER` split into group and filter; None when `filter`
/// is not a shared subscription. `Some(Err(()))` for a malformed one (no
/// group, a wildcard or nothing after it).
pub fn split_shared(filter: &str) -> Option<Result<(&str, &str), ()>> {
    let rest = filter.strip_prefix("$share/")?;
    let Some((group, inner)) = rest.split_once('/') else {
        return Some(Err(()));
    };
    let bad_group = group.is_empty() || group.contains(['+', '#']);
    if bad_group || inner.is_empty() {
        return Some(Err(()));
    }
    Some(Ok((group, inner)))
}

/// One shared subscription group at a node.
#[derive(Debug)]
struct Group {
    name: Box<str>,
    /// Subscribed to `<this level>/#` rather than ending at this level.
    hash: bool,
    members: Vec<Subscriber>,
    /// Whose turn it is (an index into `members`).
    next: Cell<usize>,
}

impl Group {
    /// The member whose turn it is; the turn passes on.
    fn pick(&self) -> Option<Subscriber> {
        if self.members.is_empty() {
            return None;
        }
        let i = self.next.get() % self.members.len();
        self.next.set(i + 1);
        self.members.get(i).copied()
    }
}

/// The shared groups at one node (boxed in the node, as few have any).
#[derive(Default, Debug)]
struct Groups(Vec<Group>);

/// Children past this many go into a hash map.
const FEW_CHILDREN: usize = 16;

/// A node's children by level name. Most levels of most trees have a
/// handful, looked up faster by comparing names in a short list than by
/// hashing the level (SipHash, kept for wide levels: its keys resist
/// crafted collisions); past `FEW_CHILDREN` they move to a map for good.
#[derive(Debug)]
enum Children {
    Few(Vec<(Box<str>, Node)>),
    Many(HashMap<Box<str>, Node>),
}

impl Default for Children {
    fn default() -> Children {
        Children::Few(Vec::new())
    }
}

impl Children {
    fn is_empty(&self) -> bool {
        match self {
            Children::Few(v) => v.is_empty(),
            Children::Many(m) => m.is_empty(),
        }
    }

    fn get(&self, name: &str) -> Option<&Node> {
        match self {
            Children::Few(v) => v.iter().find(|(n, _)| **n == *name).map(|(_, c)| c),
            Children::Many(m) => m.get(name),
        }
    }

    fn get_mut(&mut self, name: &str) -> Option<&mut Node> {
        match self {
            Children::Few(v) => v.iter_mut().find(|(n, _)| **n == *name).map(|(_, c)| c),
            Children::Many(m) => m.get_mut(name),
        }
    }

    /// The child `name`, created empty if missing.
    fn entry(&mut self, name: &str) -> &mut Node {
        if let Children::Few(v) = self {
            if v.len() >= FEW_CHILDREN && !v.iter().any(|(n, _)| **n == *name) {
                *self = Children::Many(std::mem::take(v).into_iter().collect());
            }
        }
        match self {
            Children::Few(v) => {
                let i = match v.iter().position(|(n, _)| **n == *name) {
                    Some(i) => i,
                    None => {
                        v.push((name.into(), Node::default()));
                        v.len() - 1
                    }
                };
                // `i` is in range: found or just pushed.
                &mut v[i].1
            }
            Children::Many(m) => m.entry(name.into()).or_default(),
        }
    }

    fn remove(&mut self, name: &str) {
        match self {
            Children::Few(v) => v.retain(|(n, _)| **n != *name),
            Children::Many(m) => {
                m.remove(name);
            }
        }
    }

    fn iter(&self) -> Box<dyn Iterator<Item = (&Box<str>, &Node)> + '_> {
        match self {
            Children::Few(v) => Box::new(v.iter().map(|(n, c)| (n, c))),
            Children::Many(m) => Box::new(m.iter()),
        }
    }
}

#[derive(Default, Debug)]
struct Node {
    children: Children,
    /// The `+` child.
    plus: Option<Box<Node>>,
    /// Subscriptions to `<this level>/#` (`#` is always last, so it needs
    /// no node of its own).
    hash_subs: Vec<Subscriber>,
    /// Subscriptions ending exactly at this level.
    subs: Vec<Subscriber>,
    /// Shared subscription groups; boxed, as few nodes have any.
    shared: Option<Box<Groups>>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.children.is_empty()
            && self.plus.is_none()
            && self.hash_subs.is_empty()
            && self.subs.is_empty()
            && self.shared.is_none()
    }

    /// One member of each group that ends here (`hash`: the `#` groups).
    fn pick_shared(&self, hash: bool, out: &mut Vec<Subscriber>) {
        if let Some(Groups(groups)) = self.shared.as_deref() {
            out.extend(
                groups
                    .iter()
                    .filter(|g| g.hash == hash)
                    .filter_map(Group::pick),
            );
        }
    }

    /// The member list of group `name` here, created if `create`.
    fn group(&mut self, name: &str, hash: bool, create: bool) -> Option<&mut Vec<Subscriber>> {
        if self.shared.is_none() && !create {
            return None;
        }
        let groups = &mut self.shared.get_or_insert_with(Box::default).0;
        let i = match groups
            .iter()
            .position(|g| g.hash == hash && *g.name == *name)
        {
            Some(i) => i,
            None if create => {
                groups.push(Group {
                    name: name.into(),
                    hash,
                    members: Vec::new(),
                    next: Cell::new(0),
                });
                groups.len() - 1
            }
            None => return None,
        };
        groups.get_mut(i).map(|g| &mut g.members)
    }

    /// Drops empty groups (and the box when none is left).
    fn prune_groups(&mut self) {
        if let Some(Groups(groups)) = self.shared.as_deref_mut() {
            groups.retain(|g| !g.members.is_empty());
            if groups.is_empty() {
                self.shared = None;
            }
        }
    }
}

/// Adds or updates `session` in a subscriber list; true if it is new.
fn upsert(list: &mut Vec<Subscriber>, session: usize, opts: SubOpts) -> bool {
    match list.iter_mut().find(|s| s.session == session) {
        Some(s) => {
            s.opts = opts;
            false
        }
        None => {
            list.push(Subscriber { session, opts });
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

/// Where in a node a subscription lives.
enum Slot<'a> {
    Subs,
    Hash,
    Group(&'a str, bool),
}

impl SubTree {
    /// Adds or replaces `session`'s subscription to `filter` (which may be
    /// `$share/GROUP/FILTER`, checked by the caller with `split_shared`).
    /// Returns true if it is new (false when only the options changed).
    pub fn subscribe(&mut self, filter: &str, session: usize, opts: SubOpts) -> bool {
        let (group, filter) = match split_shared(filter) {
            Some(Ok((g, f))) => (Some(g), f),
            Some(Err(())) => return false,
            None => (None, filter),
        };
        let mut node = &mut self.root;
        let mut levels = filter.split('/').peekable();
        let mut hash = false;
        while let Some(level) = levels.next() {
            match level {
                // Valid filters have `#` only as their last level.
                "#" if levels.peek().is_none() => {
                    hash = true;
                    break;
                }
                "+" => node = node.plus.get_or_insert_with(Default::default),
                _ => node = node.children.entry(level),
            }
        }
        let slot = match (group, hash) {
            (Some(g), h) => Slot::Group(g, h),
            (None, true) => Slot::Hash,
            (None, false) => Slot::Subs,
        };
        let list = match slot {
            Slot::Subs => &mut node.subs,
            Slot::Hash => &mut node.hash_subs,
            Slot::Group(g, h) => match node.group(g, h, true) {
                Some(l) => l,
                None => return false,
            },
        };
        let new = upsert(list, session, opts);
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
            group: Option<&str>,
        ) -> bool {
            let Some(level) = levels.next() else {
                return remove_at(node, Slot::from(group, false), session);
            };
            match level {
                "#" if levels.peek().is_none() => remove_at(node, Slot::from(group, true), session),
                "+" => {
                    let Some(child) = node.plus.as_deref_mut() else {
                        return false;
                    };
                    let removed = walk(child, levels, session, group);
                    if child.is_empty() {
                        node.plus = None;
                    }
                    removed
                }
                _ => {
                    let Some(child) = node.children.get_mut(level) else {
                        return false;
                    };
                    let removed = walk(child, levels, session, group);
                    if child.is_empty() {
                        node.children.remove(level);
                    }
                    removed
                }
            }
        }
        let (group, filter) = match split_shared(filter) {
            Some(Ok((g, f))) => (Some(g), f),
            Some(Err(())) => return false,
            None => (None, filter),
        };
        let removed = walk(&mut self.root, filter.split('/').peekable(), session, group);
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
    /// a session appears once per matching filter), and one member of each
    /// matching shared group, whose turn then passes on. Returns how many
    /// filters and groups contributed: a session can be in `out` twice only
    /// when that is 2 or more (one list holds a session once).
    pub fn matches(&self, topic: &str, out: &mut Vec<Subscriber>) -> usize {
        // [MQTT-4.7.2-1]: `$` topics are not matched by root-level wildcards.
        let dollar = topic.starts_with('$');
        let mut lists = 0;
        collect(&self.root, topic, dollar, out, &mut lists);
        lists
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
            for g in node.shared.iter().flat_map(|g| g.0.iter()) {
                let inner = match (g.hash, path) {
                    (true, _) => join("#"),
                    (false, Some(p)) => p.to_owned(),
                    (false, None) => String::new(),
                };
                for s in &g.members {
                    out.push((format!("$share/{}/{inner}", g.name), *s));
                }
            }
            if let Some(plus) = &node.plus {
                walk(plus, Some(&join("+")), out);
            }
            for (name, child) in node.children.iter() {
                walk(child, Some(&join(name)), out);
            }
        }
        walk(&self.root, None, out);
    }
}

impl Slot<'_> {
    fn from(group: Option<&str>, hash: bool) -> Slot<'_> {
        match (group, hash) {
            (Some(g), h) => Slot::Group(g, h),
            (None, true) => Slot::Hash,
            (None, false) => Slot::Subs,
        }
    }
}

/// Removes `session` from `slot` of `node`; true if it was there.
fn remove_at(node: &mut Node, slot: Slot<'_>, session: usize) -> bool {
    match slot {
        Slot::Subs => remove(&mut node.subs, session),
        Slot::Hash => remove(&mut node.hash_subs, session),
        Slot::Group(g, h) => {
            let removed = node.group(g, h, false).is_some_and(|l| remove(l, session));
            node.prune_groups();
            removed
        }
    }
}

/// `rest` is the topic from the current level on; the root call skips
/// wildcard children when the topic starts with `$`.
/// Appends `list` to `out`, counting it in `lists` if it added anything.
fn add(out: &mut Vec<Subscriber>, list: &[Subscriber], lists: &mut usize) {
    if !list.is_empty() {
        out.extend_from_slice(list);
        *lists += 1;
    }
}

/// Each picked group member counts as a list of its own.
fn add_shared(node: &Node, hash: bool, out: &mut Vec<Subscriber>, lists: &mut usize) {
    let before = out.len();
    node.pick_shared(hash, out);
    *lists += out.len() - before;
}

fn collect(node: &Node, rest: &str, skip_wild: bool, out: &mut Vec<Subscriber>, lists: &mut usize) {
    // A loop rather than a call per level: most levels lead to one child
    // (a name or `+`), and only a level with both recurses, for the name.
    let (mut node, mut rest, mut skip_wild) = (node, rest, skip_wild);
    loop {
        // A byte loop: levels are short, and str::find's searcher costs
        // more than the search.
        let cut = rest.bytes().position(|b| b == b'/');
        let (level, tail) = match cut.and_then(|i| Some((rest.get(..i)?, rest.get(i + 1..)?))) {
            Some((l, t)) => (l, Some(t)),
            None => (rest, None),
        };
        if !skip_wild {
            add(out, &node.hash_subs, lists);
            add_shared(node, true, out, lists);
        }
        let named = node.children.get(level);
        let plus = if skip_wild {
            None
        } else {
            node.plus.as_deref()
        };
        let Some(t) = tail else {
            for child in named.into_iter().chain(plus) {
                add(out, &child.subs, lists);
                // "a/#" also matches "a".
                add(out, &child.hash_subs, lists);
                add_shared(child, false, out, lists);
                add_shared(child, true, out, lists);
            }
            return;
        };
        let next = match (named, plus) {
            (Some(n), Some(p)) => {
                collect(n, t, false, out, lists);
                p
            }
            (Some(c), None) | (None, Some(c)) => c,
            (None, None) => return,
        };
        (node, rest, skip_wild) = (next, t, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::topic::matches as filter_matches;

    const Q0: SubOpts = SubOpts {
        qos: QoS::AtMostOnce,
        flags: 0,
        id: 0,
    };

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
        let mut shared = SubTree::default();
        for (i, f) in filters.iter().enumerate() {
            if !f.is_empty() {
                tree.subscribe(f, i, Q0);
                // A group of one gets what the plain filter gets.
                shared.subscribe(&format!("$share/g{i}/{f}"), i, Q0);
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
            assert_eq!(hits(&shared, t), want, "shared, topic {t}");
        }
    }

    /// What publish_message relies on to skip its sort: one list never
    /// holds a session twice, so duplicates need two contributing lists.
    #[test]
    fn matches_counts_the_contributing_lists() {
        let mut tree = SubTree::default();
        for s in 0..3 {
            tree.subscribe("a/b", s, Q0);
        }
        tree.subscribe("a/b", 1, Q0); // replaces, no duplicate
        let mut out = Vec::new();
        assert_eq!(tree.matches("a/b", &mut out), 1);
        assert_eq!(out.len(), 3);
        tree.subscribe("a/+", 1, Q0);
        tree.subscribe("$share/g/a/b", 2, Q0);
        out.clear();
        assert_eq!(tree.matches("a/b", &mut out), 3);
        assert_eq!(out.len(), 5);
        out.clear();
        assert_eq!(tree.matches("x", &mut out), 0);
        assert!(out.is_empty());
    }

    /// A level past `FEW_CHILDREN` names moves to a map; matching,
    /// replacing and pruning work the same before and after.
    #[test]
    fn wide_levels_match_and_prune() {
        let mut tree = SubTree::default();
        let n = FEW_CHILDREN * 2 + 3;
        for i in 0..n {
            assert!(tree.subscribe(&format!("w/{i}/x"), i, Q0));
        }
        assert!(!tree.subscribe("w/0/x", 0, Q0), "a replacement");
        assert!(matches!(
            tree.root.children.get("w").map(|w| &w.children),
            Some(Children::Many(_))
        ));
        for i in 0..n {
            assert_eq!(hits(&tree, &format!("w/{i}/x")), vec![i]);
        }
        assert!(hits(&tree, &format!("w/{n}/x")).is_empty());
        for i in 0..n {
            assert!(tree.unsubscribe(&format!("w/{i}/x"), i));
        }
        assert!(tree.root.children.is_empty(), "branches pruned");
        assert!(tree.is_empty());
    }

    #[test]
    fn subscribe_replace_unsubscribe_prunes() {
        let mut tree = SubTree::default();
        let q2 = SubOpts {
            qos: QoS::ExactlyOnce,
            flags: NO_LOCAL,
            id: 7,
        };
        assert!(tree.subscribe("a/b/c", 1, Q0));
        assert!(!tree.subscribe("a/b/c", 1, q2));
        assert!(tree.subscribe("a/b/c", 2, SubOpts::new(QoS::AtLeastOnce)));
        assert_eq!(tree.len(), 2);
        let mut out = Vec::new();
        tree.matches("a/b/c", &mut out);
        assert!(out.contains(&Subscriber {
            session: 1,
            opts: q2
        }));
        assert!(tree.unsubscribe("a/b/c", 1));
        assert!(!tree.unsubscribe("a/b/c", 1));
        assert!(!tree.unsubscribe("a/x", 2));
        assert!(tree.unsubscribe("a/b/c", 2));
        assert!(tree.is_empty());
        assert!(tree.root.children.is_empty(), "branches pruned");
    }

    #[test]
    fn shared_groups_take_turns() {
        let mut tree = SubTree::default();
        for s in 1..=3 {
            assert!(tree.subscribe("$share/g/a/+", s, Q0));
        }
        assert!(tree.subscribe("$share/h/a/#", 9, Q0));
        assert!(tree.subscribe("a/b", 5, Q0));
        assert!(!tree.subscribe("$share/g/a/+", 2, Q0), "already a member");
        let mut got = Vec::new();
        for _ in 0..6 {
            got.push(hits(&tree, "a/b"));
        }
        // Each turn: one of g, the only member of h, the plain subscriber.
        let members: Vec<usize> = got.iter().map(|h| h[0]).collect();
        assert_eq!(members, [1, 2, 3, 1, 2, 3]);
        assert!(got.iter().all(|h| h[1..] == [5, 9]));
        assert!(hits(&tree, "$SYS/x").is_empty());
        assert!(tree.unsubscribe("$share/g/a/+", 2));
        assert!(!tree.unsubscribe("$share/x/a/+", 1), "another group");
        assert!(!tree.unsubscribe("a/+", 1), "not shared");
        assert_eq!(tree.len(), 4);
        let mut dump = Vec::new();
        tree.dump(&mut dump);
        let mut names: Vec<String> = dump.into_iter().map(|(f, _)| f).collect();
        names.sort();
        names.dedup();
        assert_eq!(names, ["$share/g/a/+", "$share/h/a/#", "a/b"]);
        for (f, s) in [
            ("$share/g/a/+", 1),
            ("$share/g/a/+", 3),
            ("$share/h/a/#", 9),
        ] {
            assert!(tree.unsubscribe(f, s));
        }
        assert!(tree.unsubscribe("a/b", 5));
        assert!(tree.root.children.is_empty(), "groups pruned");
    }

    #[test]
    fn shared_filter_syntax() {
        assert_eq!(split_shared("a/b"), None);
        assert_eq!(split_shared("$share/g/a/#"), Some(Ok(("g", "a/#"))));
        for bad in [
            "$share/g",
            "$share//a",
            "$share/g/",
            "$share/+/a",
            "$share/g#/a",
        ] {
            assert_eq!(split_shared(bad), Some(Err(())), "{bad}");
        }
    }

    #[test]
    fn dump_names_wildcard_filters() {
        let mut tree = SubTree::default();
        for (i, f) in ["#", "a/#", "+/b", "a/+/c", "x"].iter().enumerate() {
            tree.subscribe(f, i, SubOpts::new(QoS::AtLeastOnce));
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
