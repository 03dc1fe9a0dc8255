//! Tool approvals: shown with pretty arguments, answered with `mcp_approval_response` chained
//! onto the response that asked.

use agenthost_chat::ChatArgs;
use serde_json::json;

use crate::support::*;

fn delete_request() -> serde_json::Value {
    approval_item("mcpr_1", "agent_framework", "delete_file", "{\"path\":\"a.txt\"}")
}

#[tokio::test]
async fn yes_sends_an_approving_response_with_previous_response_id() {
    let server = FakeServer::start(vec![
        Reply::Sse(approval_answer("resp_1", delete_request())),
        Reply::Sse(text_answer("resp_2", &["Deleted."])),
        Reply::Sse(text_answer("resp_3", &["ok"])),
    ])
    .await;
    let run = chat(server.args(), "delete a.txt\ny\nthanks\n", &FakeBrowser::absent()).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.out,
        format!(
            "{}> Approval requested: delete_file (agent_framework)\n{{\n  \"path\": \"a.txt\"\n}}\n\
             Approve? [y/N] Deleted.\n> ok\n> \n",
            banner(&server.url)
        )
    );
    let bodies: Vec<_> = server.requests().into_iter().map(|r| r.body).collect();
    assert_eq!(
        bodies[1],
        json!({"input": [{"type": "mcp_approval_response", "approval_request_id": "mcpr_1",
                          "approve": true}],
               "stream": true, "previous_response_id": "resp_1"})
    );
    assert_eq!(bodies[2]["previous_response_id"], "resp_2");
}

#[tokio::test]
async fn no_and_anything_else_deny() {
    for (answer, expected) in [
        ("n", json!({"type": "mcp_approval_response", "approval_request_id": "mcpr_1", "approve": false})),
        ("", json!({"type": "mcp_approval_response", "approval_request_id": "mcpr_1", "approve": false})),
        (
            "no too risky",
            json!({"type": "mcp_approval_response", "approval_request_id": "mcpr_1",
                                "approve": false, "reason": "too risky"}),
        ),
    ] {
        let server = FakeServer::start(vec![
            Reply::Sse(approval_answer("resp_1", delete_request())),
            Reply::Sse(text_answer("resp_2", &["Not deleted."])),
        ])
        .await;
        let run = chat(server.args(), &format!("delete a.txt\n{answer}\n"), &FakeBrowser::absent()).await;
        assert_eq!(run.code, 0);
        let body = &server.requests()[1].body;
        assert_eq!(body["input"], json!([expected]), "answer {answer:?}");
        assert_eq!(body["previous_response_id"], "resp_1");
    }
}

#[tokio::test]
async fn approvals_in_conversation_mode_use_the_conversation() {
    let server = FakeServer::start(vec![
        Reply::Sse(approval_answer("resp_1", delete_request())),
        Reply::Sse(text_answer("resp_2", &["Deleted."])),
    ])
    .await;
    let args = ChatArgs { conversation: Some("conv_9".into()), ..server.args() };
    let run = chat(args, "delete\ny\n", &FakeBrowser::absent()).await;
    assert_eq!(run.code, 0);
    let body = &server.requests()[1].body;
    assert_eq!(body["conversation"], "conv_9");
    assert!(body.get("previous_response_id").is_none());
}

#[tokio::test]
async fn end_of_input_at_the_question_exits_cleanly() {
    let server = FakeServer::start(vec![Reply::Sse(approval_answer("resp_1", delete_request()))]).await;
    let run = chat(server.args(), "delete a.txt\n", &FakeBrowser::absent()).await;
    assert_eq!(run.code, 0);
    assert_eq!(server.requests().len(), 1);
}
