//! Non-interactive (`--prompt`) exit codes, and the REPL carrying on after errors.

use agenthost_chat::{ChatArgs, exit};
use serde_json::json;

use crate::support::*;

fn once(server: &FakeServer) -> ChatArgs {
    ChatArgs { prompt: Some("hi".into()), ..server.args() }
}

#[test]
fn the_codes_are_distinct_and_as_documented() {
    let codes = [
        exit::OK,
        exit::USAGE,
        exit::UNREACHABLE,
        exit::HTTP_CLIENT_ERROR,
        exit::HTTP_SERVER_ERROR,
        exit::STREAM_ENDED,
        exit::RESPONSE_FAILED,
        exit::CONSENT_REQUIRED,
        exit::CONSENT_LOOP,
        exit::APPROVAL_REQUIRED,
    ];
    assert_eq!(codes, [0, 2, 3, 4, 5, 6, 7, 10, 11, 12]);
    for code in codes {
        assert!(exit::EXIT_CODES_HELP.contains(&format!("\n  {code} ")), "{code} documented");
    }
}

#[tokio::test]
async fn ok_is_0() {
    let server = FakeServer::start(vec![Reply::Sse(text_answer("resp_1", &["fine"]))]).await;
    let run = chat(once(&server), "", &FakeBrowser::absent()).await;
    assert_eq!((run.code, run.out.as_str(), run.err.as_str()), (0, "fine\n", ""));
}

#[tokio::test]
async fn unreachable_is_3() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let args = ChatArgs { url: url.clone(), prompt: Some("hi".into()), ..ChatArgs::default() };
    let run = chat(args, "", &FakeBrowser::absent()).await;
    assert_eq!(run.code, 3);
    assert_eq!(run.out, "");
    let prefix = format!("error: cannot reach {url}/responses: ");
    assert!(run.err.starts_with(&prefix), "{}", run.err);
    assert!(run.err.to_lowercase().contains("refused"), "{}", run.err);
    assert_eq!(run.err.lines().count(), 1);
}

#[tokio::test]
async fn http_4xx_is_4_with_the_envelope() {
    let envelope = json!({"error": {"message": "Malformed identifier.", "type": "invalid_request_error",
        "param": "$.previous_response_id", "code": "invalid_request_error"}});
    let server = FakeServer::start(vec![Reply::Json(400, envelope.to_string())]).await;
    let run = chat(once(&server), "", &FakeBrowser::absent()).await;
    assert_eq!(run.code, 4);
    assert_eq!(run.err, "error: HTTP 400: invalid_request_error: Malformed identifier.\n");
}

#[tokio::test]
async fn http_4xx_without_an_envelope_quotes_the_body() {
    let server = FakeServer::start(vec![Reply::Json(404, "not here\n".into())]).await;
    let run = chat(once(&server), "", &FakeBrowser::absent()).await;
    assert_eq!((run.code, run.err.as_str()), (4, "error: HTTP 404: not here\n"));
}

#[tokio::test]
async fn http_5xx_is_5() {
    let envelope = json!({"error": {"code": "unsupported_container_protocol_version",
        "message": "Unsupported responses protocol version."}});
    let server = FakeServer::start(vec![Reply::Json(501, envelope.to_string())]).await;
    let run = chat(once(&server), "", &FakeBrowser::absent()).await;
    assert_eq!(run.code, 5);
    assert_eq!(
        run.err,
        "error: HTTP 501: unsupported_container_protocol_version: Unsupported responses protocol version.\n"
    );
}

#[tokio::test]
async fn a_stream_without_terminal_event_is_6() {
    let server = FakeServer::start(vec![Reply::Sse(truncated_answer("resp_1"))]).await;
    let run = chat(once(&server), "", &FakeBrowser::absent()).await;
    assert_eq!(run.code, 6);
    assert_eq!(run.out, "Half\n");
    assert_eq!(run.err, "error: the stream ended without a terminal event\n");
}

#[tokio::test]
async fn a_server_dying_mid_stream_is_6() {
    let url = dying_server(chunked_prefix(&truncated_answer("resp_1"))).await;
    let args = ChatArgs { url, prompt: Some("hi".into()), ..ChatArgs::default() };
    let run = chat(args, "", &FakeBrowser::absent()).await;
    assert_eq!(run.code, 6);
    assert_eq!(run.out, "Half\n");
    assert!(run.err.starts_with("error: the stream ended without a terminal event: "), "{}", run.err);
    assert_eq!(run.err.lines().count(), 1);
}

#[tokio::test]
async fn a_server_dying_before_answering_is_6() {
    let url = dying_server(String::new()).await;
    let args = ChatArgs { url, prompt: Some("hi".into()), ..ChatArgs::default() };
    let run = chat(args, "", &FakeBrowser::absent()).await;
    assert_eq!(run.code, 6, "{run:?}");
    assert!(
        run.err.starts_with(
            "error: the stream ended without a terminal event: the server closed the connection before answering"
        ),
        "{}",
        run.err
    );
}

#[tokio::test]
async fn a_failed_response_is_7() {
    let server = FakeServer::start(vec![Reply::Sse(failed_answer("resp_1", "server_error", "boom"))]).await;
    let run = chat(once(&server), "", &FakeBrowser::absent()).await;
    assert_eq!(run.code, 7);
    assert_eq!(run.err, "error: response failed: server_error: boom\n");
}

#[tokio::test]
async fn a_failed_response_with_json_prints_it_and_is_7() {
    let server = FakeServer::start(vec![Reply::Sse(failed_answer("resp_1", "server_error", "boom"))]).await;
    let args = ChatArgs { json: true, ..once(&server) };
    let run = chat(args, "", &FakeBrowser::absent()).await;
    assert_eq!(run.code, 7);
    let printed: serde_json::Value = serde_json::from_str(&run.out).expect("JSON");
    assert_eq!(printed["status"], "failed");
    assert_eq!(printed["error"], json!({"code": "server_error", "message": "boom"}));
}

#[tokio::test]
async fn an_error_event_is_7() {
    let events = vec![json!({"type": "error", "code": "invalid_request_error", "message": "bad", "param": null})];
    let server = FakeServer::start(vec![Reply::Sse(sse(events))]).await;
    let run = chat(once(&server), "", &FakeBrowser::absent()).await;
    assert_eq!(run.code, 7);
    assert_eq!(run.err, "error: the server sent an error event: invalid_request_error: bad\n");
}

#[tokio::test]
async fn consent_is_10_and_json_keeps_stdout_json() {
    let link = "https://consent.example/login?data=abc";
    let server = FakeServer::start(vec![Reply::Sse(consent_answer("resp_1", &[("send_email", link)]))]).await;
    let args = ChatArgs { json: true, ..once(&server) };
    let run = chat(args, "", &FakeBrowser::present()).await;
    assert_eq!(run.code, 10);
    let printed: serde_json::Value = serde_json::from_str(&run.out).expect("JSON");
    assert_eq!(printed["output"][0]["consent_link"], link);
    assert_eq!(run.err, "error: consent required by send_email; the sign-in links are in the response JSON\n");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn approval_is_12() {
    let item = approval_item("mcpr_1", "agent_framework", "delete_file", "{\"path\":\"a.txt\"}");
    let server = FakeServer::start(vec![Reply::Sse(approval_answer("resp_1", item))]).await;
    let run = chat(once(&server), "", &FakeBrowser::absent()).await;
    assert_eq!(run.code, 12);
    assert_eq!(run.out, "Approval requested: delete_file (agent_framework)\n{\n  \"path\": \"a.txt\"\n}\n");
    assert_eq!(run.err, "error: approval required for delete_file; answer it in the interactive chat\n");
}

#[tokio::test]
async fn approval_with_json_is_12() {
    let item = approval_item("mcpr_1", "agent_framework", "delete_file", "{}");
    let server = FakeServer::start(vec![Reply::Sse(approval_answer("resp_1", item))]).await;
    let args = ChatArgs { json: true, ..once(&server) };
    let run = chat(args, "", &FakeBrowser::absent()).await;
    assert_eq!(run.code, 12);
    let printed: serde_json::Value = serde_json::from_str(&run.out).expect("JSON");
    assert_eq!(printed["output"][0]["type"], "mcp_approval_request");
}

#[tokio::test]
async fn usage_errors_are_2() {
    for (args, message) in [
        (
            ChatArgs { url: "ftp://x".into(), ..ChatArgs::default() },
            "error: --url \"ftp://x\" must be an http:// or https:// URL\n",
        ),
        (
            ChatArgs { url: "not a url".into(), ..ChatArgs::default() },
            "error: --url \"not a url\" is not a URL: relative URL without a base\n",
        ),
        (ChatArgs { user: Some(" ".into()), ..ChatArgs::default() }, "error: --user must not be empty\n"),
        (
            ChatArgs { user: Some("ü".into()), ..ChatArgs::default() },
            "error: --user must be printable ASCII (it is sent as a header)\n",
        ),
        (ChatArgs { prompt: Some("".into()), ..ChatArgs::default() }, "error: --prompt must not be empty\n"),
    ] {
        let run = chat(args, "", &FakeBrowser::absent()).await;
        assert_eq!((run.code, run.err.as_str()), (2, message));
    }
}

#[tokio::test]
async fn the_repl_reports_errors_and_carries_on() {
    let envelope = json!({"error": {"code": "server_error", "message": "An internal server error occurred."}});
    let server = FakeServer::start(vec![
        Reply::Json(500, envelope.to_string()),
        Reply::Sse(failed_answer("resp_x", "server_error", "boom")),
        Reply::Sse(text_answer("resp_1", &["fine"])),
    ])
    .await;
    let run = chat(server.args(), "a\nb\nc\n", &FakeBrowser::absent()).await;
    assert_eq!(run.code, 0);
    assert_eq!(run.out, format!("{}> > > fine\n> \n", banner(&server.url)));
    assert_eq!(
        run.err,
        "error: HTTP 500: server_error: An internal server error occurred.\n\
         error: response failed: server_error: boom\n"
    );
    let bodies: Vec<_> = server.requests().into_iter().map(|r| r.body).collect();
    assert!(bodies[2].get("previous_response_id").is_none(), "failures stay out of the history");
}
