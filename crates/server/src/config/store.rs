//! The store section: which backend keeps responses and conversations.

use agenthost_store::MemoryStoreConfig;
use agenthost_store_foundry::FoundryOptions;
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
    /// The Foundry storage API of the project (`FOUNDRY_PROJECT_ENDPOINT`), shared by every
    /// replica; the default in hosted mode.
    Foundry(FoundryOptions),
}

impl StoreBackend {
    pub(super) fn read(
        r: &Reader<'_>,
        args: &ServeArgs,
        env: &dyn Env,
        limits: &MemoryStoreConfig,
    ) -> Result<Self, ConfigError> {
        let hosted = nonempty(env, vars::FOUNDRY_HOSTING_ENVIRONMENT).is_some();
        let raw = match args.store.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(raw) => raw,
            // Hosted, the platform's storage is where the reference stacks keep responses.
            None if hosted => return Self::foundry(r, args, true),
            None => return Ok(StoreBackend::Memory),
        };
        if raw == "memory" {
            return Ok(StoreBackend::Memory);
        }
        if raw == "foundry" {
            return Self::foundry(r, args, false);
        }
        if !(raw.starts_with("postgres://") || raw.starts_with("postgresql://")) {
            return Err(ConfigError {
                source_name: r.origin("store"),
                value: agenthost_store_postgres::redact(raw),
                reason: "expected memory, foundry or a postgres:// URL".into(),
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

    /// `foundry`: the project endpoint, which must be absolute https (http only on loopback).
    fn foundry(r: &Reader<'_>, args: &ServeArgs, by_default: bool) -> Result<Self, ConfigError> {
        let why = if by_default { " (the default store when FOUNDRY_HOSTING_ENVIRONMENT is set)" } else { "" };
        let Some(endpoint) = args.project_endpoint.as_deref().map(str::trim).filter(|e| !e.is_empty()) else {
            return Err(ConfigError {
                source_name: if by_default { vars::FOUNDRY_HOSTING_ENVIRONMENT.into() } else { r.origin("store") },
                value: "foundry".into(),
                reason: format!(
                    "the foundry store{why} needs FOUNDRY_PROJECT_ENDPOINT (--project-endpoint); \
                     name another store with AGENTHOST_STORE"
                ),
            });
        };
        match agenthost_store_foundry::validate_endpoint(endpoint) {
            Ok(_) => Ok(StoreBackend::Foundry(FoundryOptions::new(endpoint))),
            Err(reason) => Err(ConfigError {
                source_name: r.origin("project_endpoint"),
                value: endpoint.to_string(),
                reason: format!("the foundry store{why}: {reason}"),
            }),
        }
    }

    /// `memory`, the URL without its password, or the storage base.
    pub fn describe(&self) -> String {
        match self {
            StoreBackend::Memory => "memory".into(),
            StoreBackend::Postgres(o) => agenthost_store_postgres::redact(&o.url),
            StoreBackend::Foundry(o) => format!("{}/storage", o.endpoint.trim().trim_end_matches('/')),
        }
    }
}
