//! The one environment seam, and the error of a setting read through it.

/// A setting could not be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid value {value:?} for {source_name}: {reason}")]
pub struct ConfigError {
    /// The flag or environment variable, e.g. `PORT` or `--port`.
    pub source_name: String,
    /// The offending value.
    pub value: String,
    /// What a valid value looks like.
    pub reason: String,
}

/// Reads the process environment: the only seam through which the server (and every crate below
/// it) sees it.
pub trait Env {
    /// The variable's value, if set.
    fn get(&self, key: &str) -> Option<String>;
}

/// The real process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}
