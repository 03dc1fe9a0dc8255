//! How the mock names users: the container identity and users from call ids.

/// How the container identity (a request without `x-agent-foundry-call-id`, user `""`) is named
/// in JSON output, consent links and control-route bodies.
pub const CONTAINER_USER: &str = "container";

/// The JSON name of a user: `""` becomes [`CONTAINER_USER`].
pub(crate) fn user_label(user: &str) -> &str {
    if user.is_empty() { CONTAINER_USER } else { user }
}

/// The user behind a JSON name: [`CONTAINER_USER`] (or `""`) becomes `""`.
pub(crate) fn user_from_label(label: &str) -> String {
    if label == CONTAINER_USER { String::new() } else { label.to_owned() }
}

/// The user of a request: the part of `x-agent-foundry-call-id` before its first `:`, or `""`
/// (the container) when the header is absent or blank.
pub(crate) fn user_from_call_id(call_id: Option<&str>) -> String {
    call_id.and_then(|v| v.split(':').next()).map(str::trim).unwrap_or_default().to_owned()
}
