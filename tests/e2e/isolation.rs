//! Isolation under load (issue 15): sixteen users at once, each through consent, a marker
//! toolbox, an approval and a history chain. No user's items, links, tools or errors reach
//! another; another user's ids are 404 to read, continue, cancel, delete and list; metrics carry
//! no user.

use agenthost_e2e::{Server, as_user, pairs, toolbox_env};
use agenthost_mock_proxy::{MockProxy, demo_scenario};
use futures::future::join_all;
use serde_json::{Value, json};

const USERS: usize = 16;

fn types(r: &Value) -> Vec<String> {
    r["output"].as_array().unwrap().iter().map(|i| i["type"].as_str().unwrap().to_string()).collect()
}

async fn one_user(s: &Server, u: usize) -> (String, String) {
    let me = format!("iso{u}");
    let h = |n: u32| as_user(&me, n);
    let marker = json!([{"type": "mcp", "server_label": "demo", "server_url": "foundry-toolbox://demo"}]);
    // Consent: this user's own link.
    let send = json!({"input": format!(r#"call:send_email {{"to":"{me}@example.com"}}"#), "tools": marker});
    let (_, _, first) = s.post(&send, &pairs(&h(1))).await;
    assert_eq!(first["status"], "incomplete", "{me}: {first}");
    let link = first["output"][0]["consent_link"].as_str().unwrap().to_string();
    assert!(link.contains(&format!("user={me}")), "{me} got another user's link: {link}");
    assert_eq!(s.http.get(&link).send().await.unwrap().status(), 200);
    // Approval (echo is approval-gated on this server), then the approved call.
    let (_, _, gated) = s
        .post(
            &json!({"input": format!(r#"call:echo {{"text":"{me}"}}"#), "previous_response_id": first["id"]}),
            &pairs(&h(2)),
        )
        .await;
    assert_eq!(types(&gated), ["function_call", "mcp_approval_request"], "{me}: {gated}");
    let answer =
        json!({"type": "mcp_approval_response", "approval_request_id": gated["output"][1]["id"], "approve": true});
    let (status, _, approved) =
        s.post(&json!({"previous_response_id": gated["id"], "input": [answer]}), &pairs(&h(3))).await;
    assert_eq!(status, 200, "{me}: {approved}");
    assert_eq!(approved["output"][0]["output"], format!("echo: {me}"));
    // The consented tool now runs for this user.
    let (_, _, sent) = s.post(&send, &pairs(&h(4))).await;
    assert_eq!(types(&sent), ["function_call", "function_call_output", "message"], "{me}: {sent}");
    // Everything this user received mentions only this user.
    for r in [&first, &gated, &approved, &sent] {
        let text = r.to_string();
        for other in (0..USERS).filter(|o| *o != u) {
            assert!(
                !text.contains(&format!("iso{other}\"")) && !text.contains(&format!("user=iso{other}&")),
                "{me} saw iso{other}: {text}"
            );
        }
    }
    (gated["id"].as_str().unwrap().to_string(), gated["output"][1]["id"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_users_never_see_each_other() {
    let proxy = MockProxy::start(demo_scenario()).await.unwrap();
    let mut env = toolbox_env(&proxy.base_url(), "demo");
    env.push(("AGENTHOST_REQUIRE_APPROVAL".into(), "echo".into()));
    let s = Server::start(&pairs(&env)).await;
    let owned: Vec<(String, String)> = join_all((0..USERS).map(|u| one_user(&s, u))).await;

    // Another user's ids: 404 to read, list, continue, cancel, delete; approvals unknown.
    for (u, (response, approval)) in owned.iter().enumerate() {
        let intruder = as_user(&format!("iso{}", (u + 1) % USERS), 99);
        let intruder = pairs(&intruder);
        assert_eq!(s.call("GET", &format!("/responses/{response}"), &intruder).await.0, 404);
        assert_eq!(s.call("GET", &format!("/responses/{response}/input_items"), &intruder).await.0, 404);
        assert_eq!(s.call("POST", &format!("/responses/{response}/cancel"), &intruder).await.0, 404);
        assert_eq!(s.call("DELETE", &format!("/responses/{response}"), &intruder).await.0, 404);
        let (status, _, err) = s.post(&json!({"input": "hi", "previous_response_id": response}), &intruder).await;
        assert_eq!((status, err["error"]["code"].as_str()), (404, Some("previous_response_not_found")));
        let answer = json!({"type": "mcp_approval_response", "approval_request_id": approval, "approve": true});
        let (status, _, err) = s.post(&json!({"input": [answer]}), &intruder).await;
        assert_eq!((status, err["error"]["code"].as_str()), (400, Some("unknown_approval_request")));
        // The owner still has it.
        assert_eq!(
            s.call("GET", &format!("/responses/{response}"), &pairs(&as_user(&format!("iso{u}"), 100))).await.0,
            200
        );
    }
    // Readiness never changed for anyone's consent, and metrics carry no user.
    let (_, ready) = s.call("GET", "/readiness", &[]).await;
    assert_eq!(ready["toolboxes"][0]["state"], "ConsentRequired");
    let metrics = s.metrics_text().await;
    assert!(!metrics.contains("iso"), "a user id in the metrics");
    // The proxy never got a user id header.
    assert!(proxy.requests().iter().all(|q| q.header("x-agent-user-id").is_none()));
}
