use agenthost_e2e::Server;
use serde_json::{Value, json};

fn texts(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i["content"].as_array().map_or_else(
                || i["type"].as_str().unwrap().to_string(),
                |c| c.iter().map(|p| p["text"].as_str().unwrap_or("")).collect::<String>(),
            )
        })
        .collect()
}

#[tokio::test]
async fn previous_response_id_chain() {
    let s = Server::start(&[]).await;
    let (_, _, a) = s.post(&json!({"input":"one"}), &[]).await;
    let a_id = a["id"].as_str().unwrap();
    let (status, _, b) = s.post(&json!({"input":"two","previous_response_id":a_id}), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(b["previous_response_id"], a_id);
    // The id continues the partition of its predecessor.
    assert_eq!(&b["id"].as_str().unwrap()[7..25], &a_id[7..25]);
    // The model saw the history: "one" + "You said: one" + "two" = 5 input words.
    assert_eq!(b["usage"]["input_tokens"], 5);
    assert_eq!(b["output"][0]["content"][0]["text"], "You said: two");
    let b_id = b["id"].as_str().unwrap();
    let (status, items) = s.call("GET", &format!("/responses/{b_id}/input_items?order=asc"), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(items["object"], "list");
    assert_eq!(texts(&items), ["one", "You said: one", "two"]);
    assert_eq!(items["has_more"], false);
    assert_eq!(items["first_id"], items["data"][0]["id"]);
    let (_, items) = s.call("GET", &format!("/responses/{b_id}/input_items"), &[]).await;
    assert_eq!(texts(&items), ["two", "You said: one", "one"]);
    let (_, items) = s.call("GET", &format!("/responses/{b_id}/input_items?order=asc&limit=1"), &[]).await;
    assert_eq!((texts(&items), &items["has_more"]), (vec!["one".to_string()], &json!(true)));
}

#[tokio::test]
async fn conversation_history_and_failed_turns_excluded() {
    let s = Server::start(&[]).await;
    for text in ["first", "second"] {
        let (status, _, _) = s.post(&json!({"input":text,"conversation":{"id":"conv_abc"}}), &[]).await;
        assert_eq!(status, 200);
    }
    let (_, _, third) = s.post(&json!({"input":"third","conversation":"conv_abc"}), &[]).await;
    assert_eq!(third["conversation"], json!({"id":"conv_abc"}));
    // first(1) + "You said: first"(3) + second(1) + 3 + third(1)
    assert_eq!(third["usage"]["input_tokens"], 9);
    let (_, items) =
        s.call("GET", &format!("/responses/{}/input_items?order=asc", third["id"].as_str().unwrap()), &[]).await;
    assert_eq!(texts(&items), ["first", "You said: first", "second", "You said: second", "third"]);
    let (status, _, body) =
        s.post(&json!({"input":"x","conversation":"c","previous_response_id":third["id"]}), &[]).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["param"], "conversation");
}

#[tokio::test]
async fn users_are_partitioned() {
    let s = Server::start(&[]).await;
    let alice = [("x-agent-user-id", "alice")];
    let bob = [("x-agent-user-id", "bob")];
    let (_, _, a) = s.post(&json!({"input":"secret plan","conversation":"shared"}), &alice).await;
    let id = a["id"].as_str().unwrap();
    for (method, path) in [
        ("GET", format!("/responses/{id}")),
        ("GET", format!("/responses/{id}/input_items")),
        ("DELETE", format!("/responses/{id}")),
        ("POST", format!("/responses/{id}/cancel")),
    ] {
        let (status, _) = s.call(method, &path, &bob).await;
        assert_eq!(status, 404, "{method} {path}");
        let (status, _) = s.call(method, &path, &[]).await;
        assert_eq!(status, 404, "anonymous {method} {path}");
    }
    let (status, _, _) = s.post(&json!({"input":"x","previous_response_id":id}), &bob).await;
    assert_eq!(status, 404);
    // Same conversation id, different user: no history leaks.
    let (_, _, b) = s.post(&json!({"input":"hi","conversation":"shared"}), &bob).await;
    assert_eq!(b["usage"]["input_tokens"], 1);
    let (status, _) = s.call("GET", &format!("/responses/{id}"), &alice).await;
    assert_eq!(status, 200);
}
