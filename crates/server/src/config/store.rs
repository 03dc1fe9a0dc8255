//! The store section: which backend keeps responses and conversations.

use agenthost_store::MemoryStoreConfig;
use agenthost_store_postgres::PostgresOptions;

use std::time::Duration;

use super::read::{Reader, positive_secs};
use super::{ConfigError, Env, nonempty, vars};
use crate::cli::ServeArgs;

/// Where responses and conversations live.
#[derive(Clone, Debug)]
pub enum StoreBackend {
    /// This process's memory (bounded; lost on restart; one replica only).
    Memory,
    /// PostgreSQL, shared by every replica.
    Postgres(PostgresOptions),
}

impl StoreBackend {
    pub(super) fn read(
        r: &Reader<'_>,
        args: &ServeArgs,
        env: &dyn Env,
        limits: &MemoryStoreConfig,
    ) -> Result<Self, ConfigError> {
        let Some(raw) = args.store.as_deref().map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(StoreBackend::Memory);
        };
        if raw == "memory" {
            return Ok(StoreBackend::Memory);
        }
        if !(raw.starts_with("postgres://") || raw.starts_with("postgresql://")) {
            return Err(ConfigError {
                source_name: r.origin("store"),
                value: agenthost_store_postgres::redact(raw),
                reason: "expected memory or a postgres:// URL".into(),
            });
        }
        if let Err(e) = agenthost_store_postgres::validate_url(raw) {
            return Err(ConfigError {
                source_name: r.origin("store"),
                value: agenthost_store_postgres::redact(raw),
                reason: format!("not a valid PostgreSQL URL: {e}"),
            });
        }
        let password = match args.store_password_file.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| ConfigError {
                        source_name: r.origin("store_password_file"),
                        value: path.to_string(),
                        reason: format!("cannot read the file: {e}"),
                    })?
                    .trim_end_matches(['\n', '\r'])
                    .to_string(),
            ),
            None => nonempty(env, vars::PGPASSWORD),
        };
        Ok(StoreBackend::Postgres(PostgresOptions {
            url: raw.to_string(),
            password,
            max_connections: 16,
            ttl: limits.ttl,
            max_responses: limits.max_responses,
            lease: r.parse(&args.store_lease, "store_lease", Duration::from_secs(30), positive_secs)?,
        }))
    }

    /// `memory`, or the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            StoreBackend::Memory => "memory".into(),
            StoreBackend::Postgres(o) => agenthost_store_postgres::redact(&o.url),
        }
    }
}
