//! Advanced hunting: MDE `POST /api/advancedqueries/run` (legacy) and Graph `POST /v1.0/security/runHuntingQuery`.

use mde_contracts::TenantId;
use reqwest::Method;
use serde_json::json;

use super::client::DefenderClient;
use super::endpoint as ep;
use super::models::HuntingResult;
use crate::Result;

impl DefenderClient {
    /// Runs a KQL query with MDE advanced hunting (`{"Query": …}`) — AdvancedQuery.Read.All; 45 per minute.
    pub async fn run_mde_query(&self, tenant: &TenantId, query: &str) -> Result<HuntingResult> {
        let url = self.url(&ep::MDE_ADVANCED_QUERY, tenant, "/api/advancedqueries/run", &[]);
        let call = self.call_with(
            &ep::MDE_ADVANCED_QUERY,
            tenant,
            Method::POST,
            url,
            &json!({ "Query": query }),
        )?;
        self.json(&call).await
    }

    /// Runs a KQL query with Microsoft 365 Defender advanced hunting (`POST /api/advancedhunting/run`,
    /// `{"Query": …}`) — AdvancedHunting.Read.All; at least 45 per minute, and a CPU quota per tenant.
    pub async fn run_m365d_query(&self, tenant: &TenantId, query: &str) -> Result<HuntingResult> {
        let url = self.url(
            &ep::M365D_ADVANCED_HUNTING,
            tenant,
            "/api/advancedhunting/run",
            &[],
        );
        let call = self.call_with(
            &ep::M365D_ADVANCED_HUNTING,
            tenant,
            Method::POST,
            url,
            &json!({ "Query": query }),
        )?;
        self.json(&call).await
    }

    /// Runs a KQL query with Graph `runHuntingQuery` (`{"Query": …, "Timespan": …}`; the default window is 30
    /// days; `timespan` is ISO 8601, e.g. `P7D`) — ThreatHunting.Read.All.
    pub async fn run_graph_hunting_query(
        &self,
        tenant: &TenantId,
        query: &str,
        timespan: Option<&str>,
    ) -> Result<HuntingResult> {
        let url = self.url(&ep::GRAPH_HUNTING, tenant, "/v1.0/security/runHuntingQuery", &[]);
        let body = match timespan {
            Some(t) => json!({ "Query": query, "Timespan": t }),
            None => json!({ "Query": query }),
        };
        let call = self.call_with(&ep::GRAPH_HUNTING, tenant, Method::POST, url, &body)?;
        self.json(&call).await
    }
}
