//! Secret strings and bearer tokens whose `Debug`/`Display` never reveal the secret.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A secret string (a token or header value). `Debug` and `Display` print `[redacted]`.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Returns the secret value; use only where it is sent on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// A bearer token and the instant it expires. `Debug` prints the expiry, never the secret.
#[derive(Clone, Debug)]
pub struct AccessToken {
    secret: Secret,
    expires_at: SystemTime,
}

impl AccessToken {
    /// A token that expires at `expires_at`.
    pub fn new(secret: impl Into<Secret>, expires_at: SystemTime) -> Self {
        Self { secret: secret.into(), expires_at }
    }

    /// A token that never expires in practice (its expiry is [`far_future`]).
    pub fn never_expiring(secret: impl Into<Secret>) -> Self {
        Self::new(secret, far_future())
    }

    /// The bearer secret.
    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// When the token stops being valid.
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// Whether the token is no longer valid at `now`.
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        now >= self.expires_at
    }

    /// Time left at `now` (zero once expired).
    pub fn remaining_at(&self, now: SystemTime) -> Duration {
        self.expires_at.duration_since(now).unwrap_or(Duration::ZERO)
    }
}

/// The expiry used for tokens that never expire: 9999-12-31T23:59:59Z where representable.
pub fn far_future() -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_secs(253_402_300_799))
        .or_else(|| UNIX_EPOCH.checked_add(Duration::from_secs(i32::MAX as u64)))
        .unwrap_or(UNIX_EPOCH)
}
