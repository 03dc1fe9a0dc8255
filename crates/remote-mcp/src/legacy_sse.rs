//! The older MCP HTTP+SSE transport (protocol 2024-11-05), for servers that offer only that:
//! `GET` the URL opens an event stream whose first `endpoint` event names where to `POST`
//! messages; the server's messages arrive as `message` events on the stream.
//!
//! The endpoint must be on the server's own origin (a server cannot send our messages, and the
//! request's credentials, elsewhere). The connection's HTTP client carries the outbound-safety
//! guard like every other request `mcp` connection.

use std::borrow::Cow;
use std::time::Duration;

use futures::StreamExt;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue};
use rmcp::RoleClient;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use sse_stream::SseStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::error::{LegacySseError, McpError, from_reqwest};

/// Messages buffered from the stream before the client reads them.
const BUFFER: usize = 64;

/// An open HTTP+SSE connection.
pub struct LegacySse {
    client: reqwest::Client,
    endpoint: Url,
    headers: HeaderMap,
    incoming: mpsc::Receiver<ServerJsonRpcMessage>,
    reader: CancellationToken,
}

impl Drop for LegacySse {
    fn drop(&mut self) {
        self.reader.cancel();
    }
}

fn status_error(status: u16, had_credentials: bool) -> McpError {
    match status {
        401 | 403 => McpError::Unauthorized { status, resource_metadata: None, had_credentials },
        other => McpError::Http(other),
    }
}

impl LegacySse {
    /// Opens the event stream at `url` and waits (up to `timeout`) for its `endpoint` event.
    pub async fn connect(
        client: reqwest::Client,
        url: &str,
        headers: &[(HeaderName, HeaderValue)],
        timeout: Duration,
    ) -> Result<Self, McpError> {
        let url = Url::parse(url).map_err(|e| McpError::Protocol(format!("invalid server URL: {e}")))?;
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(name.clone(), value.clone());
        }
        let had_credentials = !headers.is_empty();
        let open = async {
            let response = client
                .get(url.clone())
                .headers(map.clone())
                .header(ACCEPT, "text/event-stream")
                .send()
                .await
                .map_err(|e| from_reqwest(&e))?;
            if !response.status().is_success() {
                let challenge = response.headers().get("www-authenticate").and_then(|v| v.to_str().ok());
                return Err(match (response.status().as_u16(), challenge) {
                    (401, Some(challenge)) => McpError::Unauthorized {
                        status: 401,
                        resource_metadata: crate::error::resource_metadata(challenge),
                        had_credentials,
                    },
                    (status, _) => status_error(status, had_credentials),
                });
            }
            let mut events = SseStream::from_bytes_stream(response.bytes_stream());
            // The first event names the endpoint.
            let endpoint = loop {
                match events.next().await {
                    Some(Ok(event)) if event.event.as_deref() == Some("endpoint") => {
                        break event.data.unwrap_or_default();
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(McpError::Protocol(format!("the event stream broke: {e}"))),
                    None => return Err(McpError::Protocol("the event stream ended before naming an endpoint".into())),
                }
            };
            let endpoint = url
                .join(endpoint.trim())
                .map_err(|e| McpError::Protocol(format!("the server named an invalid endpoint: {e}")))?;
            if endpoint.origin() != url.origin() {
                return Err(McpError::Protocol("the server named an endpoint on another origin".into()));
            }
            Ok((endpoint, events))
        };
        let (endpoint, mut events) =
            tokio::time::timeout(timeout, open).await.map_err(|_| McpError::Timeout(timeout))??;

        let (tx, incoming) = mpsc::channel(BUFFER);
        let reader = CancellationToken::new();
        let stop = reader.clone();
        tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    () = stop.cancelled() => return,
                    event = events.next() => event,
                };
                match event {
                    Some(Ok(event)) if matches!(event.event.as_deref(), None | Some("message")) => {
                        let Some(data) = event.data else { continue };
                        match serde_json::from_str::<ServerJsonRpcMessage>(&data) {
                            Ok(message) => {
                                if tx.send(message).await.is_err() {
                                    return;
                                }
                            }
                            Err(e) => tracing::debug!("dropped an unparseable legacy SSE message: {e}"),
                        }
                    }
                    Some(Ok(_)) => {}
                    // The receiver sees the channel close: the transport is gone.
                    Some(Err(_)) | None => return,
                }
            }
        });
        Ok(LegacySse { client, endpoint, headers: map, incoming, reader })
    }
}

impl Transport<RoleClient> for LegacySse {
    type Error = LegacySseError;

    fn name() -> Cow<'static, str> {
        "legacy-http-sse".into()
    }

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let client = self.client.clone();
        let endpoint = self.endpoint.clone();
        let headers = self.headers.clone();
        let had_credentials = !headers.is_empty();
        async move {
            let message: &ClientJsonRpcMessage = &item;
            let body = serde_json::to_vec(message).map_err(|e| LegacySseError(McpError::Protocol(e.to_string())))?;
            let response = client
                .post(endpoint)
                .headers(headers)
                .header(CONTENT_TYPE, "application/json")
                .body(body)
                .send()
                .await
                .map_err(|e| LegacySseError(from_reqwest(&e)))?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(LegacySseError(status_error(response.status().as_u16(), had_credentials)))
            }
        }
    }

    fn receive(&mut self) -> impl Future<Output = Option<RxJsonRpcMessage<RoleClient>>> + Send {
        self.incoming.recv()
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.reader.cancel();
        std::future::ready(Ok(()))
    }
}
