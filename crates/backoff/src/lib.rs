//! Retry delays, one way for every client of the server (model, toolbox proxy, identity
//! endpoint, Foundry storage): exponential backoff with "equal jitter", and the delay a server
//! asks for in `Retry-After`.
//!
//! Which failures are retried, how often, and how long a `Retry-After` may ask for stay with
//! each client: they depend on what repeating its calls can cause.

use std::time::{Duration, SystemTime};

use http::HeaderMap;
use rand::Rng;

/// The delay before retry number `attempt` (counting from 1): `base · 2^(attempt-1)`, capped at
/// `max`, then "equal jitter" (uniform between half and all of it), so clients that failed
/// together do not come back together.
pub fn backoff(base: Duration, max: Duration, attempt: u32) -> Duration {
    let shift = attempt.saturating_sub(1).min(20);
    let full = base.saturating_mul(1u32 << shift).min(max);
    let half = full / 2;
    let spread = u64::try_from(full.saturating_sub(half).as_nanos()).unwrap_or(u64::MAX);
    let jitter = if spread == 0 { 0 } else { rand::rng().random_range(0..=spread) };
    half + Duration::from_nanos(jitter)
}

/// The delay a response asks for: `retry-after-ms` or `x-ms-retry-after-ms` (Azure, in
/// milliseconds), else `Retry-After` (see [`parse_retry_after`]).
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = text(name).and_then(|v| v.parse::<f64>().ok())
            && ms.is_finite()
            && ms >= 0.0
        {
            return Some(Duration::from_secs_f64(ms.min(1e12) / 1000.0));
        }
    }
    parse_retry_after(text("retry-after")?, now)
}

/// One `Retry-After` value (RFC 9110 §10.2.3): delay-seconds (fractions accepted) or an HTTP
/// date; a date in the past means now. Anything else is `None`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(1e9)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_a_cap() {
        let base = Duration::from_millis(100);
        let max = Duration::from_millis(350);
        for _ in 0..50 {
            let d1 = backoff(base, max, 1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= base, "{d1:?}");
            let d2 = backoff(base, max, 2);
            assert!(d2 >= Duration::from_millis(100) && d2 <= Duration::from_millis(200), "{d2:?}");
            let d9 = backoff(base, max, 9);
            assert!(d9 >= Duration::from_millis(175) && d9 <= max, "{d9:?}");
        }
        assert!(backoff(base, max, u32::MAX) <= max);
        assert!(backoff(base, max, 0) <= base, "attempt 0 counts as the first");
        assert_eq!(backoff(Duration::ZERO, max, 3), Duration::ZERO);
    }

    #[test]
    fn jitter_spreads_the_delays() {
        let base = Duration::from_secs(1);
        let delays: std::collections::HashSet<Duration> = (0..20).map(|_| backoff(base, base, 1)).collect();
        assert!(delays.len() > 1, "{delays:?}");
    }

    #[test]
    fn retry_after_header_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(retry_after(&headers(&[("retry-after", "2")]), now), Some(Duration::from_secs(2)));
        assert_eq!(retry_after(&headers(&[("retry-after", " 7 ")]), now), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(&headers(&[("retry-after", "0.25")]), now), Some(Duration::from_millis(250)));
        assert_eq!(
            retry_after(&headers(&[("retry-after", "7"), ("retry-after-ms", "150")]), now),
            Some(Duration::from_millis(150))
        );
        assert_eq!(retry_after(&headers(&[("x-ms-retry-after-ms", "40")]), now), Some(Duration::from_millis(40)));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(retry_after(&headers(&[("retry-after", &date)]), now), Some(Duration::from_secs(30)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(retry_after(&headers(&[("retry-after", &past)]), now), Some(Duration::ZERO));
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
        assert_eq!(retry_after(&headers(&[("retry-after", "-3")]), now), None);
        assert_eq!(retry_after(&headers(&[("retry-after", "NaN")]), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn retry_after_values_are_seconds_or_imf_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now), Some(Duration::from_secs(10)));
        assert_eq!(parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 PST", now), None);
        assert_eq!(parse_retry_after("Sun, 36 Nov 1994 08:49:37 GMT", now), None);
        assert_eq!(parse_retry_after("", now), None);
    }
}
