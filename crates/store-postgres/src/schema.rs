//! The embedded schema and the advisory lock that serializes applying it.

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i32 = 4;

/// The schema, idempotent.
pub(crate) const SQL: &str = include_str!("schema.sql");

/// `pg_advisory_xact_lock` key for migrations ("agenthst" in ASCII).
pub(crate) const LOCK_KEY: i64 = 0x6167_656e_7468_7374;
