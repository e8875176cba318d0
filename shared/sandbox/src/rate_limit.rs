//! Microsoft's documented per-tenant rate limits: fixed minute and hour windows per (tenant, operation), on
//! simulated time; an exhausted window answers 429 with `Retry-After` = seconds until it resets.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use time::{Duration, OffsetDateTime};

use crate::config::RateLimitSettings;

/// An operation's limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Calls per minute and tenant.
    pub per_minute: Option<u32>,
    /// Calls per hour and tenant.
    pub per_hour: Option<u32>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: OffsetDateTime,
    count: u32,
}

/// Counts calls per (tenant, operation).
#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<(String, &'static str, i64), Window>>,
}

impl RateLimiter {
    /// Records a call; `Err(retry_after_seconds)` when a window is exhausted (the call is not counted then).
    pub fn check(
        &self,
        settings: &RateLimitSettings,
        tenant: &str,
        operation: &'static str,
        documented: Limits,
        now: OffsetDateTime,
    ) -> Result<(), u64> {
        if !settings.enabled {
            return Ok(());
        }
        let limits = settings
            .overrides
            .iter()
            .find(|o| o.operation == operation)
            .map(|o| Limits {
                per_minute: o.per_minute,
                per_hour: o.per_hour,
            })
            .unwrap_or(documented);
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let scale = i64::from(settings.time_scale.max(1));
        let spans = [
            (60i64 / scale, limits.per_minute),
            (3600i64 / scale, limits.per_hour),
        ];
        let spans = spans.map(|(span, limit)| (span.max(1), limit));
        for (span, limit) in spans {
            let Some(limit) = limit else { continue };
            let key = (tenant.to_lowercase(), operation, span);
            let window = windows.entry(key).or_insert(Window { start: now, count: 0 });
            if now >= window.start + Duration::seconds(span) {
                *window = Window { start: now, count: 0 };
            }
            if window.count >= limit {
                let left = (window.start + Duration::seconds(span) - now)
                    .whole_seconds()
                    .max(1);
                return Err(left as u64);
            }
        }
        for (span, limit) in spans {
            if limit.is_some()
                && let Some(window) = windows.get_mut(&(tenant.to_lowercase(), operation, span))
            {
                window.count += 1;
            }
        }
        Ok(())
    }
}
