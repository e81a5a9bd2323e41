//! Kademlia's record store, bounded against strangers.
//!
//! PoR uses the DHT for provider records only (who serves which file). A
//! node in server mode stores whatever provider records peers send it, and
//! libp2p's [`MemoryStore`] bounds only the totals: one stranger announcing
//! a thousand keys would fill it, and the node's own announcements would
//! then fail (the total of keys counts its own too). [`ProviderStore`]
//! keeps
//! - this node's own provider records apart, so strangers never crowd them
//!   out (bounded by [`StoreLimits::max_own_keys`]);
//! - at most [`StoreLimits::max_keys_per_peer`] keys per remote provider,
//!   expired records dropped first when a provider reaches its cap;
//! - no value records from others (PoR publishes none; a `PUT_VALUE` from a
//!   peer is refused).
//!
//! What it leaves out: many identities (peer ids are cheap) can still fill
//! the remote part up to its total; that degrades lookups through this
//! node, not this node's own records, and the connection limits bound how
//! fast it can happen.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::time::Instant;

use libp2p::PeerId;
use libp2p::kad::store::{Error, MemoryStore, MemoryStoreConfig, RecordStore, Result};
use libp2p::kad::{ProviderRecord, Record, RecordKey};

/// Bounds of the [`ProviderStore`]. Every field's doc ends with its default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreLimits {
    /// Keys one remote peer may be stored as the provider of. Default 64.
    pub max_keys_per_peer: usize,
    /// Keys with remote providers, in all. Default 4,096.
    pub max_remote_keys: usize,
    /// Providers kept per key. Default 20 (Kademlia's replication factor).
    pub max_providers_per_key: usize,
    /// Keys this node itself provides. Default 65,536.
    pub max_own_keys: usize,
}

impl Default for StoreLimits {
    fn default() -> Self {
        StoreLimits { max_keys_per_peer: 64, max_remote_keys: 4096, max_providers_per_key: 20, max_own_keys: 65_536 }
    }
}

/// A [`RecordStore`] that bounds what each remote peer can make it hold (see
/// the module docs).
pub struct ProviderStore {
    local: PeerId,
    own: MemoryStore,
    remote: MemoryStore,
    max_keys_per_peer: usize,
    /// The keys each remote provider is stored for.
    by_provider: HashMap<PeerId, HashSet<RecordKey>>,
}

impl ProviderStore {
    /// An empty store for the node `local`.
    pub fn new(local: PeerId, limits: &StoreLimits) -> Self {
        let cfg = |keys: usize| MemoryStoreConfig {
            max_records: 0,
            max_value_bytes: 0,
            max_providers_per_key: limits.max_providers_per_key,
            max_provided_keys: keys,
        };
        ProviderStore {
            local,
            own: MemoryStore::with_config(local, cfg(limits.max_own_keys)),
            remote: MemoryStore::with_config(local, cfg(limits.max_remote_keys)),
            max_keys_per_peer: limits.max_keys_per_peer.max(1),
            by_provider: HashMap::new(),
        }
    }

    /// Keys stored for remote provider `peer`.
    pub fn keys_of(&self, peer: &PeerId) -> usize {
        self.by_provider.get(peer).map_or(0, HashSet::len)
    }

    fn holds(&self, key: &RecordKey, peer: &PeerId) -> bool {
        self.remote.providers(key).iter().any(|p| p.provider == *peer)
    }

    /// Forgets `peer`'s records that expired or that the inner store no
    /// longer holds.
    fn prune(&mut self, peer: &PeerId) {
        let Some(keys) = self.by_provider.remove(peer) else { return };
        let now = Instant::now();
        let mut kept = HashSet::with_capacity(keys.len());
        for k in keys {
            let live = self.remote.providers(&k).iter().any(|p| p.provider == *peer && !p.is_expired(now));
            if live {
                kept.insert(k);
            } else {
                self.remote.remove_provider(&k, peer);
            }
        }
        if !kept.is_empty() {
            self.by_provider.insert(*peer, kept);
        }
    }
}

impl RecordStore for ProviderStore {
    type RecordsIter<'a> = std::iter::Empty<Cow<'a, Record>>;
    type ProvidedIter<'a> = <MemoryStore as RecordStore>::ProvidedIter<'a>;

    fn get(&self, _: &RecordKey) -> Option<Cow<'_, Record>> {
        None
    }

    fn put(&mut self, _: Record) -> Result<()> {
        // PoR stores no value records.
        Err(Error::MaxRecords)
    }

    fn remove(&mut self, _: &RecordKey) {}

    fn records(&self) -> Self::RecordsIter<'_> {
        std::iter::empty()
    }

    fn add_provider(&mut self, record: ProviderRecord) -> Result<()> {
        if record.provider == self.local {
            return self.own.add_provider(record);
        }
        let (peer, key) = (record.provider, record.key.clone());
        let known = self.by_provider.get(&peer).is_some_and(|k| k.contains(&key));
        if !known && self.keys_of(&peer) >= self.max_keys_per_peer {
            self.prune(&peer);
            if self.keys_of(&peer) >= self.max_keys_per_peer {
                return Err(Error::MaxProvidedKeys);
            }
        }
        self.remote.add_provider(record)?;
        // The inner store ignores a provider when the key's list is full.
        if !known && self.holds(&key, &peer) {
            self.by_provider.entry(peer).or_default().insert(key);
        }
        Ok(())
    }

    fn providers(&self, key: &RecordKey) -> Vec<ProviderRecord> {
        let mut all = self.own.providers(key);
        all.extend(self.remote.providers(key));
        all
    }

    fn provided(&self) -> Self::ProvidedIter<'_> {
        self.own.provided()
    }

    fn remove_provider(&mut self, key: &RecordKey, provider: &PeerId) {
        if *provider == self.local {
            return self.own.remove_provider(key, provider);
        }
        self.remote.remove_provider(key, provider);
        if let Some(keys) = self.by_provider.get_mut(provider) {
            keys.remove(key);
            if keys.is_empty() {
                self.by_provider.remove(provider);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u32) -> RecordKey {
        RecordKey::new(&i.to_be_bytes())
    }

    fn limits() -> StoreLimits {
        StoreLimits { max_keys_per_peer: 3, max_remote_keys: 5, max_providers_per_key: 2, max_own_keys: 10 }
    }

    #[test]
    fn one_stranger_stores_at_most_its_share() {
        let me = PeerId::random();
        let (eve, bob) = (PeerId::random(), PeerId::random());
        let mut s = ProviderStore::new(me, &limits());
        for i in 0..3 {
            s.add_provider(ProviderRecord::new(key(i), eve, vec![])).unwrap();
        }
        assert!(matches!(s.add_provider(ProviderRecord::new(key(3), eve, vec![])), Err(Error::MaxProvidedKeys)));
        // Re-announcing a key it holds is fine; so is another peer.
        s.add_provider(ProviderRecord::new(key(0), eve, vec![])).unwrap();
        s.add_provider(ProviderRecord::new(key(3), bob, vec![])).unwrap();
        assert_eq!((s.keys_of(&eve), s.keys_of(&bob)), (3, 1));
        // Removing one frees a place.
        s.remove_provider(&key(1), &eve);
        s.add_provider(ProviderRecord::new(key(4), eve, vec![])).unwrap();
        assert_eq!(s.keys_of(&eve), 3);
    }

    #[test]
    fn expired_records_make_room() {
        let me = PeerId::random();
        let eve = PeerId::random();
        let mut s = ProviderStore::new(me, &limits());
        for i in 0..3 {
            let mut r = ProviderRecord::new(key(i), eve, vec![]);
            r.expires = Some(Instant::now());
            s.add_provider(r).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
        s.add_provider(ProviderRecord::new(key(9), eve, vec![])).unwrap();
        assert_eq!(s.keys_of(&eve), 1, "the expired ones were dropped");
        assert!(s.providers(&key(0)).is_empty());
    }

    #[test]
    fn strangers_never_crowd_out_our_own_records() {
        let me = PeerId::random();
        let mut s = ProviderStore::new(me, &limits());
        // Many identities fill the remote part…
        for i in 0..20 {
            let _ = s.add_provider(ProviderRecord::new(key(i), PeerId::random(), vec![]));
        }
        // …and our own announcements still go in, and are listed.
        for i in 0..10 {
            s.add_provider(ProviderRecord::new(key(i), me, vec![])).unwrap();
        }
        assert_eq!(s.provided().count(), 10);
        assert!(s.providers(&key(0)).iter().any(|p| p.provider == me));
    }

    #[test]
    fn value_records_from_anyone_are_refused() {
        let mut s = ProviderStore::new(PeerId::random(), &limits());
        assert!(s.put(Record::new(key(1), vec![1, 2, 3])).is_err());
        assert!(s.get(&key(1)).is_none());
    }
}
