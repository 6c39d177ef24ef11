//! Typed keys: a connection, a session, a bridge and a listener are each
//! named by their own type, so one cannot be passed for another, and
//! "none" is `Option`, not a sentinel value. Each wraps its table index
//! plus one in a `NonZeroU32`, so `Option<Id>` takes four bytes, as the
//! bare `u32` fields they replace did.

use std::marker::PhantomData;
use std::num::NonZeroU32;

use slab::Slab;

/// An index into a table, typed by what it names.
pub trait Id: Copy {
    /// The id of table index `index`; None past u32 range.
    fn from_index(index: usize) -> Option<Self>;
    fn index(self) -> usize;
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(NonZeroU32);

        impl $name {
            /// The id of table index `index`; None past u32 range.
            pub fn from_index(index: usize) -> Option<$name> {
                let n = u32::try_from(index).ok()?.checked_add(1)?;
                NonZeroU32::new(n).map($name)
            }

            pub fn index(self) -> usize {
                (self.0.get() - 1) as usize
            }
        }

        impl Id for $name {
            fn from_index(index: usize) -> Option<$name> {
                $name::from_index(index)
            }

            fn index(self) -> usize {
                $name::index(self)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({})", stringify!($name), self.index())
            }
        }
    };
}

typed_id!(
    /// A connection: the core's per-connection state, and the shell's
    /// stream under the same id.
    ConnId
);
typed_id!(
    /// A session (outlives its connections when persistent).
    SessionId
);
typed_id!(
    /// One of the configured bridges (`connection` blocks), in order.
    BridgeId
);
typed_id!(
    /// A listener spec: an index into `Settings::listeners`.
    ListenerId
);

/// A slab whose keys are typed ids.
pub struct Table<K, V> {
    slab: Slab<V>,
    _key: PhantomData<K>,
}

impl<K, V> Default for Table<K, V> {
    fn default() -> Self {
        Table {
            slab: Slab::new(),
            _key: PhantomData,
        }
    }
}

impl<K: Id, V> Table<K, V> {
    /// Stores `v`; None (and `v` dropped) if ids have run out.
    pub fn insert(&mut self, v: V) -> Option<K> {
        let id = K::from_index(self.slab.vacant_key())?;
        self.slab.insert(v);
        Some(id)
    }

    /// The id the next `insert` will return.
    pub fn vacant_id(&self) -> Option<K> {
        K::from_index(self.slab.vacant_key())
    }

    pub fn get(&self, id: K) -> Option<&V> {
        self.slab.get(id.index())
    }

    pub fn get_mut(&mut self, id: K) -> Option<&mut V> {
        self.slab.get_mut(id.index())
    }

    pub fn try_remove(&mut self, id: K) -> Option<V> {
        self.slab.try_remove(id.index())
    }

    pub fn len(&self) -> usize {
        self.slab.len()
    }

    /// Every entry with its id (all ids were valid when inserted).
    pub fn iter(&self) -> impl Iterator<Item = (K, &V)> + Clone {
        self.slab
            .iter()
            .filter_map(|(k, v)| K::from_index(k).map(|id| (id, v)))
    }

    /// Every value, to change in place.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.slab.iter_mut().map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_none_is_free() {
        let c = ConnId::from_index(0).unwrap();
        assert_eq!(c.index(), 0);
        assert_eq!(SessionId::from_index(41).unwrap().index(), 41);
        assert!(ConnId::from_index(u32::MAX as usize).is_none());
        assert_eq!(std::mem::size_of::<Option<SessionId>>(), 4);
    }

    #[test]
    fn table_keys_are_typed() {
        let mut t: Table<ConnId, &str> = Table::default();
        let a = t.insert("a").unwrap();
        let b = t.insert("b").unwrap();
        assert_eq!(t.vacant_id().map(Id::index), Some(2));
        assert_eq!(t.try_remove(a), Some("a"));
        assert_eq!(t.get(b), Some(&"b"));
        assert_eq!(t.insert("c"), Some(a), "keys are reused");
        assert_eq!(t.iter().count(), 2);
    }
}
