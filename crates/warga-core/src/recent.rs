//! [`Recent`]: what was learnt a moment ago, kept for a while — a checked token, an identity
//! read from the database, an opened key — so a hot path does not learn it again on every
//! request. An entry counts only within `fresh_for` of being put in; the map holds at most
//! `max` entries (stale ones go first, then the oldest).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

pub struct Recent<K, V> {
    entries: Mutex<HashMap<K, (V, Instant)>>,
    fresh_for: Duration,
    max: usize,
}

impl<K: Eq + Hash + Clone, V: Clone> Recent<K, V> {
    pub fn new(fresh_for: Duration, max: usize) -> Self {
        Recent {
            entries: Mutex::new(HashMap::new()),
            fresh_for,
            max: max.max(1),
        }
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<K, (V, Instant)>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value put in for `key`, when that was within `fresh_for`.
    pub fn get(&self, key: &K) -> Option<V> {
        self.entries()
            .get(key)
            .filter(|(_, at)| at.elapsed() < self.fresh_for)
            .map(|(value, _)| value.clone())
    }

    /// Keeps `value` for `key` from now on.
    pub fn insert(&self, key: K, value: V) {
        let mut entries = self.entries();
        if entries.len() >= self.max && !entries.contains_key(&key) {
            entries.retain(|_, (_, at)| at.elapsed() < self.fresh_for);
            if entries.len() >= self.max
                && let Some(oldest) = entries.iter().min_by_key(|(_, (_, at))| *at).map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(key, (value, Instant::now()));
    }

    /// Forgets every entry whose key `forget` picks.
    pub fn forget(&self, forget: impl Fn(&K) -> bool) {
        self.entries().retain(|key, _| !forget(key));
    }

    /// How many entries are held, fresh or not.
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_count_while_fresh_and_the_map_stays_bounded() {
        let recent = Recent::new(Duration::from_secs(60), 2);
        recent.insert("a", 1);
        recent.insert("b", 2);
        assert_eq!(recent.get(&"a"), Some(1));
        recent.insert("c", 3);
        assert_eq!(recent.len(), 2, "the oldest went");
        assert_eq!(recent.get(&"a"), None);
        assert_eq!(recent.get(&"c"), Some(3));
        recent.forget(|k| *k == "c");
        assert_eq!(recent.get(&"c"), None);

        let stale = Recent::new(Duration::ZERO, 8);
        stale.insert("a", 1);
        assert_eq!(stale.get(&"a"), None, "nothing is fresh for no time");
    }
}
