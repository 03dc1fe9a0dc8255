//! The conversation loop: read a line, send it, render the stream, then act on what the response
//! asks for: re-send after OAuth consent, answer tool approvals, and keep the history chained
//! with `previous_response_id` (or `conversation`).

use std::io::Write;
use std::pin::Pin;

use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use crate::args::ChatArgs;
use crate::browser::Browser;
use crate::client::{Client, error_detail};
use crate::consent::{ConsentTracker, display_label, loop_explanation};
use crate::exit::{CONSENT_LOOP, CONSENT_REQUIRED, ChatError, OK, RESPONSE_FAILED};
use crate::render::Turn;
use crate::text::clean;

mod approval;
mod sign_in;

/// How one prompt (with its consent re-sends and approval rounds) ended.
enum End {
    /// Answered; the history moved on.
    Done,
    /// Reported an error with this exit code; the history did not move.
    Failed(i32),
    /// The person asked to leave (or input ended) at an inner question.
    Quit,
    /// Stop the session with this exit code.
    Stop(i32),
}

/// What the person chose after seeing consent links.
enum SignIn {
    Resend,
    Skip,
    Quit,
}

/// One chat session over one input and two outputs.
pub(crate) struct Session<'a> {
    args: ChatArgs,
    client: Client,
    input: Pin<Box<dyn AsyncBufRead + Send + 'a>>,
    out: Box<dyn Write + Send + 'a>,
    err: Box<dyn Write + Send + 'a>,
    browser: &'a dyn Browser,
    /// Id of the last response that belongs to the history.
    previous: Option<String>,
    /// The conversation history is kept in: `--conversation`, or one created on the server at
    /// the first prompt when it offers the Conversations API.
    conversation: Option<String>,
    /// Whether creating a conversation was tried.
    conversation_tried: bool,
    /// REPL (questions may be asked) or `--prompt` (never reads input).
    interactive: bool,
}

impl<'a> Session<'a> {
    pub(crate) fn new(
        args: ChatArgs,
        client: Client,
        input: Pin<Box<dyn AsyncBufRead + Send + 'a>>,
        out: Box<dyn Write + Send + 'a>,
        err: Box<dyn Write + Send + 'a>,
        browser: &'a dyn Browser,
    ) -> Self {
        let interactive = args.prompt.is_none();
        let conversation = args.conversation.clone();
        let conversation_tried = conversation.is_some();
        Self { args, client, input, out, err, browser, previous: None, conversation, conversation_tried, interactive }
    }

    /// `--prompt`: one request, no questions asked.
    pub(crate) async fn once(&mut self, prompt: String) -> i32 {
        match self.ask(Value::String(prompt)).await {
            End::Done | End::Quit => OK,
            End::Failed(code) | End::Stop(code) => code,
        }
    }

    /// The REPL: one prompt per line until `/quit` or end of input.
    pub(crate) async fn repl(&mut self) -> i32 {
        let banner = format!("agenthost chat: {} (/quit or end of input to leave)", self.client.endpoint());
        self.say(&banner);
        loop {
            self.prompt("> ");
            let Some(line) = self.read_line().await else {
                self.say("");
                return OK;
            };
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if line == "/quit" || line == "/exit" {
                return OK;
            }
            match self.ask(Value::String(line.to_owned())).await {
                End::Done | End::Failed(_) => {}
                End::Quit => return OK,
                End::Stop(code) => return code,
            }
        }
    }

    /// Sends `input` and follows up until the response needs nothing more from the person.
    async fn ask(&mut self, input: Value) -> End {
        if !self.conversation_tried {
            self.conversation_tried = true;
            self.conversation = self.client.create_conversation().await;
            if let (Some(id), true) = (&self.conversation, self.interactive) {
                let line = format!("(history is kept in conversation {})", clean(id));
                self.say(&line);
            }
        }
        let mut input = input;
        // Consent re-sends reuse the base of the original attempt so the history stays clean.
        let mut base = self.previous.clone();
        let mut tracker = ConsentTracker::new(self.args.max_consent_retries);
        loop {
            let (response, turn) = match self.exchange(&input, base.as_deref()).await {
                Ok(r) => r,
                Err(e) => {
                    self.warn(&format!("error: {e}"));
                    return End::Failed(e.code());
                }
            };
            if self.args.json {
                let text = serde_json::to_string_pretty(&response).unwrap_or_default();
                self.say(&text);
            }
            let field = |k: &str| response.get(k).and_then(Value::as_str).map(str::to_owned);
            let status = field("status").unwrap_or_default();
            let id = field("id").filter(|s| !s.is_empty());
            if status == "failed" || status == "cancelled" {
                let detail = response
                    .get("error")
                    .and_then(error_detail)
                    .map_or_else(|| format!("response {status}"), |d| format!("response {status}: {d}"));
                self.warn(&format!("error: {detail}"));
                return End::Failed(RESPONSE_FAILED);
            }
            if !turn.consents.is_empty() {
                if !self.interactive {
                    return self.consent_required(&turn.consents);
                }
                let labels = turn.consents.iter().map(|c| c.server_label.as_str());
                if let Some(label) = tracker.record(labels) {
                    let label = display_label(&label);
                    for line in loop_explanation(&label, self.args.max_consent_retries) {
                        self.warn(&line);
                    }
                    return End::Stop(CONSENT_LOOP);
                }
                match self.sign_in(&turn.consents).await {
                    SignIn::Resend => {
                        self.say("Re-sending your message.");
                        continue;
                    }
                    SignIn::Skip => return End::Failed(CONSENT_REQUIRED),
                    SignIn::Quit => return End::Quit,
                }
            }
            if !turn.approvals.is_empty() {
                if !self.interactive {
                    return self.approval_required(&turn.approvals);
                }
                let Some(items) = self.approve(&turn.approvals).await else {
                    return End::Quit;
                };
                // The approval request is part of the history; the answer chains onto it.
                if id.is_some() {
                    self.previous = id;
                }
                base = self.previous.clone();
                input = Value::Array(items);
                tracker = ConsentTracker::new(self.args.max_consent_retries);
                continue;
            }
            if status == "incomplete" {
                let reason = response
                    .pointer("/incomplete_details/reason")
                    .and_then(Value::as_str)
                    .map(|r| format!(" ({})", clean(r)))
                    .unwrap_or_default();
                self.warn(&format!("note: the response is incomplete{reason}"));
            }
            if id.is_some() {
                self.previous = id;
            }
            return End::Done;
        }
    }

    /// One request: send, render every event, return the terminal Response.
    async fn exchange(&mut self, input: &Value, base: Option<&str>) -> Result<(Value, Turn), ChatError> {
        let body = self.body(input, base);
        let mut events = self.client.send(&body).await?;
        let mut turn = Turn::new(self.args.json);
        loop {
            let event = events.next().await;
            let event = match event {
                Ok(Some(ev)) => ev,
                Ok(None) => {
                    turn.end_line(&mut *self.out);
                    return Err(ChatError::StreamEnded { reason: None });
                }
                Err(e) => {
                    turn.end_line(&mut *self.out);
                    return Err(e);
                }
            };
            if event.get("type").and_then(Value::as_str) == Some("error") {
                turn.end_line(&mut *self.out);
                let detail =
                    error_detail(event.get("error").unwrap_or(&event)).unwrap_or_else(|| "no details".to_owned());
                return Err(ChatError::StreamError { detail });
            }
            if let Some(response) = turn.on_event(&event, &mut *self.out) {
                return Ok((response, turn));
            }
        }
    }

    /// The create request: input, history pointer, agent and model.
    fn body(&self, input: &Value, base: Option<&str>) -> Value {
        let mut body = json!({"input": input, "stream": true});
        if let Some(model) = &self.args.model {
            body["model"] = json!(model);
        }
        if let Some(agent) = &self.args.agent {
            body["agent_reference"] = json!({"type": "agent_reference", "name": agent});
        }
        match (&self.conversation, base) {
            (Some(conversation), _) => body["conversation"] = json!(conversation),
            (None, Some(previous)) => body["previous_response_id"] = json!(previous),
            (None, None) => {}
        }
        body
    }

    /// One line of input without its line ending; `None` at end of input.
    async fn read_line(&mut self) -> Option<String> {
        let mut buf = Vec::new();
        match self.input.read_until(b'\n', &mut buf).await {
            Ok(0) => None,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf);
                Some(line.trim_end_matches(['\n', '\r']).to_owned())
            }
            Err(e) => {
                self.warn(&format!("error: cannot read input: {e}"));
                None
            }
        }
    }

    fn prompt(&mut self, text: &str) {
        let _ = self.out.write_all(text.as_bytes());
        let _ = self.out.flush();
    }

    fn say(&mut self, line: &str) {
        let _ = writeln!(self.out, "{line}");
        let _ = self.out.flush();
    }

    fn warn(&mut self, line: &str) {
        let _ = writeln!(self.err, "{line}");
        let _ = self.err.flush();
    }
}

/// The distinct values, in first-seen order.
fn distinct(values: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = Vec::new();
    for v in values {
        if !seen.contains(&v) {
            seen.push(v);
        }
    }
    seen
}
