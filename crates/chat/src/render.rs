//! Printing one response as it streams: text deltas as they arrive (flushed per delta), tool
//! calls and results as compact `→` / `←` lines, and collecting the consent and approval
//! requests the response carries for the caller to act on.
//!
//! Everything printed comes from the server, so control characters are stripped before they
//! reach the terminal.

use std::collections::HashSet;
use std::io::Write;

use serde_json::Value;

use crate::consent::Consent;
use crate::text::{clean, one_line};

/// Most characters of a tool's arguments or result shown on one line.
const TOOL_LINE: usize = 200;

/// A tool call that needs the person's approval (`mcp_approval_request`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Approval {
    pub id: String,
    pub server_label: String,
    pub name: String,
    pub arguments: String,
}

/// What one response showed and asked for.
#[derive(Default)]
pub(crate) struct Turn {
    /// Print nothing while streaming (`--json`).
    quiet: bool,
    /// Whether the cursor is at the start of a line.
    mid_line: bool,
    /// Message items whose text arrived as deltas.
    streamed: HashSet<String>,
    /// Output items already rendered, by id (or `#index` without one).
    rendered: HashSet<String>,
    /// Consent requests, distinct by link, in arrival order.
    pub consents: Vec<Consent>,
    /// Approval requests, distinct by id, in arrival order.
    pub approvals: Vec<Approval>,
}

impl Turn {
    /// A fresh turn; `quiet` suppresses all streaming output.
    pub(crate) fn new(quiet: bool) -> Self {
        Self { quiet, ..Self::default() }
    }

    /// Handles one event. Returns the Response of a terminal event.
    pub(crate) fn on_event(&mut self, ev: &Value, out: &mut dyn Write) -> Option<Value> {
        let kind = ev.get("type").and_then(Value::as_str).unwrap_or_default();
        match kind {
            "response.output_text.delta" => {
                let id = ev.get("item_id").and_then(Value::as_str).unwrap_or_default();
                self.streamed.insert(id.to_owned());
                if let Some(delta) = ev.get("delta").and_then(Value::as_str) {
                    self.text(out, delta);
                }
            }
            "response.output_item.added" => {
                // Some servers only announce consent on `added`; everything else waits for `done`.
                if let Some(item) = ev.get("item")
                    && item_type(item) == "oauth_consent_request"
                {
                    self.collect(item);
                }
            }
            "response.output_item.done" => {
                if let Some(item) = ev.get("item") {
                    let key = item_key(item, ev.get("output_index").and_then(Value::as_u64));
                    self.item(out, item, key);
                }
            }
            "response.oauth_consent_requested" => self.collect(ev),
            "response.completed" | "response.failed" | "response.incomplete" | "response.cancelled" => {
                let mut response = ev
                    .get("response")
                    .cloned()
                    .unwrap_or_else(|| serde_json::json!({"status": kind.trim_start_matches("response.")}));
                if response.get("status").and_then(Value::as_str).is_none()
                    && let Some(obj) = response.as_object_mut()
                {
                    let status = kind.trim_start_matches("response.").to_owned();
                    obj.insert("status".to_owned(), Value::String(status));
                }
                self.finish(out, &response);
                return Some(response);
            }
            _ => {}
        }
        None
    }

    /// Renders the terminal output items not seen as events, and ends the line.
    fn finish(&mut self, out: &mut dyn Write, response: &Value) {
        let items = response.get("output").and_then(Value::as_array);
        for (i, item) in items.into_iter().flatten().enumerate() {
            self.item(out, item, item_key(item, Some(i as u64)));
        }
        self.end_line(out);
    }

    /// Renders one finished output item, once.
    fn item(&mut self, out: &mut dyn Write, item: &Value, key: String) {
        if !self.rendered.insert(key) {
            return;
        }
        let field = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or_default();
        match item_type(item) {
            "message" => {
                // Text already streamed is not printed again. Without ids, any streamed text
                // counts as this message's.
                let id = field("id");
                if self.streamed.contains(id)
                    || self.streamed.contains("")
                    || (id.is_empty() && !self.streamed.is_empty())
                {
                    return;
                }
                let text = message_text(item);
                if !text.is_empty() {
                    self.line_start(out);
                    self.text(out, &text);
                }
            }
            "function_call" => {
                let line = format!("→ {} {}", clean(field("name")), compact(field("arguments")));
                self.tool_line(out, &line);
            }
            "function_call_output" => {
                let line = format!("← {}", result(item.get("output")));
                self.tool_line(out, &line);
            }
            "mcp_call" => {
                let line = format!("→ {} {}", clean(field("name")), compact(field("arguments")));
                self.tool_line(out, &line);
                match item.get("error").filter(|e| !e.is_null()) {
                    Some(e) => self.tool_line(out, &format!("← error: {}", result(Some(e)))),
                    None if item.get("output").is_some_and(|o| !o.is_null()) => {
                        self.tool_line(out, &format!("← {}", result(item.get("output"))));
                    }
                    None => {}
                }
            }
            "oauth_consent_request" => self.collect(item),
            "mcp_approval_request" => {
                let approval = Approval {
                    id: field("id").to_owned(),
                    server_label: field("server_label").to_owned(),
                    name: field("name").to_owned(),
                    arguments: field("arguments").to_owned(),
                };
                if !approval.id.is_empty() && !self.approvals.iter().any(|a| a.id == approval.id) {
                    self.approvals.push(approval);
                }
            }
            _ => {}
        }
    }

    /// Records a consent request (item or event shape), distinct by link.
    fn collect(&mut self, v: &Value) {
        let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default();
        let consent =
            Consent { server_label: field("server_label").to_owned(), link: field("consent_link").trim().to_owned() };
        if !self.consents.iter().any(|c| c.link == consent.link) {
            self.consents.push(consent);
        }
    }

    fn text(&mut self, out: &mut dyn Write, text: &str) {
        if self.quiet {
            return;
        }
        let text: String = text.chars().filter(|c| !c.is_control() || *c == '\n' || *c == '\t').collect();
        if text.is_empty() {
            return;
        }
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        self.mid_line = !text.ends_with('\n');
    }

    fn tool_line(&mut self, out: &mut dyn Write, line: &str) {
        if self.quiet {
            return;
        }
        self.line_start(out);
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    fn line_start(&mut self, out: &mut dyn Write) {
        if self.mid_line {
            let _ = writeln!(out);
            self.mid_line = false;
        }
    }

    /// Ends a partly printed line.
    pub(crate) fn end_line(&mut self, out: &mut dyn Write) {
        self.line_start(out);
        let _ = out.flush();
    }
}

fn item_type(item: &Value) -> &str {
    item.get("type").and_then(Value::as_str).unwrap_or_default()
}

fn item_key(item: &Value, index: Option<u64>) -> String {
    match item.get("id").and_then(Value::as_str).filter(|s| !s.is_empty()) {
        Some(id) => id.to_owned(),
        None => format!("#{}", index.unwrap_or(u64::MAX)),
    }
}

/// The concatenated `output_text` (and `refusal`) parts of a message item.
fn message_text(item: &Value) -> String {
    let parts = item.get("content").and_then(Value::as_array);
    let mut text = String::new();
    for part in parts.into_iter().flatten() {
        if let Some(t) = part.get("text").or_else(|| part.get("refusal")).and_then(Value::as_str) {
            text.push_str(t);
        }
    }
    text
}

/// Tool arguments on one line: compact JSON when they parse, else the cleaned text.
fn compact(arguments: &str) -> String {
    match serde_json::from_str::<Value>(arguments) {
        Ok(v) => one_line(&v.to_string(), TOOL_LINE),
        Err(_) => one_line(arguments, TOOL_LINE),
    }
}

/// A tool result on one line. JSON-string-encoded results (as AF writes them) are unwrapped.
fn result(output: Option<&Value>) -> String {
    match output {
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::String(inner)) => one_line(&inner, TOOL_LINE),
            _ => one_line(s, TOOL_LINE),
        },
        Some(Value::Null) | None => String::new(),
        Some(other) => one_line(&other.to_string(), TOOL_LINE),
    }
}
