//! Wire types of the Responses protocol as Foundry hosted agents speak it: the create request and
//! its validation, the `Response` object, output and input items, stream events, ids, and the
//! [`ResponseWriter`] that turns agent progress into a well-ordered event sequence.
//!
//! This crate does no I/O. Every other crate converts to and from these types; none defines its
//! own wire JSON.

mod agent_reference;
pub mod conversation;
pub mod event;
pub mod id;
pub mod item;
pub mod request;
pub mod response;
pub mod writer;

pub use conversation::{Conversation, CreateConversation};
pub use event::StreamEvent;
pub use item::{ContentPart, Item, Role};
pub use request::{CreateRequest, RequestError, ValidationDetail};
pub use response::{
    AgentReference, ConversationRef, Created, IncompleteDetails, Response, ResponseError, ResponseStatus, Usage,
};
pub use writer::{EventSink, ItemHandle, ResponseWriter};

/// Seconds since the Unix epoch, as the protocol's `created_at` / `completed_at` use.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
