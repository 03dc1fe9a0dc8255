//! Protocol ids: `{prefix}_{16 lowercase hex}00{32 alphanumerics}`.
//!
//! The first 18 characters of the body are a partition key. A response continues the partition of
//! its `previous_response_id` or conversation, and its items continue the response's, so a whole
//! chain co-locates in a partitioned store. Legacy 48-character bodies carry the 16-character key
//! at the end.

use rand::Rng;
use rand::distr::Alphanumeric;

/// Prefix of response ids.
pub const RESPONSE: &str = "caresp";
/// Prefix of conversation ids.
pub const CONVERSATION: &str = "conv";
/// Prefix of assistant and input message items.
pub const MESSAGE: &str = "msg";
/// Prefix of `function_call` items.
pub const FUNCTION_CALL: &str = "fc";
/// Prefix of `function_call_output` items.
pub const FUNCTION_CALL_OUTPUT: &str = "fco";
/// Prefix of `reasoning` items.
pub const REASONING: &str = "rs";
/// Prefix of `mcp_list_tools` items.
pub const MCP_LIST_TOOLS: &str = "mcpl";
/// Prefix of `mcp_call` items.
pub const MCP_CALL: &str = "mcp";
/// Prefix of `mcp_approval_request` items.
pub const MCP_APPROVAL_REQUEST: &str = "mcpr";
/// Prefix of `mcp_approval_response` items.
pub const MCP_APPROVAL_RESPONSE: &str = "mcpa";
/// Prefix of `oauth_consent_request` items.
pub const OAUTH_CONSENT_REQUEST: &str = "oacr";
/// Prefix for items of a type without a dedicated prefix.
pub const GENERIC_ITEM: &str = "item";

const BODY_LEN: usize = 50;
const LEGACY_BODY_LEN: usize = 48;
const PARTITION_LEN: usize = 18;

/// A new id with `prefix`, in the partition of `hint` when `hint` is an id, else a new partition.
pub fn new_id(prefix: &str, hint: Option<&str>) -> String {
    let mut rng = rand::rng();
    let mut id = String::with_capacity(prefix.len() + 1 + BODY_LEN);
    id.push_str(prefix);
    id.push('_');
    if !hint.is_some_and(|h| push_partition(&mut id, h)) {
        push_hex(&mut id, &rng.random::<u64>().to_be_bytes());
        id.push_str("00");
    }
    id.extend((&mut rng).sample_iter(Alphanumeric).take(32).map(char::from));
    id
}

/// Appends the partition key of `id` (see [`partition_of`]); false when `id` has none.
fn push_partition(out: &mut String, id: &str) -> bool {
    let Some((_, body)) = split(id) else { return false };
    match body.len() {
        BODY_LEN => out.push_str(&body[..PARTITION_LEN]),
        LEGACY_BODY_LEN => {
            out.push_str(&body[LEGACY_BODY_LEN - 16..]);
            out.push_str("00");
        }
        _ => return false,
    }
    true
}

/// Appends `bytes` as lowercase hex.
fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
}

/// An id with `prefix` in the partition of `hint` whose entropy part is derived from `key`, so
/// the same key gives the same id within one partition (a conversation or response chain).
pub fn stable_id(prefix: &str, hint: &str, key: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut hasher = Sha256::new();
    for part in key {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    let digest = hasher.finalize();
    let mut id = String::with_capacity(prefix.len() + 1 + BODY_LEN);
    id.push_str(prefix);
    id.push('_');
    if !push_partition(&mut id, hint) {
        id.push_str("000000000000000000");
    }
    id.extend(digest.iter().map(|b| ALNUM[usize::from(*b) % ALNUM.len()] as char));
    id
}

/// The 18-character partition key of an id, or `None` when `id` is not a well-formed id.
pub fn partition_of(id: &str) -> Option<String> {
    let mut partition = String::with_capacity(PARTITION_LEN);
    push_partition(&mut partition, id).then_some(partition)
}

/// Whether `id` is a well-formed id, optionally with exactly `prefix`.
pub fn is_valid(id: &str, prefix: Option<&str>) -> bool {
    match split(id) {
        Some((p, body)) => {
            prefix.is_none_or(|want| want == p)
                && (body.len() == BODY_LEN || body.len() == LEGACY_BODY_LEN)
                && body.bytes().all(|b| b.is_ascii_alphanumeric())
        }
        None => false,
    }
}

fn split(id: &str) -> Option<(&str, &str)> {
    let (prefix, body) = id.split_once('_')?;
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    Some((prefix, body))
}

/// 63 lowercase hex characters: a session id derived from agent and partition (§2.5 of the
/// protocol reference), or random when there is no partition.
pub fn session_id(agent_name: &str, agent_version: &str, partition: Option<&str>) -> String {
    use sha2::{Digest, Sha256};
    let bytes: [u8; 32] = match partition {
        Some(p) => Sha256::new()
            .chain_update(agent_name)
            .chain_update(":")
            .chain_update(agent_version)
            .chain_update(":")
            .chain_update(p)
            .finalize()
            .into(),
        None => rand::random(),
    };
    let mut hex = String::with_capacity(64);
    push_hex(&mut hex, &bytes);
    hex.truncate(63);
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_have_the_protocol_shape() {
        let id = new_id(RESPONSE, None);
        assert!(id.starts_with("caresp_"));
        assert_eq!(id.len(), "caresp_".len() + 50);
        let body = &id[7..];
        assert!(body[..16].bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(&body[16..18], "00");
        assert!(is_valid(&id, Some(RESPONSE)));
        assert!(!is_valid(&id, Some(MESSAGE)));
    }

    #[test]
    fn children_inherit_the_partition() {
        let parent = new_id(RESPONSE, None);
        let child = new_id(MESSAGE, Some(&parent));
        assert_eq!(partition_of(&parent), partition_of(&child));
        assert_eq!(&child[4..22], &parent[7..25]);
    }

    #[test]
    fn legacy_ids_are_valid_and_partitioned() {
        let legacy = format!("caresp_{}{}", "A".repeat(32), "0123456789abcdef");
        assert!(is_valid(&legacy, Some(RESPONSE)));
        assert_eq!(partition_of(&legacy).as_deref(), Some("0123456789abcdef00"));
    }

    #[test]
    fn malformed_ids_are_rejected() {
        for bad in ["", "caresp", "caresp_", "_abc", "caresp_short", "caresp_!!", "ca-resp_x"] {
            assert!(!is_valid(bad, None), "{bad}");
        }
        let wrong_chars = format!("caresp_{}", "-".repeat(50));
        assert!(!is_valid(&wrong_chars, None));
    }

    #[test]
    fn stable_ids_are_well_formed_and_keyed() {
        let rid = new_id(RESPONSE, None);
        let a = stable_id(OAUTH_CONSENT_REQUEST, &rid, &["alice", "send_email"]);
        assert!(is_valid(&a, Some(OAUTH_CONSENT_REQUEST)), "{a}");
        assert_eq!(partition_of(&a), partition_of(&rid));
        assert_eq!(a, stable_id(OAUTH_CONSENT_REQUEST, &new_id(RESPONSE, Some(&rid)), &["alice", "send_email"]));
        assert_ne!(a, stable_id(OAUTH_CONSENT_REQUEST, &rid, &["bob", "send_email"]));
        assert_ne!(a, stable_id(OAUTH_CONSENT_REQUEST, &rid, &["alicesend", "_email"]));
    }

    #[test]
    fn session_ids_are_63_hex_and_derived_deterministically() {
        let a = session_id("agent", "1", Some("0123456789abcdef00"));
        assert_eq!(a.len(), 63);
        assert_eq!(a, session_id("agent", "1", Some("0123456789abcdef00")));
        assert_ne!(a, session_id("agent", "2", Some("0123456789abcdef00")));
        assert_eq!(session_id("a", "1", None).len(), 63);
    }
}

#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;

    fn prefix() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            RESPONSE,
            CONVERSATION,
            MESSAGE,
            FUNCTION_CALL,
            MCP_CALL,
            MCP_LIST_TOOLS,
            OAUTH_CONSENT_REQUEST,
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// The codec round-trips: a new id is valid, keeps its prefix, and continues its hint's
        /// partition (a new one when the hint is not an id).
        #[test]
        fn ids_round_trip_their_partition(p in prefix(), q in prefix(), junk in any::<String>(), use_junk in any::<bool>()) {
            let root = new_id(p, None);
            prop_assert!(is_valid(&root, Some(p)));
            let partition = partition_of(&root);
            prop_assert_eq!(partition.as_deref().map(str::len), Some(18));
            let hint = if use_junk { junk.clone() } else { root.clone() };
            let child = new_id(q, Some(&hint));
            prop_assert!(is_valid(&child, Some(q)));
            if !use_junk {
                prop_assert_eq!(partition_of(&child), partition.clone());
            }
            let stable = stable_id(q, &root, &[&junk]);
            prop_assert!(is_valid(&stable, Some(q)));
            prop_assert_eq!(&stable, &stable_id(q, &root, &[&junk]));
            prop_assert_eq!(partition_of(&stable), partition);
        }

        /// Parsing anything never panics, and what parses as an id has a partition.
        #[test]
        fn arbitrary_text_never_panics(text in any::<String>()) {
            if is_valid(&text, None) {
                prop_assert!(partition_of(&text).is_some());
            }
            let _ = session_id("agent", "1", partition_of(&text).as_deref());
        }
    }
}
