//! The limits section: how long a body may take, how many runs and streams may be open at once.

use std::time::Duration;

use super::ConfigError;
use super::read::{Reader, positive_secs, positive_usize};
use crate::cli::ServeArgs;

/// Edge limits, enforced before a request costs the server work.
#[derive(Clone, Debug)]
pub struct Limits {
    /// `AGENTHOST_BODY_TIMEOUT`: the whole request body must arrive within this (else 408).
    pub body_timeout: Duration,
    /// `AGENTHOST_MAX_CONCURRENT_RUNS`: responses being produced at once (else 429).
    pub max_concurrent_runs: usize,
    /// `AGENTHOST_MAX_OPEN_STREAMS`: SSE streams open at once (else 429).
    pub max_open_streams: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { body_timeout: Duration::from_secs(30), max_concurrent_runs: 1024, max_open_streams: 1024 }
    }
}

impl Limits {
    pub(super) fn read(r: &Reader<'_>, args: &ServeArgs) -> Result<Self, ConfigError> {
        let d = Limits::default();
        Ok(Limits {
            body_timeout: r.parse(&args.body_timeout, "body_timeout", d.body_timeout, positive_secs)?,
            max_concurrent_runs: r.parse(
                &args.max_concurrent_runs,
                "max_concurrent_runs",
                d.max_concurrent_runs,
                positive_usize,
            )?,
            max_open_streams: r.parse(
                &args.max_open_streams,
                "max_open_streams",
                d.max_open_streams,
                positive_usize,
            )?,
        })
    }
}
