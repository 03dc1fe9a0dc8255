use agenthost_e2e::{EventReader, Server, assert_well_formed, names, read_events};
use serde_json::json;

#[tokio::test]
async fn background_returns_at_once_then_replays_from_any_point() {
    let s = Server::start(&[("AGENTHOST_SCRIPTED_PACE_MS", "20")]).await;
    let (status, _, created) = s.post(&json!({"input":"one two three","background":true,"stream":false}), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(created["status"], "queued");
    assert_eq!(created["background"], true);
    assert_eq!(created["output"], json!([]));
    let id = created["id"].as_str().unwrap();
    // Not created with stream=true: no replay.
    let (status, body) = s.call("GET", &format!("/responses/{id}?stream=true"), &[]).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["param"], "stream");

    // Background + stream: the live stream, then replays.
    let resp = s.sse("/responses", Some(&json!({"input":"a b","background":true,"stream":true})), &[]).await;
    let (live, _) = read_events(resp).await;
    assert_well_formed(&live);
    let id = live[0].data["response"]["id"].as_str().unwrap().to_string();
    assert_eq!(live[0].data["response"]["status"], "queued");
    let (replay, _) = read_events(s.sse(&format!("/responses/{id}?stream=true"), None, &[]).await).await;
    assert_eq!(names(&replay), names(&live));
    assert_eq!(replay.last().unwrap().data, live.last().unwrap().data);
    let (tail, _) = read_events(s.sse(&format!("/responses/{id}?stream=true&starting_after=5"), None, &[]).await).await;
    assert_eq!(tail[0].data["sequence_number"], 6);
    assert_eq!(tail.len(), live.len() - 6);
    let (none, _) =
        read_events(s.sse(&format!("/responses/{id}?stream=true&starting_after=999"), None, &[]).await).await;
    assert!(none.is_empty());
    let resp = s.sse(&format!("/responses/{id}?stream=true"), None, &[("last-event-id", "8")]).await;
    let (tail, _) = read_events(resp).await;
    assert_eq!(tail[0].data["sequence_number"], 9);
    let (status, body) = s.call("GET", &format!("/responses/{id}"), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "completed");
}

#[tokio::test]
async fn background_survives_the_client_and_can_be_cancelled() {
    let s = Server::start(&[("AGENTHOST_SCRIPTED_PACE_MS", "200")]).await;
    let resp = s
        .sse(
            "/responses",
            Some(&json!({"input":"w1 w2 w3 w4 w5 w6 w7 w8 w9 w10","background":true,"stream":true})),
            &[],
        )
        .await;
    let mut reader = EventReader::new(resp);
    let first = reader.next().await.unwrap();
    let id = first.data["response"]["id"].as_str().unwrap().to_string();
    drop(reader); // the client goes away; the run goes on
    let (status, live) = s.call("GET", &format!("/responses/{id}"), &[]).await;
    assert_eq!(status, 200);
    assert!(matches!(live["status"].as_str(), Some("queued" | "in_progress")), "{live}");
    let (status, cannot) = s.call("DELETE", &format!("/responses/{id}"), &[]).await;
    assert_eq!(status, 400);
    assert!(cannot["error"]["message"].as_str().unwrap().contains("in progress"));

    let (status, cancelled) = s.call("POST", &format!("/responses/{id}/cancel"), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["output"], json!([]));
    // Idempotent.
    let (status, again) = s.call("POST", &format!("/responses/{id}/cancel"), &[]).await;
    assert_eq!((status, &again["status"]), (200, &json!("cancelled")));
    // The replayed stream ends with response.failed carrying status cancelled.
    let (events, _) = read_events(s.sse(&format!("/responses/{id}?stream=true"), None, &[]).await).await;
    assert_well_formed(&events);
    let last = events.last().unwrap();
    assert_eq!(last.name, "response.failed");
    assert_eq!(last.data["response"]["status"], "cancelled");
}

#[tokio::test]
async fn cancel_delete_and_get_rules_for_finished_responses() {
    let s = Server::start(&[]).await;
    let (_, _, sync) = s.post(&json!({"input":"x"}), &[]).await;
    let sync_id = sync["id"].as_str().unwrap();
    let (status, body) = s.call("POST", &format!("/responses/{sync_id}/cancel"), &[]).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["message"], "Cannot cancel a synchronous response.");

    let resp = s.sse("/responses", Some(&json!({"input":"x","background":true,"stream":true})), &[]).await;
    let (events, _) = read_events(resp).await;
    let bg_id = events[0].data["response"]["id"].as_str().unwrap().to_string();
    let (status, body) = s.call("POST", &format!("/responses/{bg_id}/cancel"), &[]).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["message"], "Cannot cancel a completed response.");

    let (status, body) = s.call("DELETE", &format!("/responses/{sync_id}"), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"id": sync_id, "object": "response.deleted", "deleted": true}));
    let (status, body) = s.call("GET", &format!("/responses/{sync_id}"), &[]).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "response_deleted");
    let (status, _) = s.call("GET", &format!("/responses/{sync_id}/input_items"), &[]).await;
    assert_eq!(status, 400);
    let (status, _) = s.call("DELETE", &format!("/responses/{sync_id}"), &[]).await;
    assert_eq!(status, 400);
    let (status, _) =
        s.call("DELETE", "/responses/caresp_0123456789abcdef00ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", &[]).await;
    assert_eq!(status, 404);
    let (status, _) =
        s.call("POST", "/responses/caresp_0123456789abcdef00ABCDEFGHIJKLMNOPQRSTUVWXYZ012345/cancel", &[]).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn in_flight_synchronous_responses_are_not_visible() {
    let s = Server::start(&[("AGENTHOST_SCRIPTED_PACE_MS", "100")]).await;
    let resp = s.sse("/responses", Some(&json!({"input":"a b c d e f","stream":true})), &[]).await;
    let mut reader = EventReader::new(resp);
    let first = reader.next().await.unwrap();
    let id = first.data["response"]["id"].as_str().unwrap().to_string();
    let (status, _) = s.call("GET", &format!("/responses/{id}"), &[]).await;
    assert_eq!(status, 404);
    let (status, _) = s.call("POST", &format!("/responses/{id}/cancel"), &[]).await;
    assert_eq!(status, 404);
    while reader.next().await.is_some() {}
    let (status, _) = s.call("GET", &format!("/responses/{id}"), &[]).await;
    assert_eq!(status, 200);
}
