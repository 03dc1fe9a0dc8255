//! Server-sent stream events (§5.5 of the protocol reference).
//!
//! Every event carries a `sequence_number`, 0-based and gap-free within a response. The `response.*`
//! lifecycle events embed a point-in-time snapshot of the whole response.

use serde::{Deserialize, Serialize};

use crate::item::{ContentPart, Item};
use crate::response::Response;

/// One event of a response stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamEvent {
    /// Position of the event in its response's stream.
    pub sequence_number: u64,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// The payload of a stream event, tagged by its `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[allow(missing_docs)]
pub enum EventKind {
    #[serde(rename = "response.created")]
    Created { response: Response },
    #[serde(rename = "response.queued")]
    Queued { response: Response },
    #[serde(rename = "response.in_progress")]
    InProgress { response: Response },
    #[serde(rename = "response.completed")]
    Completed { response: Response },
    #[serde(rename = "response.failed")]
    Failed { response: Response },
    #[serde(rename = "response.incomplete")]
    Incomplete { response: Response },
    #[serde(rename = "response.output_item.added")]
    OutputItemAdded { output_index: usize, item: Item },
    #[serde(rename = "response.output_item.done")]
    OutputItemDone { output_index: usize, item: Item },
    #[serde(rename = "response.content_part.added")]
    ContentPartAdded { item_id: String, output_index: usize, content_index: usize, part: ContentPart },
    #[serde(rename = "response.content_part.done")]
    ContentPartDone { item_id: String, output_index: usize, content_index: usize, part: ContentPart },
    #[serde(rename = "response.output_text.delta")]
    OutputTextDelta {
        item_id: String,
        output_index: usize,
        content_index: usize,
        delta: String,
        logprobs: Vec<serde_json::Value>,
    },
    #[serde(rename = "response.output_text.done")]
    OutputTextDone {
        item_id: String,
        output_index: usize,
        content_index: usize,
        text: String,
        logprobs: Vec<serde_json::Value>,
    },
    #[serde(rename = "response.refusal.delta")]
    RefusalDelta { item_id: String, output_index: usize, content_index: usize, delta: String },
    #[serde(rename = "response.refusal.done")]
    RefusalDone { item_id: String, output_index: usize, content_index: usize, refusal: String },
    #[serde(rename = "response.function_call_arguments.delta")]
    FunctionCallArgumentsDelta { item_id: String, output_index: usize, delta: String },
    #[serde(rename = "response.function_call_arguments.done")]
    FunctionCallArgumentsDone { item_id: String, output_index: usize, name: String, arguments: String },
    #[serde(rename = "response.reasoning_summary_part.added")]
    ReasoningSummaryPartAdded { item_id: String, output_index: usize, summary_index: usize, part: ContentPart },
    #[serde(rename = "response.reasoning_summary_text.delta")]
    ReasoningSummaryTextDelta { item_id: String, output_index: usize, summary_index: usize, delta: String },
    #[serde(rename = "response.reasoning_summary_text.done")]
    ReasoningSummaryTextDone { item_id: String, output_index: usize, summary_index: usize, text: String },
    #[serde(rename = "response.reasoning_summary_part.done")]
    ReasoningSummaryPartDone { item_id: String, output_index: usize, summary_index: usize, part: ContentPart },
    #[serde(rename = "response.mcp_list_tools.in_progress")]
    McpListToolsInProgress { item_id: String, output_index: usize },
    #[serde(rename = "response.mcp_list_tools.completed")]
    McpListToolsCompleted { item_id: String, output_index: usize },
    #[serde(rename = "response.mcp_list_tools.failed")]
    McpListToolsFailed { item_id: String, output_index: usize },
    #[serde(rename = "response.mcp_call.in_progress")]
    McpCallInProgress { item_id: String, output_index: usize },
    #[serde(rename = "response.mcp_call_arguments.delta")]
    McpCallArgumentsDelta { item_id: String, output_index: usize, delta: String },
    #[serde(rename = "response.mcp_call_arguments.done")]
    McpCallArgumentsDone { item_id: String, output_index: usize, arguments: String },
    #[serde(rename = "response.mcp_call.completed")]
    McpCallCompleted { item_id: String, output_index: usize },
    #[serde(rename = "response.mcp_call.failed")]
    McpCallFailed { item_id: String, output_index: usize },
}

impl StreamEvent {
    /// The event's `type`, which is also its SSE `event:` name.
    pub fn event_type(&self) -> &'static str {
        match &self.kind {
            EventKind::Created { .. } => "response.created",
            EventKind::Queued { .. } => "response.queued",
            EventKind::InProgress { .. } => "response.in_progress",
            EventKind::Completed { .. } => "response.completed",
            EventKind::Failed { .. } => "response.failed",
            EventKind::Incomplete { .. } => "response.incomplete",
            EventKind::OutputItemAdded { .. } => "response.output_item.added",
            EventKind::OutputItemDone { .. } => "response.output_item.done",
            EventKind::ContentPartAdded { .. } => "response.content_part.added",
            EventKind::ContentPartDone { .. } => "response.content_part.done",
            EventKind::OutputTextDelta { .. } => "response.output_text.delta",
            EventKind::OutputTextDone { .. } => "response.output_text.done",
            EventKind::RefusalDelta { .. } => "response.refusal.delta",
            EventKind::RefusalDone { .. } => "response.refusal.done",
            EventKind::FunctionCallArgumentsDelta { .. } => "response.function_call_arguments.delta",
            EventKind::FunctionCallArgumentsDone { .. } => "response.function_call_arguments.done",
            EventKind::ReasoningSummaryPartAdded { .. } => "response.reasoning_summary_part.added",
            EventKind::ReasoningSummaryTextDelta { .. } => "response.reasoning_summary_text.delta",
            EventKind::ReasoningSummaryTextDone { .. } => "response.reasoning_summary_text.done",
            EventKind::ReasoningSummaryPartDone { .. } => "response.reasoning_summary_part.done",
            EventKind::McpListToolsInProgress { .. } => "response.mcp_list_tools.in_progress",
            EventKind::McpListToolsCompleted { .. } => "response.mcp_list_tools.completed",
            EventKind::McpListToolsFailed { .. } => "response.mcp_list_tools.failed",
            EventKind::McpCallInProgress { .. } => "response.mcp_call.in_progress",
            EventKind::McpCallArgumentsDelta { .. } => "response.mcp_call_arguments.delta",
            EventKind::McpCallArgumentsDone { .. } => "response.mcp_call_arguments.done",
            EventKind::McpCallCompleted { .. } => "response.mcp_call.completed",
            EventKind::McpCallFailed { .. } => "response.mcp_call.failed",
        }
    }

    /// Whether this event ends the stream.
    pub fn is_terminal(&self) -> bool {
        matches!(self.kind, EventKind::Completed { .. } | EventKind::Failed { .. } | EventKind::Incomplete { .. })
    }

    /// Whether this is a small incremental event (a delta) rather than a structural one.
    pub fn is_delta(&self) -> bool {
        matches!(
            self.kind,
            EventKind::OutputTextDelta { .. }
                | EventKind::RefusalDelta { .. }
                | EventKind::FunctionCallArgumentsDelta { .. }
                | EventKind::McpCallArgumentsDelta { .. }
                | EventKind::ReasoningSummaryTextDelta { .. }
        )
    }

    /// The SSE frame for this event: `event: <type>\ndata: <json>\n\n`, with no `id:` line.
    pub fn to_sse_frame(&self) -> Result<String, serde_json::Error> {
        let data = serde_json::to_string(self)?;
        let ty = self.event_type();
        let mut frame = String::with_capacity(data.len() + ty.len() + 16);
        frame.push_str("event: ");
        frame.push_str(ty);
        frame.push_str("\ndata: ");
        frame.push_str(&data);
        frame.push_str("\n\n");
        Ok(frame)
    }
}
