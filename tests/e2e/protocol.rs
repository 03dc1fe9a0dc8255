use agenthost_e2e::{Server, assert_well_formed, names, read_events};
use serde_json::{Value, json};

#[tokio::test]
async fn non_streaming_text() {
    let s = Server::start(&[]).await;
    let (status, headers, body) = s.post(&json!({"model":"hosted-agent","input":"hello world"}), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["x-platform-server"], "agenthost/0.1.0 (rust)");
    assert_eq!(headers["x-request-id"].len(), 32);
    assert_eq!(headers["x-agent-session-id"].len(), 63);
    assert_eq!(body["object"], "response");
    assert_eq!(body["status"], "completed");
    assert_eq!(body["model"], "hosted-agent");
    assert_eq!(body["agent_session_id"], headers["x-agent-session-id"].to_str().unwrap());
    let id = body["id"].as_str().unwrap();
    assert!(id.starts_with("caresp_") && id.len() == 57 && &id[23..25] == "00", "{id}");
    let output = body["output"].as_array().unwrap();
    assert_eq!(output.len(), 1);
    let msg = &output[0];
    assert_eq!(msg["type"], "message");
    assert_eq!(msg["role"], "assistant");
    assert_eq!(msg["status"], "completed");
    assert_eq!(msg["response_id"], body["id"]);
    assert_eq!(
        msg["content"],
        json!([{"type":"output_text","text":"You said: hello world","annotations":[],"logprobs":[]}])
    );
    assert!(msg["id"].as_str().unwrap().starts_with(&format!("msg_{}", &id[7..25])));
    assert_eq!(
        body["usage"],
        json!({"input_tokens":2,"input_tokens_details":{"cached_tokens":0},"output_tokens":4,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":6})
    );
    assert_eq!(body["error"], Value::Null);
    assert!(body["completed_at"].is_u64());
    assert_eq!(body["metadata"], json!({}));
}

#[tokio::test]
async fn streaming_text_event_sequence() {
    let s = Server::start(&[]).await;
    let resp = s.sse("/responses", Some(&json!({"input":"hi there","stream":true})), &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream; charset=utf-8");
    assert_eq!(resp.headers()["cache-control"], "no-cache");
    assert_eq!(resp.headers()["x-accel-buffering"], "no");
    assert!(resp.headers().contains_key("x-agent-session-id"));
    let (events, _) = read_events(resp).await;
    assert_well_formed(&events);
    assert_eq!(
        names(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let deltas: Vec<&str> = events.iter().filter_map(|e| e.data["delta"].as_str()).collect();
    assert_eq!(deltas, ["You", " said:", " hi", " there"]);
    assert_eq!(events[0].data["response"]["status"], "in_progress");
    assert_eq!(events[0].data["response"]["output"], json!([]));
    assert_eq!(events[2].data["item"]["content"], json!([]));
    assert_eq!(events[2].data["item"]["status"], "in_progress");
    assert_eq!(events[8].data["text"], "You said: hi there");
    let done = &events[11].data["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"][0]["content"][0]["text"], "You said: hi there");
    // The stored response equals the terminal snapshot.
    let (status, stored) = s.call("GET", &format!("/responses/{}", done["id"].as_str().unwrap()), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(&stored, done);
}

#[tokio::test]
async fn unknown_tool_call_comes_back_as_error_output_the_model_answers() {
    let s = Server::start(&[]).await;
    let resp = s.sse("/responses", Some(&json!({"input":"call:nope {\"x\": 1}","stream":true})), &[]).await;
    let (events, _) = read_events(resp).await;
    assert_well_formed(&events);
    assert_eq!(
        names(&events)[..10],
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
        ]
    );
    let call = &events[5].data["item"];
    assert_eq!(call["type"], "function_call");
    assert_eq!(call["name"], "nope");
    assert_eq!(call["arguments"], "{\"x\":1}");
    let out = &events[7].data["item"];
    assert_eq!(out["type"], "function_call_output");
    assert_eq!(out["call_id"], call["call_id"]);
    assert_eq!(out["output"], "Error: tool 'nope' is not available to this agent");
    assert!(out["id"].as_str().unwrap().starts_with("fco_"));
    let last = &events[events.len() - 1].data["response"];
    assert_eq!(last["status"], "completed");
    assert_eq!(
        last["output"][2]["content"][0]["text"],
        "nope returned: Error: tool 'nope' is not available to this agent"
    );

    // Non-streaming gives the same output items.
    let (_, _, body) = s.post(&json!({"input":"call:nope call:other"}), &[]).await;
    let types: Vec<&str> = body["output"].as_array().unwrap().iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["function_call", "function_call", "function_call_output", "function_call_output", "message"]);
    assert_eq!(
        body["output"][4]["content"][0]["text"],
        "nope returned: Error: tool 'nope' is not available to this agent\nother returned: Error: tool 'other' is not available to this agent"
    );
}

#[tokio::test]
async fn store_false_is_not_retrievable() {
    let s = Server::start(&[]).await;
    let (_, _, body) = s.post(&json!({"input":"x","store":false}), &[]).await;
    assert_eq!(body["status"], "completed");
    assert_eq!(body["store"], false);
    let (status, err) = s.call("GET", &format!("/responses/{}", body["id"].as_str().unwrap()), &[]).await;
    assert_eq!(status, 404);
    assert_eq!(err["error"]["code"], "not_found");
}
