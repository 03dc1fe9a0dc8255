//! Property test of the user partition (issue 15): whatever sequence of writes, reads and
//! deletes several users make, no lookup ever returns another user's record, history or item.

use agenthost_platform::UserKey;
use agenthost_responses::{Item, Response, id};
use agenthost_store::{HistorySource, Lookup, MemoryStore, MemoryStoreConfig, Record, ResponseStore};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// `user` stores a response, continuing the `n`-th one made so far (if any).
    Put { user: usize, after: Option<usize> },
    /// `user` reads the `n`-th response made so far, its history and its input item.
    Read { user: usize, n: usize },
    /// `user` deletes the `n`-th response.
    Delete { user: usize, n: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..4usize, prop::option::of(0..32usize)).prop_map(|(user, after)| Op::Put { user, after }),
        (0..4usize, 0..32usize).prop_map(|(user, n)| Op::Read { user, n }),
        (0..4usize, 0..32usize).prop_map(|(user, n)| Op::Delete { user, n }),
    ]
}

fn user(n: usize) -> UserKey {
    if n == 0 { UserKey::anonymous() } else { UserKey::new(&format!("user-{n}")) }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn no_lookup_returns_another_users_state(ops in prop::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let store = MemoryStore::new(MemoryStoreConfig::default());
            // (id, owner, input item id, deleted)
            let mut made: Vec<(String, usize, String, bool)> = Vec::new();
            for op in ops {
                match op {
                    Op::Put { user: u, after } => {
                        let previous = after.and_then(|n| made.get(n % made.len().max(1))).map(|m| m.0.clone());
                        let rid = id::new_id(id::RESPONSE, previous.as_deref());
                        let mut response = Response::new(rid.clone(), "m".into(), 0);
                        // Only the owner's own chain is linked; another's id is just a string.
                        response.previous_response_id = previous.filter(|p| made.iter().any(|m| &m.0 == p && m.1 == u && !m.3));
                        let mut input = Item::user_text(format!("secret of user {u}"));
                        input.ensure_id(&rid);
                        let item_id = input.id().unwrap_or_default().to_string();
                        store.put(&user(u).into(), Record { user: user(u), response, input: vec![input] }).await.unwrap();
                        made.push((rid, u, item_id, false));
                    }
                    Op::Read { user: u, n } => {
                        let Some((rid, owner, item_id, deleted)) = made.get(n % made.len().max(1)).cloned() else { continue };
                        let got = store.get(&user(u).into(), &rid).await.unwrap();
                        let history = store.history(&user(u).into(), HistorySource::Previous(&rid)).await.unwrap();
                        let items = store.items(&user(u).into(), std::slice::from_ref(&item_id)).await.unwrap();
                        if u == owner && !deleted {
                            prop_assert!(matches!(got, Lookup::Found(_)));
                            prop_assert!(items[0].is_some());
                            if let Lookup::Found(items) = history {
                                let mine = format!("secret of user {u}");
                                for item in items {
                                    if let Item::Message(m) = item {
                                        prop_assert_eq!(m.text(), mine.clone());
                                    }
                                }
                            }
                        } else if u != owner {
                            prop_assert!(matches!(got, Lookup::Missing), "user {} read user {}'s response", u, owner);
                            prop_assert!(matches!(history, Lookup::Missing));
                            prop_assert!(items[0].is_none(), "user {} read user {}'s item", u, owner);
                        }
                    }
                    Op::Delete { user: u, n } => {
                        let len = made.len().max(1);
                        let Some(entry) = made.get_mut(n % len) else { continue };
                        let result = store.delete(&user(u).into(), &entry.0).await.unwrap();
                        if u == entry.1 && !entry.3 {
                            prop_assert!(matches!(result, Lookup::Found(())));
                            entry.3 = true;
                        } else if u != entry.1 {
                            prop_assert!(matches!(result, Lookup::Missing), "user {} deleted user {}'s response", u, entry.1);
                        }
                    }
                }
            }
            Ok(())
        })?;
    }
}
