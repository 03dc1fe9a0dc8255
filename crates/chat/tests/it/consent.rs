//! OAuth consent: links shown once, the browser offered, Enter awaited, the same prompt re-sent
//! on the same history, and the loop bounded.

use std::sync::Arc;

use agenthost_chat::ChatArgs;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::support::*;

const LINK: &str = "https://consent.example/login?data=abc";
const LINK2: &str = "https://consent.example/login?data=cal";
const ENTER: &str = "Press Enter after signing in (/cancel to skip, /quit to leave): ";

#[tokio::test]
async fn consent_waits_for_enter_then_resends_the_same_prompt_on_the_same_history() {
    let server = FakeServer::start(vec![
        Reply::Sse(text_answer("resp_1", &["Hello!"])),
        Reply::Sse(consent_answer("resp_2", &[("send_email", LINK)])),
        Reply::Sse(text_answer("resp_3", &["Sent."])),
        Reply::Sse(text_answer("resp_4", &["Bye."])),
    ])
    .await;
    let browser = Arc::new(FakeBrowser::present());
    let out = SharedOut::default();
    let (mut keyboard, input) = tokio::io::duplex(1024);
    let task = {
        let (args, out, browser) = (server.args(), out.clone(), browser.clone());
        tokio::spawn(async move {
            let input = tokio::io::BufReader::new(input);
            agenthost_chat::run_with_io(args, input, out, std::io::sink(), &*browser).await
        })
    };

    keyboard.write_all(b"hi\nsend mail\n").await.expect("type");
    out.wait_for("Open in your browser? [Y/n] ").await;
    assert!(browser.opened().is_empty());
    keyboard.write_all(b"\n").await.expect("type");
    out.wait_for(ENTER).await;
    assert_eq!(browser.opened(), vec![LINK.to_owned()]);
    assert_eq!(server.requests().len(), 2, "nothing is re-sent before Enter");

    keyboard.write_all(b"\nnext\n").await.expect("type");
    drop(keyboard);
    let code = task.await.expect("join");
    assert_eq!(code, 0);
    assert_eq!(
        out.text(),
        format!(
            "{}> Hello!\n> Sign in to send_email: {LINK}\nOpen in your browser? [Y/n] {ENTER}\
             Re-sending your message.\nSent.\n> Bye.\n> \n",
            banner(&server.url)
        )
    );
    let bodies: Vec<_> = server.requests().into_iter().map(|r| r.body).collect();
    let resend = json!({"input": "send mail", "stream": true, "previous_response_id": "resp_1"});
    assert_eq!(bodies[1], resend);
    assert_eq!(bodies[2], resend, "the re-send repeats the original attempt");
    assert_eq!(
        bodies[3],
        json!({"input": "next", "stream": true, "previous_response_id": "resp_3"}),
        "the consent response stays out of the history"
    );
}

#[tokio::test]
async fn distinct_links_are_printed_and_opened_once() {
    let consents = [("send_email", LINK), ("send_email", LINK), ("calendar", LINK2)];
    let server = FakeServer::start(vec![
        Reply::Sse(consent_answer("resp_1", &consents)),
        Reply::Sse(text_answer("resp_2", &["ok"])),
    ])
    .await;
    let browser = FakeBrowser::present();
    let run = chat(server.args(), "go\ny\n\n", &browser).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.out,
        format!(
            "{}> Sign in to send_email: {LINK}\nSign in to calendar: {LINK2}\n\
             Open in your browser? [Y/n] {ENTER}Re-sending your message.\nok\n> \n",
            banner(&server.url)
        )
    );
    assert_eq!(browser.opened(), vec![LINK.to_owned(), LINK2.to_owned()]);
}

#[tokio::test]
async fn without_a_browser_or_with_no_browser_nothing_is_offered() {
    for (args_no_browser, browser) in [(false, FakeBrowser::absent()), (true, FakeBrowser::present())] {
        let server = FakeServer::start(vec![
            Reply::Sse(consent_answer("resp_1", &[("send_email", LINK)])),
            Reply::Sse(text_answer("resp_2", &["ok"])),
        ])
        .await;
        let args = ChatArgs { no_browser: args_no_browser, ..server.args() };
        let run = chat(args, "go\n\n", &browser).await;
        assert_eq!(run.code, 0);
        assert_eq!(
            run.out,
            format!(
                "{}> Sign in to send_email: {LINK}\n{ENTER}Re-sending your message.\nok\n> \n",
                banner(&server.url)
            )
        );
        assert!(browser.opened().is_empty());
    }
}

#[tokio::test]
async fn declining_the_browser_still_waits_and_resends() {
    let server = FakeServer::start(vec![
        Reply::Sse(consent_answer("resp_1", &[("send_email", LINK)])),
        Reply::Sse(text_answer("resp_2", &["ok"])),
    ])
    .await;
    let browser = FakeBrowser::present();
    let run = chat(server.args(), "go\nn\n\n", &browser).await;
    assert_eq!(run.code, 0);
    assert!(browser.opened().is_empty());
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn the_consent_loop_stops_after_max_retries() {
    let consent = |id: &str| Reply::Sse(consent_answer(id, &[("send_email", LINK)]));
    let server = FakeServer::start(vec![consent("resp_1"), consent("resp_2"), consent("resp_3")]).await;
    let run = chat(server.args(), "go\n\n\n\n\n", &FakeBrowser::absent()).await;
    assert_eq!(run.code, 11);
    assert_eq!(server.requests().len(), 3, "one attempt plus two re-sends");
    let sign_in = format!("Sign in to send_email: {LINK}\n{ENTER}Re-sending your message.\n");
    assert_eq!(run.out, format!("{}> {sign_in}{sign_in}", banner(&server.url)));
    assert_eq!(
        run.err,
        "error: send_email still asks for consent after 2 re-send(s); stopping instead of looping\n\
         Likely causes:\n\
         \x20 - the connection is missing scopes the tool needs (check the OAuth connection's scopes)\n\
         \x20 - the redirect URI is not registered with the OAuth app, so sign-in never completed\n\
         \x20 - consent was given in another account or tenant than the user the agent runs as\n\
         \x20 - the toolbox source fails right after consent (check the server and proxy logs)\n"
    );
}

#[tokio::test]
async fn max_consent_retries_zero_never_resends() {
    let server = FakeServer::start(vec![Reply::Sse(consent_answer("resp_1", &[("s", LINK)]))]).await;
    let args = ChatArgs { max_consent_retries: 0, ..server.args() };
    let run = chat(args, "go\n\n", &FakeBrowser::absent()).await;
    assert_eq!(run.code, 11);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn only_the_same_source_asking_right_after_counts() {
    let server = FakeServer::start(vec![
        Reply::Sse(consent_answer("resp_1", &[("send_email", LINK)])),
        Reply::Sse(consent_answer("resp_2", &[("calendar", LINK2)])),
        Reply::Sse(consent_answer("resp_3", &[("send_email", LINK)])),
        Reply::Sse(text_answer("resp_4", &["ok"])),
    ])
    .await;
    let args = ChatArgs { max_consent_retries: 1, ..server.args() };
    let run = chat(args, "go\n\n\n\n", &FakeBrowser::absent()).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(server.requests().len(), 4);
    assert!(run.out.ends_with("Re-sending your message.\nok\n> \n"), "{}", run.out);
}

#[tokio::test]
async fn cancel_returns_to_the_prompt_without_resending() {
    let server = FakeServer::start(vec![
        Reply::Sse(consent_answer("resp_1", &[("send_email", LINK)])),
        Reply::Sse(text_answer("resp_2", &["other"])),
    ])
    .await;
    let run = chat(server.args(), "go\n/cancel\nsomething else\n", &FakeBrowser::absent()).await;
    assert_eq!(run.code, 0);
    let bodies: Vec<_> = server.requests().into_iter().map(|r| r.body).collect();
    assert_eq!(bodies[1], json!({"input": "something else", "stream": true}));
}

#[tokio::test]
async fn invalid_links_are_reported_and_never_opened() {
    let server = FakeServer::start(vec![
        Reply::Sse(consent_answer("resp_1", &[("evil", "javascript:alert(1)")])),
        Reply::Sse(consent_answer("resp_2", &[("plain", "http://consent.example/x")])),
    ])
    .await;
    let browser = FakeBrowser::present();
    let run = chat(server.args(), "a\nb\n", &browser).await;
    assert_eq!(run.code, 0);
    assert!(browser.opened().is_empty());
    assert_eq!(run.out, format!("{}> > > \n", banner(&server.url)));
    assert_eq!(
        run.err,
        "warning: invalid consent link from evil (not shown or opened): the link is not an absolute https:// URL\n\
         error: consent is required, but the server sent no usable sign-in link\n\
         warning: invalid consent link from plain (not shown or opened): the link uses http:// for a non-loopback host\n\
         error: consent is required, but the server sent no usable sign-in link\n"
    );
    assert_eq!(server.requests().len(), 2, "nothing re-sent");
}

#[tokio::test]
async fn the_consent_requested_event_shape_is_accepted() {
    let events = vec![
        json!({"type": "response.created", "response": response("resp_1", "in_progress", vec![])}),
        json!({"type": "response.oauth_consent_requested", "id": "oacr_1", "output_index": 0,
               "consent_link": LINK, "server_label": "send_email"}),
        // Python AF ends call-time consent `completed`, without the item in the output.
        json!({"type": "response.completed", "response": response("resp_1", "completed", vec![])}),
    ];
    let server = FakeServer::start(vec![Reply::Sse(sse(events))]).await;
    let args = ChatArgs { prompt: Some("go".into()), ..server.args() };
    let run = chat(args, "", &FakeBrowser::present()).await;
    assert_eq!(run.code, 10);
    assert_eq!(run.out, format!("Sign in to send_email: {LINK}\n"));
}

#[tokio::test]
async fn the_python_consent_stream_needs_consent() {
    let server = FakeServer::start(vec![Reply::Sse(fixture("python_consent.sse"))]).await;
    let args = ChatArgs { prompt: Some("go".into()), ..server.args() };
    let run = chat(args, "", &FakeBrowser::present()).await;
    assert_eq!(run.code, 10);
    assert_eq!(run.out, format!("Sign in to send_email: {LINK}\n"));
    assert_eq!(run.err, "error: consent required by send_email; sign in with the link above, then run again\n");
}

#[tokio::test]
async fn quit_at_the_browser_question_leaves_without_resending() {
    let server = FakeServer::start(vec![Reply::Sse(consent_answer("resp_1", &[("send_email", LINK)]))]).await;
    let browser = FakeBrowser::present();
    let run = chat(server.args(), "go\n/quit\n\n", &browser).await;
    assert_eq!(run.code, 0);
    assert!(browser.opened().is_empty());
    assert_eq!(server.requests().len(), 1);
}
