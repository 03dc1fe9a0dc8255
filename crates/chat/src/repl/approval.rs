//! The approval side of a session: showing `mcp_approval_request`s with pretty arguments,
//! asking `Approve? [y/N]`, and building the `mcp_approval_response` input items.

use serde_json::{Value, json};

use crate::exit::APPROVAL_REQUIRED;
use crate::render::Approval;
use crate::text::clean;

use super::{End, Session, distinct};

impl Session<'_> {
    /// `--prompt` and approvals: print them (unless `--json`) and stop with exit 12.
    pub(super) fn approval_required(&mut self, approvals: &[Approval]) -> End {
        let names = distinct(approvals.iter().map(|a| clean(&a.name))).join(", ");
        if !self.args.json {
            for approval in approvals {
                self.show_approval(approval);
            }
        }
        self.warn(&format!("error: approval required for {names}; answer it in the interactive chat"));
        End::Failed(APPROVAL_REQUIRED)
    }

    /// Asks about each approval request; `None` if input ended or the person quit.
    pub(super) async fn approve(&mut self, approvals: &[Approval]) -> Option<Vec<Value>> {
        let mut items = Vec::new();
        for approval in approvals {
            self.show_approval(approval);
            self.prompt("Approve? [y/N] ");
            let answer = self.read_line().await?;
            let answer = answer.trim();
            if answer == "/quit" || answer == "/exit" {
                return None;
            }
            let (approve, reason) = parse_answer(answer);
            let mut item = json!({
                "type": "mcp_approval_response",
                "approval_request_id": approval.id,
                "approve": approve,
            });
            if let Some(reason) = reason {
                item["reason"] = json!(reason);
            }
            items.push(item);
        }
        Some(items)
    }

    fn show_approval(&mut self, approval: &Approval) {
        let label = match clean(&approval.server_label) {
            l if l.trim().is_empty() => String::new(),
            l => format!(" ({l})"),
        };
        self.say(&format!("Approval requested: {}{label}", clean(&approval.name)));
        let args = match serde_json::from_str::<Value>(&approval.arguments) {
            Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_default(),
            Err(_) => clean(&approval.arguments),
        };
        if !args.is_empty() {
            self.say(&args);
        }
    }
}

/// `y`/`yes` approves; anything else denies. `n <why>` / `no <why>` adds a reason.
fn parse_answer(answer: &str) -> (bool, Option<String>) {
    let (word, rest) = answer.split_once(char::is_whitespace).unwrap_or((answer, ""));
    let word = word.to_ascii_lowercase();
    let approve = word == "y" || word == "yes";
    let reason = rest.trim();
    let reason = (!approve && (word == "n" || word == "no") && !reason.is_empty()).then(|| reason.to_owned());
    (approve, reason)
}
