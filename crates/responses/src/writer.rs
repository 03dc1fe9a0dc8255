//! [`ResponseWriter`]: the one place that turns a run's progress into protocol events.
//!
//! It owns the response snapshot and the sequence counter, so event order, gap-free sequence
//! numbers, item ids, `response_id` stamping and balanced `added`/`done` pairs hold by
//! construction rather than by every caller's care.

use crate::event::{EventKind, StreamEvent};
use crate::id;
use crate::item::{
    ContentPart, FunctionCallItem, Item, ItemStatus, McpCallItem, McpListToolsItem, MessageItem, ReasoningItem, Role,
};
use crate::response::{IncompleteDetails, Response, ResponseError, ResponseStatus, Usage};
use serde_json::Value;

/// Receives each event as it is produced, with the response snapshot after the event applied.
pub trait EventSink: Send {
    /// Takes one event.
    fn emit(&mut self, event: StreamEvent, snapshot: &Response);

    /// Whether this sink looks at events at all. A sink that does not (a synchronous response
    /// nobody streams or polls) spares the writer building them: each snapshot event is a
    /// clone of the whole response. Sequence numbers advance either way.
    fn wants_events(&self) -> bool {
        true
    }
}

impl EventSink for Vec<StreamEvent> {
    fn emit(&mut self, event: StreamEvent, _snapshot: &Response) {
        self.push(event);
    }
}

/// Refers to an item this writer opened and has not finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemHandle(usize);

impl ItemHandle {
    /// The item's `output_index`.
    pub fn output_index(self) -> usize {
        self.0
    }
}

/// Builds a response and its event stream.
#[derive(Debug)]
pub struct ResponseWriter {
    response: Response,
    next_sequence: u64,
    open: Vec<ItemHandle>,
}

impl ResponseWriter {
    /// Starts writing `response` (its `status` is what `response.created` reports).
    pub fn new(response: Response) -> Self {
        ResponseWriter { response, next_sequence: 0, open: Vec::new() }
    }

    /// The current snapshot.
    pub fn response(&self) -> &Response {
        &self.response
    }

    /// The finished response.
    pub fn into_response(self) -> Response {
        self.response
    }

    /// Whether a terminal event was written.
    pub fn is_finished(&self) -> bool {
        self.response.status.is_terminal()
    }

    fn emit(&mut self, sink: &mut dyn EventSink, kind: EventKind) {
        self.emit_built(sink, |_| Some(kind));
    }

    /// The one place that asks the sink whether it reads events: `build` runs only for a sink
    /// that does (a snapshot or an item is a deep clone). An event not built for a sink that
    /// reads none still takes its sequence number, so numbers match whichever sink reads.
    fn emit_built(&mut self, sink: &mut dyn EventSink, build: impl FnOnce(&Response) -> Option<EventKind>) {
        if !sink.wants_events() {
            self.next_sequence += 1;
            return;
        }
        if let Some(kind) = build(&self.response) {
            let event = StreamEvent { sequence_number: self.next_sequence, kind };
            self.next_sequence += 1;
            sink.emit(event, &self.response);
        }
    }

    fn snapshot_event(&mut self, sink: &mut dyn EventSink, make: fn(Response) -> EventKind) {
        self.emit_built(sink, |response| Some(make(response.clone())));
    }

    /// `response.output_item.done` for the item at `output_index`, as it is now.
    fn item_done(&mut self, sink: &mut dyn EventSink, output_index: usize) {
        self.emit_built(sink, |response| {
            let item = response.output.get(output_index).cloned()?;
            Some(EventKind::OutputItemDone { output_index, item })
        });
    }

    /// `response.created`.
    pub fn created(&mut self, sink: &mut dyn EventSink) {
        self.snapshot_event(sink, |response| EventKind::Created { response });
    }

    /// `response.in_progress`.
    pub fn in_progress(&mut self, sink: &mut dyn EventSink) {
        self.response.status = ResponseStatus::InProgress;
        self.snapshot_event(sink, |response| EventKind::InProgress { response });
    }

    fn push_item(&mut self, sink: &mut dyn EventSink, mut item: Item) -> ItemHandle {
        item.ensure_id(&self.response.id);
        item.stamp(&self.response.id, self.response.agent_reference.as_ref());
        let output_index = self.response.output.len();
        self.response.output.push(item);
        self.emit_built(sink, |response| {
            let item = response.output.get(output_index).cloned()?;
            Some(EventKind::OutputItemAdded { output_index, item })
        });
        ItemHandle(output_index)
    }

    fn item_id(&self, h: ItemHandle) -> String {
        self.response.output.get(h.0).and_then(Item::id).unwrap_or_default().to_string()
    }

    fn open_message(&mut self, sink: &mut dyn EventSink, part: ContentPart) -> ItemHandle {
        let h = self.push_item(
            sink,
            Item::Message(MessageItem {
                id: None,
                role: Role::Assistant,
                content: Vec::new(),
                status: Some(ItemStatus::InProgress),
                response_id: None,
                agent_reference: None,
            }),
        );
        if let Some(Item::Message(m)) = self.response.output.get_mut(h.0) {
            m.content.push(part.clone());
        }
        let item_id = self.item_id(h);
        self.emit(sink, EventKind::ContentPartAdded { item_id, output_index: h.0, content_index: 0, part });
        self.open.push(h);
        h
    }

    /// Opens an assistant message with one `output_text` part.
    pub fn start_message(&mut self, sink: &mut dyn EventSink) -> ItemHandle {
        self.open_message(sink, ContentPart::output_text(""))
    }

    /// Opens an assistant message with one `refusal` part.
    pub fn start_refusal(&mut self, sink: &mut dyn EventSink) -> ItemHandle {
        self.open_message(sink, ContentPart::Refusal { refusal: String::new() })
    }

    /// Appends text (or refusal text) to an open message.
    pub fn text_delta(&mut self, sink: &mut dyn EventSink, h: ItemHandle, delta: &str) {
        let mut refusal = false;
        if let Some(Item::Message(m)) = self.response.output.get_mut(h.0) {
            match m.content.first_mut() {
                Some(ContentPart::OutputText { text, .. }) => text.push_str(delta),
                Some(ContentPart::Refusal { refusal: text }) => {
                    refusal = true;
                    text.push_str(delta)
                }
                _ => return,
            }
        }
        let item_id = self.item_id(h);
        let delta = delta.to_string();
        let kind = if refusal {
            EventKind::RefusalDelta { item_id, output_index: h.0, content_index: 0, delta }
        } else {
            EventKind::OutputTextDelta { item_id, output_index: h.0, content_index: 0, delta, logprobs: Vec::new() }
        };
        self.emit(sink, kind);
    }

    /// Opens a `reasoning` item with one summary part.
    pub fn start_reasoning(&mut self, sink: &mut dyn EventSink) -> ItemHandle {
        let h = self.push_item(
            sink,
            Item::Reasoning(ReasoningItem {
                id: None,
                summary: Vec::new(),
                encrypted_content: None,
                status: Some(ItemStatus::InProgress),
                response_id: None,
                agent_reference: None,
            }),
        );
        let part = ContentPart::SummaryText { text: String::new() };
        if let Some(Item::Reasoning(r)) = self.response.output.get_mut(h.0) {
            r.summary.push(part.clone());
        }
        let item_id = self.item_id(h);
        self.emit(sink, EventKind::ReasoningSummaryPartAdded { item_id, output_index: h.0, summary_index: 0, part });
        self.open.push(h);
        h
    }

    /// Appends reasoning summary text.
    pub fn reasoning_delta(&mut self, sink: &mut dyn EventSink, h: ItemHandle, delta: &str) {
        if let Some(Item::Reasoning(r)) = self.response.output.get_mut(h.0)
            && let Some(ContentPart::SummaryText { text }) = r.summary.first_mut()
        {
            text.push_str(delta);
        }
        let item_id = self.item_id(h);
        self.emit(
            sink,
            EventKind::ReasoningSummaryTextDelta {
                item_id,
                output_index: h.0,
                summary_index: 0,
                delta: delta.to_string(),
            },
        );
    }

    /// Records opaque reasoning state on an open reasoning item.
    pub fn set_reasoning_encrypted(&mut self, h: ItemHandle, encrypted: String) {
        if let Some(Item::Reasoning(r)) = self.response.output.get_mut(h.0) {
            r.encrypted_content = Some(encrypted);
        }
    }

    /// Opens a `function_call` item.
    pub fn start_function_call(&mut self, sink: &mut dyn EventSink, call_id: &str, name: &str) -> ItemHandle {
        let h = self.push_item(
            sink,
            Item::FunctionCall(FunctionCallItem {
                id: None,
                call_id: call_id.to_string(),
                name: name.to_string(),
                arguments: String::new(),
                status: Some(ItemStatus::InProgress),
                response_id: None,
                agent_reference: None,
            }),
        );
        self.open.push(h);
        h
    }

    /// Appends to an open function call's arguments.
    pub fn function_arguments_delta(&mut self, sink: &mut dyn EventSink, h: ItemHandle, delta: &str) {
        if let Some(Item::FunctionCall(f)) = self.response.output.get_mut(h.0) {
            f.arguments.push_str(delta);
        }
        let item_id = self.item_id(h);
        self.emit(sink, EventKind::FunctionCallArgumentsDelta { item_id, output_index: h.0, delta: delta.to_string() });
    }

    /// The `function_call` item behind a handle.
    pub fn function_call(&self, h: ItemHandle) -> Option<&FunctionCallItem> {
        match self.response.output.get(h.0) {
            Some(Item::FunctionCall(f)) => Some(f),
            _ => None,
        }
    }

    /// Opens an `mcp_list_tools` item (`output_item.added`, `response.mcp_list_tools.in_progress`).
    pub fn start_mcp_list_tools(&mut self, sink: &mut dyn EventSink, server_label: &str) -> ItemHandle {
        let h = self.push_item(
            sink,
            Item::McpListTools(McpListToolsItem {
                id: self.new_item_id(id::MCP_LIST_TOOLS),
                server_label: server_label.to_string(),
                tools: Vec::new(),
                error: None,
                response_id: None,
                agent_reference: None,
            }),
        );
        let item_id = self.item_id(h);
        self.emit(sink, EventKind::McpListToolsInProgress { item_id, output_index: h.0 });
        self.open.push(h);
        h
    }

    /// Closes an open `mcp_list_tools` item with its tools (`.completed`) or why listing failed
    /// (`.failed`), then `output_item.done`.
    pub fn finish_mcp_list_tools(
        &mut self,
        sink: &mut dyn EventSink,
        h: ItemHandle,
        result: Result<Vec<Value>, String>,
    ) {
        let Some(pos) = self.open.iter().position(|o| *o == h) else {
            return;
        };
        self.open.remove(pos);
        let item_id = self.item_id(h);
        let Some(Item::McpListTools(item)) = self.response.output.get_mut(h.0) else {
            return;
        };
        let failed = result.is_err();
        match result {
            Ok(tools) => item.tools = tools,
            Err(error) => item.error = Some(error),
        }
        let output_index = h.0;
        self.emit(
            sink,
            if failed {
                EventKind::McpListToolsFailed { item_id, output_index }
            } else {
                EventKind::McpListToolsCompleted { item_id, output_index }
            },
        );
        self.item_done(sink, output_index);
    }

    /// Opens an `mcp_call` item with its arguments: `output_item.added` (arguments empty,
    /// `in_progress`), `response.mcp_call.in_progress`, `response.mcp_call_arguments.delta` and
    /// `.done`. The call's result closes it ([`ResponseWriter::finish_mcp_call`]).
    pub fn start_mcp_call(
        &mut self,
        sink: &mut dyn EventSink,
        server_label: &str,
        name: &str,
        arguments: &str,
        approval_request_id: Option<String>,
    ) -> ItemHandle {
        let h = self.push_item(
            sink,
            Item::McpCall(McpCallItem {
                id: self.new_item_id(id::MCP_CALL),
                server_label: server_label.to_string(),
                name: name.to_string(),
                arguments: String::new(),
                output: None,
                error: None,
                status: Some(ItemStatus::InProgress),
                approval_request_id,
                response_id: None,
                agent_reference: None,
            }),
        );
        self.open.push(h);
        let item_id = self.item_id(h);
        let output_index = h.0;
        self.emit(sink, EventKind::McpCallInProgress { item_id: item_id.clone(), output_index });
        if let Some(Item::McpCall(call)) = self.response.output.get_mut(h.0) {
            call.arguments = arguments.to_string();
        }
        self.emit(
            sink,
            EventKind::McpCallArgumentsDelta { item_id: item_id.clone(), output_index, delta: arguments.to_string() },
        );
        self.emit(sink, EventKind::McpCallArgumentsDone { item_id, output_index, arguments: arguments.to_string() });
        h
    }

    /// The `mcp_call` item behind a handle.
    pub fn mcp_call(&self, h: ItemHandle) -> Option<&McpCallItem> {
        match self.response.output.get(h.0) {
            Some(Item::McpCall(c)) => Some(c),
            _ => None,
        }
    }

    /// Closes an open `mcp_call` with the tool's output (`response.mcp_call.completed`) or error
    /// (`.failed`), then `output_item.done`.
    pub fn finish_mcp_call(&mut self, sink: &mut dyn EventSink, h: ItemHandle, result: Result<String, String>) {
        let Some(pos) = self.open.iter().position(|o| *o == h) else {
            return;
        };
        self.open.remove(pos);
        let item_id = self.item_id(h);
        let Some(Item::McpCall(call)) = self.response.output.get_mut(h.0) else {
            return;
        };
        let failed = result.is_err();
        match result {
            Ok(output) => {
                call.output = Some(output);
                call.status = Some(ItemStatus::Completed);
            }
            Err(error) => {
                call.error = Some(error);
                call.status = Some(ItemStatus::Failed);
            }
        }
        let output_index = h.0;
        self.emit(
            sink,
            if failed {
                EventKind::McpCallFailed { item_id, output_index }
            } else {
                EventKind::McpCallCompleted { item_id, output_index }
            },
        );
        self.item_done(sink, output_index);
    }

    /// Closes an open item with `status`, emitting its `done` events.
    pub fn finish(&mut self, sink: &mut dyn EventSink, h: ItemHandle, status: ItemStatus) {
        let Some(pos) = self.open.iter().position(|o| *o == h) else {
            return;
        };
        self.open.remove(pos);
        let item_id = self.item_id(h);
        let output_index = h.0;
        let Some(item) = self.response.output.get_mut(h.0) else {
            return;
        };
        // The `done` events repeat the item's text: built only for a sink that reads them.
        let wants = sink.wants_events();
        let mut events = Vec::with_capacity(3);
        // Events not built for such a sink still take their sequence numbers.
        let mut unbuilt = 0;
        match item {
            Item::Message(m) => {
                m.status = Some(status);
                if !wants && !m.content.is_empty() {
                    unbuilt = 2;
                } else if let Some(part) = m.content.first().cloned() {
                    match &part {
                        ContentPart::Refusal { refusal } => events.push(EventKind::RefusalDone {
                            item_id: item_id.clone(),
                            output_index,
                            content_index: 0,
                            refusal: refusal.clone(),
                        }),
                        other => events.push(EventKind::OutputTextDone {
                            item_id: item_id.clone(),
                            output_index,
                            content_index: 0,
                            text: other.text().unwrap_or_default().to_string(),
                            logprobs: Vec::new(),
                        }),
                    }
                    events.push(EventKind::ContentPartDone { item_id, output_index, content_index: 0, part });
                }
            }
            Item::Reasoning(r) => {
                r.status = Some(status);
                if !wants && !r.summary.is_empty() {
                    unbuilt = 2;
                } else if let Some(part) = r.summary.first().cloned() {
                    events.push(EventKind::ReasoningSummaryTextDone {
                        item_id: item_id.clone(),
                        output_index,
                        summary_index: 0,
                        text: part.text().unwrap_or_default().to_string(),
                    });
                    events.push(EventKind::ReasoningSummaryPartDone { item_id, output_index, summary_index: 0, part });
                }
            }
            Item::McpCall(c) => c.status = Some(status),
            Item::FunctionCall(f) => {
                f.status = Some(status);
                events.push(EventKind::FunctionCallArgumentsDone {
                    item_id,
                    output_index,
                    name: f.name.clone(),
                    arguments: f.arguments.clone(),
                });
            }
            _ => {}
        }
        self.next_sequence += unbuilt;
        for kind in events {
            self.emit(sink, kind);
        }
        self.item_done(sink, output_index);
    }

    /// Adds a whole item at once (`output_item.added` then `output_item.done`), giving it an id in
    /// this response's partition when it has none.
    pub fn add_item(&mut self, sink: &mut dyn EventSink, item: Item) -> ItemHandle {
        let h = self.push_item(sink, item);
        self.item_done(sink, h.0);
        h
    }

    /// Closes every open item with `status`, so `added`/`done` pairs balance before a terminal
    /// event.
    pub fn close_open_items(&mut self, sink: &mut dyn EventSink, status: ItemStatus) {
        while let Some(h) = self.open.first().copied() {
            self.finish(sink, h, status);
        }
    }

    /// Ends the response `completed`.
    pub fn complete(&mut self, sink: &mut dyn EventSink, usage: Option<Usage>, now: u64) {
        self.close_open_items(sink, ItemStatus::Completed);
        self.response.status = ResponseStatus::Completed;
        self.response.completed_at = Some(now);
        self.response.usage = usage;
        self.snapshot_event(sink, |response| EventKind::Completed { response });
    }

    /// Ends the response `failed` with `error`.
    pub fn fail(&mut self, sink: &mut dyn EventSink, error: ResponseError, usage: Option<Usage>) {
        self.close_open_items(sink, ItemStatus::Incomplete);
        self.response.status = ResponseStatus::Failed;
        self.response.error = Some(error);
        self.response.usage = usage;
        self.snapshot_event(sink, |response| EventKind::Failed { response });
    }

    /// Ends the response `incomplete`; `details` must be a reason Foundry accepts, or `None`.
    pub fn incomplete(&mut self, sink: &mut dyn EventSink, details: Option<IncompleteDetails>, usage: Option<Usage>) {
        self.close_open_items(sink, ItemStatus::Incomplete);
        self.response.status = ResponseStatus::Incomplete;
        self.response.incomplete_details = details;
        self.response.usage = usage;
        self.snapshot_event(sink, |response| EventKind::Incomplete { response });
    }

    /// Ends the response `cancelled`: output cleared, announced as `response.failed` (§5.7).
    pub fn cancel(&mut self, sink: &mut dyn EventSink) {
        self.open.clear();
        self.response.status = ResponseStatus::Cancelled;
        self.response.output.clear();
        self.snapshot_event(sink, |response| EventKind::Failed { response });
    }

    /// A new item id in this response's partition.
    pub fn new_item_id(&self, prefix: &str) -> String {
        id::new_id(prefix, Some(&self.response.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> ResponseWriter {
        ResponseWriter::new(Response::new(id::new_id(id::RESPONSE, None), "m".into(), 1))
    }

    #[test]
    fn message_events_follow_the_protocol_order() {
        let mut w = writer();
        let mut ev: Vec<StreamEvent> = Vec::new();
        w.created(&mut ev);
        w.in_progress(&mut ev);
        let h = w.start_message(&mut ev);
        w.text_delta(&mut ev, h, "Hello");
        w.text_delta(&mut ev, h, " there");
        w.complete(&mut ev, None, 2);
        let types: Vec<_> = ev.iter().map(StreamEvent::event_type).collect();
        assert_eq!(
            types,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed"
            ]
        );
        let seqs: Vec<_> = ev.iter().map(|e| e.sequence_number).collect();
        assert_eq!(seqs, (0..10).collect::<Vec<_>>());
        let Item::Message(m) = &w.response().output[0] else { panic!() };
        assert_eq!(m.text(), "Hello there");
        assert_eq!(m.status, Some(ItemStatus::Completed));
        assert_eq!(m.response_id.as_deref(), Some(w.response().id.as_str()));
        assert_eq!(id::partition_of(m.id.as_deref().unwrap()), id::partition_of(&w.response().id));
    }

    /// A sink that reads no events; any event given to it fails the test.
    struct Silent;
    impl EventSink for Silent {
        fn emit(&mut self, event: StreamEvent, _snapshot: &Response) {
            panic!("an event reached a sink that wants none: {}", event.event_type());
        }
        fn wants_events(&self) -> bool {
            false
        }
    }

    #[test]
    fn a_sink_that_wants_no_events_gets_none_and_the_same_response() {
        let base = Response::new(id::new_id(id::RESPONSE, None), "m".into(), 1);
        let steps = |w: &mut ResponseWriter, sink: &mut dyn EventSink| {
            w.created(sink);
            w.in_progress(sink);
            let h = w.start_message(sink);
            w.text_delta(sink, h, "Hello");
            w.text_delta(sink, h, " there");
            w.finish(sink, h, ItemStatus::Completed);
            w.add_item(sink, Item::user_text("second"));
        };
        let mut loud = ResponseWriter::new(base.clone());
        let mut events: Vec<StreamEvent> = Vec::new();
        steps(&mut loud, &mut events);
        let mut quiet = ResponseWriter::new(base);
        steps(&mut quiet, &mut Silent);
        // Sequence numbers advanced as if every event had been written.
        let mut last: Vec<StreamEvent> = Vec::new();
        quiet.complete(&mut last, None, 2);
        loud.complete(&mut events, None, 2);
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].sequence_number, events.last().map(|e| e.sequence_number).unwrap());
        let without_item_ids = |w: ResponseWriter| {
            let mut r = w.into_response();
            for item in &mut r.output {
                if let Item::Message(m) = item {
                    m.id = None;
                }
            }
            serde_json::to_value(&r).unwrap()
        };
        assert_eq!(without_item_ids(quiet), without_item_ids(loud));
    }

    #[test]
    fn failing_closes_open_items_first() {
        let mut w = writer();
        let mut ev: Vec<StreamEvent> = Vec::new();
        w.created(&mut ev);
        let h = w.start_function_call(&mut ev, "call_1", "tool");
        w.function_arguments_delta(&mut ev, h, "{}");
        w.fail(&mut ev, ResponseError::new("server_error", "boom"), None);
        let types: Vec<_> = ev.iter().map(StreamEvent::event_type).collect();
        assert_eq!(
            types,
            [
                "response.created",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.failed"
            ]
        );
        assert_eq!(w.response().status, ResponseStatus::Failed);
    }

    #[test]
    fn cancel_clears_output_and_reports_failed_event() {
        let mut w = writer();
        let mut ev: Vec<StreamEvent> = Vec::new();
        let h = w.start_message(&mut ev);
        w.text_delta(&mut ev, h, "x");
        w.cancel(&mut ev);
        let last = ev.last().unwrap();
        assert_eq!(last.event_type(), "response.failed");
        let EventKind::Failed { response } = &last.kind else { panic!() };
        assert_eq!(response.status, ResponseStatus::Cancelled);
        assert!(response.output.is_empty());
    }
}
