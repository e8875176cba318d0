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

/// Why a request failed on the network, without the URL (which reqwest includes in its message).
pub(crate) fn network_reason(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "body interrupted"
    } else {
        "request failed"
    };
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {detail}")
    }
}
