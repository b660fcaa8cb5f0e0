//! Which replica of a location owns a slot, pure: rendezvous (highest random weight) hashing
//! over (environment, slot) and each replica's id. Every replica that knows the same replicas
//! names the same owner without asking anyone, so when the database cannot answer a claim in
//! time the owner probes and the others do not; a replica joining or leaving moves only the
//! slots it wins or held, not everyone's.

/// The replica among `replicas` that owns `slot_ms` of `env`; `None` when there are none.
pub fn owner<'a>(env: &str, slot_ms: i64, replicas: &'a [String]) -> Option<&'a str> {
    rendezvous(&format!("{env}\n{slot_ms}"), replicas)
}

/// The replica among `replicas` with the highest random weight for `key`; `None` when there
/// are none. Slots are one kind of key; an environment paged while the store is away is another.
pub fn rendezvous<'a>(key: &str, replicas: &'a [String]) -> Option<&'a str> {
    replicas
        .iter()
        .max_by_key(|id| (weight(key, id), id.as_str()))
        .map(String::as_str)
}

fn weight(key: &str, replica: &str) -> u64 {
    mix(crate::schedule::slot::fnv1a(
        format!("{key}\n{replica}").as_bytes(),
    ))
}

/// SplitMix64's finaliser: FNV-1a alone barely stirs the high bits for ids that differ in
/// their last byte (`a1`, `a2`), and the comparison of weights is decided there.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn ids(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn every_replica_names_the_same_owner_whatever_the_order() {
        let one = ids(&["a1", "a2", "a3"]);
        let other = ids(&["a3", "a1", "a2"]);
        for slot in 0..200 {
            assert_eq!(
                owner("api", slot * 2000, &one),
                owner("api", slot * 2000, &other)
            );
        }
        assert_eq!(owner("api", 0, &[]), None);
        assert_eq!(owner("api", 0, &ids(&["a1"])), Some("a1"));
    }

    #[test]
    fn slots_spread_over_the_replicas() {
        let replicas = ids(&["host:8080", "host:8081", "host:8082"]);
        let mut share: BTreeMap<&str, u32> = BTreeMap::new();
        for env in ["api", "chat", "feed"] {
            for slot in 0..1000 {
                *share
                    .entry(owner(env, slot * 10_000, &replicas).unwrap())
                    .or_default() += 1;
            }
        }
        for (replica, slots) in &share {
            assert!((800..1200).contains(slots), "{replica}: {slots} of 3000");
        }
    }

    #[test]
    fn a_replica_leaving_moves_only_its_own_slots() {
        let three = ids(&["a1", "a2", "a3"]);
        let two = ids(&["a1", "a3"]);
        for slot in 0..500 {
            let before = owner("api", slot * 1000, &three).unwrap();
            let after = owner("api", slot * 1000, &two).unwrap();
            if before != "a2" {
                assert_eq!(before, after, "slot {slot} moved");
            }
        }
    }
}
