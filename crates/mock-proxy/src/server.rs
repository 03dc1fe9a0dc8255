//! The listener: a small hyper accept loop (instead of `axum::serve`) so that a fault can close
//! one TCP connection without answering, and shutdown can close them all.

use std::time::Duration;

use axum::{Router, extract::Request};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt;

/// Put in every request's extensions: lets a handler close the connection it arrived on.
#[derive(Debug, Clone)]
pub(crate) struct ConnHandle(CancellationToken);

impl ConnHandle {
    /// Closes the connection as soon as possible, without sending a response.
    pub(crate) fn drop_connection(&self) {
        self.0.cancel();
    }
}

/// Accepts connections until `shutdown` is cancelled; each connection is closed (mid-request
/// if need be) when `shutdown` is cancelled or its [`ConnHandle`] drops it.
pub(crate) async fn serve(listener: TcpListener, router: Router, shutdown: CancellationToken, tracker: TaskTracker) {
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(err) => {
                // E.g. EMFILE: back off a little instead of spinning.
                tracing::warn!(%err, "mock-proxy: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let kill = shutdown.child_token();
        let handle = ConnHandle(kill.clone());
        let router = router.clone();
        tracker.spawn(async move {
            let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(handle.clone());
                router.clone().oneshot(req)
            });
            let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                result = conn => {
                    if let Err(err) = result {
                        tracing::debug!(%err, "mock-proxy: connection ended with an error");
                    }
                }
                // Dropping `conn` drops the socket: the peer sees the connection close.
                () = kill.cancelled() => {}
            }
        });
    }
}
