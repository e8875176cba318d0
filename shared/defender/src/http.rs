//! The one HTTP client of a process.

use std::time::Duration;

use mde_contracts::PartnerIdentity;

use crate::{DefenderError, Result};

/// Builds the process's HTTP client: rustls, pooled connections, connect and overall timeouts, and the
/// partner User-Agent (`MdePartner-{Company}-{Product}/{Version}`) that Microsoft asks for on every call.
pub fn build_http_client(partner: &PartnerIdentity) -> Result<reqwest::Client> {
    partner
        .validate()
        .map_err(|e| DefenderError::Config(e.to_string()))?;
    reqwest::Client::builder()
        .user_agent(partner.user_agent())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(100))
        .pool_idle_timeout(Duration::from_secs(90))
        .build()
        .map_err(|e| DefenderError::Config(format!("building the HTTP client: {e}")))
}
