//! Which device held which internal IP address when: the data behind `findbyip`.
//!
//! `findbyip(ip, timestamp)` finds the devices "seen with the IP within 15 minutes before and after the timestamp"
//! (defender-api.md §8): a device matches when one of its leases of that address overlaps
//! `[timestamp − 15 min, timestamp + 15 min]`. Addresses are reused, so two devices may match one address at
//! different times; seeding gives some pairs of devices such a shared address.

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::model::Machine;

/// One period during which a device held an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IpLease {
    /// The address, in canonical form.
    pub ip: String,
    /// Held from (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub from: OffsetDateTime,
    /// Held until (RFC 3339); absent or null: still held now.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>")]
    pub until: Option<OffsetDateTime>,
}

impl IpLease {
    /// A checked lease: `ip` must be one address (no CIDR) and `from` earlier than `until`.
    pub fn new(ip: &str, from: OffsetDateTime, until: Option<OffsetDateTime>) -> Result<Self, String> {
        let ip: IpAddr = ip
            .trim()
            .parse()
            .map_err(|_| format!("'{ip}' is not an IP address"))?;
        if until.is_some_and(|u| u <= from) {
            return Err("'until' must be later than 'from'".to_owned());
        }
        Ok(Self {
            ip: ip.to_string(),
            from,
            until,
        })
    }

    /// Whether the device held `ip` at some instant of `[at − 15 min, at + 15 min]` (an open lease runs to `now`).
    pub fn matches(&self, ip: &IpAddr, at: OffsetDateTime, now: OffsetDateTime) -> bool {
        let window = Duration::minutes(15);
        self.ip.parse::<IpAddr>().is_ok_and(|own| own == *ip)
            && self.from <= at + window
            && self.until.unwrap_or(now) >= at - window
    }
}

/// Gives every machine its history: one open lease of its `last_ip_address` from `first_seen` (it still holds
/// it), and, for every fourth machine (index ≡ 1 mod 4) and the next one, a reused address: machine `i` held the
/// address machine `i + 1` holds today until a switch 7–26 days ago, and machine `i + 1` got it an hour after that
/// (it held another address before). No random draw, so seeded worlds stay as they were.
pub fn seed(machines: &mut [Machine], tenant_index: usize, now: OffsetDateTime) {
    for m in machines.iter_mut() {
        m.ip_history = vec![IpLease {
            ip: m.last_ip_address.clone(),
            from: m.first_seen,
            until: None,
        }];
    }
    let mut i = 1;
    while i + 1 < machines.len() {
        let switch = now - Duration::days(7 + (i % 20) as i64);
        let taken = switch + Duration::hours(1);
        let shared = machines[i + 1].last_ip_address.clone();
        let (first, rest) = machines.split_at_mut(i + 1);
        let (earlier, later) = (&mut first[i], &mut rest[0]);
        earlier.ip_history = vec![
            IpLease {
                ip: shared.clone(),
                from: earlier.first_seen,
                until: Some(switch),
            },
            IpLease {
                ip: earlier.last_ip_address.clone(),
                from: switch,
                until: None,
            },
        ];
        later.ip_history = vec![
            IpLease {
                ip: format!("10.{}.255.{}", tenant_index + 1, (i + 1) % 250),
                from: later.first_seen,
                until: Some(taken),
            },
            IpLease {
                ip: shared,
                from: taken,
                until: None,
            },
        ];
        i += 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::hours(h)
    }

    #[test]
    fn a_lease_matches_within_fifteen_minutes_of_its_ends() {
        let lease = IpLease::new("10.0.0.1", at(10), Some(at(20))).expect("valid");
        let ip: IpAddr = "10.0.0.1".parse().expect("ip");
        let now = at(100);
        assert!(lease.matches(&ip, at(20) + Duration::minutes(15), now));
        assert!(!lease.matches(&ip, at(20) + Duration::minutes(16), now));
        assert!(lease.matches(&ip, at(10) - Duration::minutes(15), now));
        assert!(!lease.matches(&ip, at(10) - Duration::minutes(16), now));
        assert!(!lease.matches(&"10.0.0.2".parse().expect("ip"), at(15), now));
        let open = IpLease::new("::1", at(10), None).expect("valid");
        assert!(open.matches(&"0:0::1".parse().expect("ip"), now, now));
    }

    #[test]
    fn bad_addresses_and_empty_periods_are_refused() {
        assert!(IpLease::new("10.0.0.0/24", at(1), None).is_err());
        assert!(IpLease::new("10.0.0.1", at(2), Some(at(2))).is_err());
    }
}
