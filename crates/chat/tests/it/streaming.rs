//! Streaming text, tool lines, history chaining, request bodies and headers.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn repl_streams_the_answer_text_exactly() {
    let server = FakeServer::start(vec![Reply::Sse(text_answer("resp_1", &["Hello", ", ", "world!"]))]).await;
    let run = chat(server.args(), "hi\n", &FakeBrowser::absent()).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.out, format!("{}> Hello, world!\n> \n", banner(&server.url)));
    assert_eq!(run.err, "");
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/responses");
    assert_eq!(requests[0].body, json!({"input": "hi", "stream": true}));
    assert_eq!(requests[0].header("accept").as_deref(), Some("text/event-stream"));
    assert_eq!(requests[0].header("x-agent-user-id"), None);
    assert_eq!(requests[0].header("x-agent-foundry-call-id"), None);
}

#[tokio::test]
async fn prompt_mode_prints_only_the_answer() {
    let server = FakeServer::start(vec![Reply::Sse(text_answer("resp_1", &["Hel", "lo"]))]).await;
    let args = agenthost_chat::ChatArgs { prompt: Some("hi".into()), ..server.args() };
    let run = chat(args, "", &FakeBrowser::absent()).await;
    assert_eq!((run.code, run.out.as_str(), run.err.as_str()), (0, "Hello\n", ""));
}

#[tokio::test]
async fn blank_lines_are_skipped_and_quit_sends_nothing() {
    let server = FakeServer::start(vec![]).await;
    let run = chat(server.args(), "\n   \n/quit\nnever sent\n", &FakeBrowser::absent()).await;
    assert_eq!(run.code, 0);
    assert_eq!(run.out, format!("{}> > > ", banner(&server.url)));
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn previous_response_id_chains_prompts() {
    let server = FakeServer::start(vec![
        Reply::Sse(text_answer("resp_1", &["one"])),
        Reply::Sse(text_answer("resp_2", &["two"])),
        Reply::Sse(text_answer("resp_3", &["three"])),
    ])
    .await;
    let run = chat(server.args(), "a\nb\nc\n", &FakeBrowser::absent()).await;
    assert_eq!(run.code, 0);
    assert_eq!(run.out, format!("{}> one\n> two\n> three\n> \n", banner(&server.url)));
    let bodies: Vec<_> = server.requests().into_iter().map(|r| r.body).collect();
    assert_eq!(
        bodies,
        vec![
            json!({"input": "a", "stream": true}),
            json!({"input": "b", "stream": true, "previous_response_id": "resp_1"}),
            json!({"input": "c", "stream": true, "previous_response_id": "resp_2"}),
        ]
    );
}

#[tokio::test]
async fn conversation_replaces_previous_response_id() {
    let server = FakeServer::start(vec![
        Reply::Sse(text_answer("resp_1", &["one"])),
        Reply::Sse(text_answer("resp_2", &["two"])),
    ])
    .await;
    let args = agenthost_chat::ChatArgs { conversation: Some("conv_1".into()), ..server.args() };
    let run = chat(args, "a\nb\n", &FakeBrowser::absent()).await;
    assert_eq!(run.code, 0);
    let bodies: Vec<_> = server.requests().into_iter().map(|r| r.body).collect();
    assert_eq!(
        bodies,
        vec![
            json!({"input": "a", "stream": true, "conversation": "conv_1"}),
            json!({"input": "b", "stream": true, "conversation": "conv_1"}),
        ]
    );
}

#[tokio::test]
async fn agent_and_model_are_sent() {
    let server = FakeServer::start(vec![Reply::Sse(text_answer("resp_1", &["ok"]))]).await;
    let args = agenthost_chat::ChatArgs {
        agent: Some("mailer".into()),
        model: Some("hosted-agent".into()),
        prompt: Some("hi".into()),
        ..server.args()
    };
    let run = chat(args, "", &FakeBrowser::absent()).await;
    assert_eq!(run.code, 0);
    assert_eq!(
        server.requests()[0].body,
        json!({"input": "hi", "stream": true, "model": "hosted-agent",
               "agent_reference": {"type": "agent_reference", "name": "mailer"}})
    );
}

#[tokio::test]
async fn user_and_call_id_headers_count_per_request() {
    let server = FakeServer::start(vec![
        Reply::Sse(text_answer("resp_1", &["one"])),
        Reply::Sse(text_answer("resp_2", &["two"])),
    ])
    .await;
    let args = agenthost_chat::ChatArgs { user: Some("u".into()), call_id_prefix: Some("p".into()), ..server.args() };
    let run = chat(args, "a\nb\n", &FakeBrowser::absent()).await;
    assert_eq!(run.code, 0);
    let requests = server.requests();
    let seen: Vec<_> =
        requests.iter().map(|r| (r.header("x-agent-user-id"), r.header("x-agent-foundry-call-id"))).collect();
    assert_eq!(seen, vec![(Some("u".into()), Some("p:1".into())), (Some("u".into()), Some("p:2".into())),]);
}

#[tokio::test]
async fn tool_calls_and_results_are_compact_lines() {
    let server = FakeServer::start(vec![Reply::Sse(tool_answer(
        "resp_1",
        "send_email",
        "{\"to\": \"a@b.c\"}",
        "\"sent\"",
        &["Done", "."],
    ))])
    .await;
    let args = agenthost_chat::ChatArgs { prompt: Some("mail".into()), ..server.args() };
    let run = chat(args, "", &FakeBrowser::absent()).await;
    assert_eq!(run.code, 0);
    assert_eq!(run.out, "→ send_email {\"to\":\"a@b.c\"}\n← sent\nDone.\n");
}

#[tokio::test]
async fn json_prints_the_final_response() {
    let server = FakeServer::start(vec![Reply::Sse(text_answer("resp_1", &["Hi"]))]).await;
    let args = agenthost_chat::ChatArgs { prompt: Some("hi".into()), json: true, ..server.args() };
    let run = chat(args, "", &FakeBrowser::absent()).await;
    assert_eq!(run.code, 0);
    let printed: serde_json::Value = serde_json::from_str(&run.out).expect("stdout is JSON");
    assert_eq!(printed, response("resp_1", "completed", vec![message("msg_resp_1", "Hi")]));
}

#[tokio::test]
async fn a_json_body_instead_of_a_stream_is_accepted() {
    let body = response("resp_1", "completed", vec![message("msg_1", "Plain JSON.")]);
    let server = FakeServer::start(vec![Reply::Json(200, body.to_string())]).await;
    let args = agenthost_chat::ChatArgs { prompt: Some("hi".into()), ..server.args() };
    let run = chat(args, "", &FakeBrowser::absent()).await;
    assert_eq!((run.code, run.out.as_str()), (0, "Plain JSON.\n"));
}

#[tokio::test]
async fn microsoft_python_streams_are_understood() {
    let server =
        FakeServer::start(vec![Reply::Sse(fixture("python_text.sse")), Reply::Sse(fixture("python_tool_call.sse"))])
            .await;
    let run = chat(server.args(), "hi\nuse the tool\n", &FakeBrowser::absent()).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.out,
        format!(
            "{}> Hello from the fake model.\n> → echo {}\n← Error: Function failed.\nTool result: Error: Function failed.\n> \n",
            banner(&server.url),
            r#"{"text":"please use the echo tool","to":"a@example.com"}"#
        )
    );
    let second = &server.requests()[1].body;
    assert_eq!(second["previous_response_id"], "caresp_0b7e2166893439f400ZPCCFuVFgrfh0Vzd1JBg08R75VlTnlWd");
}

#[tokio::test]
async fn control_characters_from_the_server_are_not_printed() {
    let server = FakeServer::start(vec![Reply::Sse(text_answer("resp_1", &["a\u{1b}[31mb", "\r\nc"]))]).await;
    let args = agenthost_chat::ChatArgs { prompt: Some("hi".into()), ..server.args() };
    let run = chat(args, "", &FakeBrowser::absent()).await;
    assert_eq!(run.out, "a[31mb\nc\n");
}

#[test]
fn the_run_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let browser = FakeBrowser::absent();
    let fut = agenthost_chat::run_with_io(
        agenthost_chat::ChatArgs::default(),
        tokio::io::empty(),
        std::io::sink(),
        std::io::sink(),
        &browser,
    );
    assert_send(&fut);
}
