//! `agenthost demo`: the server with an embedded mock toolbox proxy, so the whole consent flow
//! can be tried on one machine with curl or `agenthost chat`.

use std::net::SocketAddr;
use std::sync::Arc;

use agenthost_identity::{StaticToken, TokenProvider};
use agenthost_mock_proxy::{MockProxy, demo_scenario};

use crate::cli::{DemoArgs, ServeArgs};
use crate::config::{Config, ProcessEnv};
use crate::serve;

/// Starts the mock proxy and the server, prints the walkthrough, serves until SIGTERM.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let proxy = MockProxy::start_on(demo_scenario(), SocketAddr::from(([127, 0, 0, 1], args.proxy_port))).await?;
    let serve_args = ServeArgs {
        host: Some("127.0.0.1".into()),
        port: Some(args.port.to_string()),
        metrics_port: Some(args.metrics_port.to_string()),
        toolboxes: vec!["demo".into()],
        project_endpoint: Some(proxy.base_url()),
        allow_loopback_consent_links: Some("true".into()),
        playground: Some("true".into()),
        ..ServeArgs::default()
    };
    let config = Config::from_args(&serve_args, None, &ProcessEnv)?;
    // The mock proxy accepts any bearer token; a static one keeps the demo offline.
    let token: Arc<dyn TokenProvider> = Arc::new(StaticToken::new("demo-token"));
    let app = serve::build(config, Some(token))?;
    println!("{}", walkthrough(args.port, &proxy.base_url()));
    let result = serve::run(app).await;
    proxy.shutdown().await;
    result
}

fn walkthrough(port: u16, proxy: &str) -> String {
    let base = format!("http://127.0.0.1:{port}");
    format!(
        r#"
agenthost demo
  playground    {base}/playground   (open this in a browser)
  server        {base}   (scripted model)
  toolbox proxy {proxy}   (mock; toolbox "demo": echo, send_email)

send_email needs each user to sign in; echo always works. In the playground, pick a
user, send the suggested prompt, click "Sign in to send_email", and the page re-sends
on its own when the sign-in window closes. From a terminal:

1. Ask as alice for the email tool. The response ends "incomplete" with an
   oauth_consent_request item carrying a consent_link:

   curl -s {base}/responses -H 'content-type: application/json' \
     -H 'x-agent-user-id: alice' -H 'x-agent-foundry-call-id: alice:1' \
     -d '{{"input":"call:send_email {{\"to\":\"bob@example.com\"}}"}}'

2. Open the consent_link in a browser, or: curl -s '<consent_link>'

3. Send the same request again: the tool runs ("send_email returned: sent").
   Bob still gets his own consent link: try step 1 with x-agent-user-id: bob.

Or let the reference client do the loop:

   agenthost chat --url {base} --user alice --call-id-prefix alice
"#
    )
}
