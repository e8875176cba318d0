//! The client-side rate limiter: per (tenant, API family), sized to Microsoft's documented per-minute and per-hour
//! limits, so a function waits a little instead of provoking 429 storms.
//!
//! Each limit is a GCRA (`governor`) whose burst plus refill within one window never exceeds the documented count:
//! whatever the API's window is (fixed or sliding), no window of that length sees more calls than allowed.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use mde_contracts::TenantId;
use tracing::info;

/// A group of operations that share one documented rate limit per tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ApiFamily {
    /// MDE operations documented at 100 calls per minute and 1,500 per hour (alerts, machines, machine actions,
    /// indicators list / submit / delete).
    MdeStandard,
    /// MDE `POST /api/indicators/import`: 30 calls per minute.
    MdeIndicatorImport,
    /// MDE `POST /api/indicators/BatchDelete`: 30 calls per minute, 1,500 per hour.
    MdeIndicatorBatchDelete,
    /// MDE advanced hunting: 45 calls per minute, 1,500 per hour.
    MdeHunting,
    /// MDE `POST /api/alerts/batchUpdate`: 10 calls per minute, 500 per hour.
    MdeAlertBatchUpdate,
    /// MDE `POST /api/alerts/CreateAlertByReference`: 15 calls per minute.
    MdeAlertByReference,
    /// Microsoft 365 Defender incidents: 50 calls per minute, 1,500 per hour.
    M365dIncidents,
    /// Microsoft Graph security alerts and incidents: 150 calls per minute (per app per tenant).
    GraphSecurity,
    /// Microsoft 365 Defender advanced hunting: "at least 45 calls per minute" (no hourly figure documented).
    M365dHunting,
    /// Graph `runHuntingQuery`: no Graph quota is documented; the advanced-hunting limits (45 per minute, 1,500 per
    /// hour) apply.
    GraphHunting,
}

impl ApiFamily {
    /// Every family.
    pub const ALL: [ApiFamily; 10] = [
        ApiFamily::MdeStandard,
        ApiFamily::MdeIndicatorImport,
        ApiFamily::MdeIndicatorBatchDelete,
        ApiFamily::MdeHunting,
        ApiFamily::MdeAlertBatchUpdate,
        ApiFamily::MdeAlertByReference,
        ApiFamily::M365dHunting,
        ApiFamily::M365dIncidents,
        ApiFamily::GraphSecurity,
        ApiFamily::GraphHunting,
    ];

    /// Microsoft's documented limits of this family (see `shared/defender-api.md`).
    pub fn documented(self) -> Vec<RateLimit> {
        let minute = |n| RateLimit::new(n, Duration::from_secs(60));
        let hour = |n| RateLimit::new(n, Duration::from_secs(3600));
        match self {
            ApiFamily::MdeStandard => vec![minute(100), hour(1500)],
            ApiFamily::MdeIndicatorImport => vec![minute(30)],
            ApiFamily::MdeIndicatorBatchDelete => vec![minute(30), hour(1500)],
            ApiFamily::MdeHunting | ApiFamily::GraphHunting => vec![minute(45), hour(1500)],
            ApiFamily::MdeAlertBatchUpdate => vec![minute(10), hour(500)],
            ApiFamily::MdeAlertByReference => vec![minute(15)],
            ApiFamily::M365dHunting => vec![minute(45)],
            ApiFamily::M365dIncidents => vec![minute(50), hour(1500)],
            ApiFamily::GraphSecurity => vec![minute(150)],
        }
    }
}

/// At most `max` calls in any `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Calls allowed per window.
    pub max: u32,
    /// The window.
    pub window: Duration,
}

impl RateLimit {
    /// `max` calls per `window`.
    pub fn new(max: u32, window: Duration) -> Self {
        Self { max, window }
    }

    /// A quota that never lets more than `max` calls into any interval of length `window`: a burst, then the rest
    /// spread evenly over the window. Per minute the burst is a 25th of `max` (at least one call), so a long run
    /// keeps to about 96 % of the documented rate; per hour it is a quarter, so a run keeps the per-minute rate
    /// for its first quarter hour of calls before the hourly rate (75 % of it) takes over.
    fn quota(self) -> Option<Quota> {
        let max = self.max.max(1);
        let burst = if self.window > Duration::from_secs(60) {
            max / 4
        } else {
            max / 25
        }
        .max(1);
        let spread = (max - burst).max(1);
        let nanos = self.window.as_nanos().div_ceil(u128::from(spread));
        // One more nanosecond keeps the last spread call strictly inside the next window.
        let period = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX).saturating_add(1));
        Quota::with_period(period).map(|q| q.allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN)))
    }
}

/// Limits per family; families absent are not limited on the client side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// The limits of each family.
    pub families: HashMap<ApiFamily, Vec<RateLimit>>,
}

impl Default for RateLimitConfig {
    /// Microsoft's documented limits.
    fn default() -> Self {
        Self {
            families: ApiFamily::ALL.into_iter().map(|f| (f, f.documented())).collect(),
        }
    }
}

impl RateLimitConfig {
    /// No client-side limit at all.
    pub fn unlimited() -> Self {
        Self {
            families: HashMap::new(),
        }
    }

    /// Microsoft's documented limits shared by `processes` processes that may run at once: each keeps to
    /// `1/processes` of every limit (at least one call per window), so together they never exceed it.
    pub fn shared_by(processes: u32) -> Self {
        let n = processes.max(1);
        Self {
            families: ApiFamily::ALL
                .into_iter()
                .map(|f| {
                    let limits = f
                        .documented()
                        .into_iter()
                        .map(|l| RateLimit::new((l.max / n).max(1), l.window))
                        .collect();
                    (f, limits)
                })
                .collect(),
        }
    }

    /// Replaces the limits of one family.
    pub fn with(mut self, family: ApiFamily, limits: Vec<RateLimit>) -> Self {
        self.families.insert(family, limits);
        self
    }
}

/// The limiters of a process, keyed by tenant within each family.
pub(crate) struct Limiter {
    families: HashMap<ApiFamily, Vec<Arc<DefaultKeyedRateLimiter<TenantId>>>>,
    clock: DefaultClock,
}

impl Limiter {
    pub(crate) fn new(config: &RateLimitConfig) -> Self {
        let families = config
            .families
            .iter()
            .map(|(family, limits)| {
                let limiters = limits
                    .iter()
                    .filter_map(|l| l.quota())
                    .map(|q| Arc::new(RateLimiter::keyed(q)))
                    .collect();
                (*family, limiters)
            })
            .collect();
        Self {
            families,
            clock: DefaultClock::default(),
        }
    }

    /// Waits until one more call of `family` for `tenant` fits every limit. A wait is logged with tenant and
    /// endpoint.
    pub(crate) async fn acquire(&self, family: ApiFamily, tenant: &TenantId, endpoint: &'static str) {
        let Some(limiters) = self.families.get(&family) else {
            return;
        };
        for limiter in limiters {
            if let Err(not_until) = limiter.check_key(tenant) {
                let wait = not_until.wait_time_from(self.clock.now());
                info!(
                    tenant = %tenant,
                    endpoint,
                    family = ?family,
                    wait_ms = wait.as_millis() as u64,
                    "rate limiter: waiting before the call"
                );
                limiter.until_key_ready(tenant).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_never_lets_more_than_the_limit_into_one_window() {
        for max in [1u32, 2, 3, 10, 30, 45, 50, 100, 150, 1500] {
            let window = Duration::from_secs(60);
            let Some(quota) = RateLimit::new(max, window).quota() else {
                panic!("quota for {max}");
            };
            let burst = quota.burst_size().get();
            let period = quota.replenish_interval();
            // Calls in a closed window of length `window`, starting with a full burst.
            let spread = (window.as_nanos() / period.as_nanos()) as u32;
            assert!(burst + spread <= max, "{max}: burst {burst} + spread {spread}");
            assert!(
                burst + spread >= max * 9 / 10,
                "{max}: the quota uses most of the limit"
            );
            // The steady rate per minute (after the burst): at least 95 % of the limit from 25 calls up.
            if max >= 25 {
                assert!(
                    (spread + 1) * 100 >= max * 95,
                    "{max}: steady {spread} per window"
                );
            }
        }
    }
}
