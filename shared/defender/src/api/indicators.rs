//! Indicators: submit (upsert), import (≤ 500 per call), list, delete, batch delete (≤ 500 per call).

use mde_contracts::TenantId;
use reqwest::Method;
use serde_json::json;

use super::client::DefenderClient;
use super::endpoint as ep;
use super::models::{ImportResult, Indicator, NewIndicator};
use super::odata::{IndicatorProperty, Query};
use super::paging::{Envelope, PageStream};
use crate::{DefenderError, Result};

const INDICATORS: &str = "/api/indicators";

/// The documented maximum of indicators per import and per batch delete.
pub const MAX_INDICATOR_BATCH: usize = 500;

impl DefenderClient {
    /// Submits or updates one indicator (`POST /api/indicators`) — Ti.ReadWrite or Ti.ReadWrite.All.
    pub async fn submit_indicator(&self, tenant: &TenantId, indicator: &NewIndicator) -> Result<Indicator> {
        let url = self.url(&ep::MDE_INDICATORS_SUBMIT, tenant, INDICATORS, &[]);
        let call = self.call_with(&ep::MDE_INDICATORS_SUBMIT, tenant, Method::POST, url, indicator)?;
        self.json(&call).await
    }

    /// Imports up to 500 indicators (`POST /api/indicators/import` with `{"Indicators": [...]}`); the answer has
    /// one result per item, failed items included. More than 500 is refused before anything is sent.
    pub async fn import_indicators(
        &self,
        tenant: &TenantId,
        indicators: &[NewIndicator],
    ) -> Result<Vec<ImportResult>> {
        check_batch(ep::MDE_INDICATORS_IMPORT.name, indicators.len())?;
        let url = self.url(&ep::MDE_INDICATORS_IMPORT, tenant, INDICATORS, &["import"]);
        let body = json!({ "Indicators": indicators });
        let call = self.call_with(&ep::MDE_INDICATORS_IMPORT, tenant, Method::POST, url, &body)?;
        let envelope: Envelope<ImportResult> = self.json(&call).await?;
        Ok(envelope.value)
    }

    /// Indicators (`GET /api/indicators`), `$skip`-paged. With Ti.ReadWrite only the application's own are listed.
    pub fn indicators<'a>(
        &'a self,
        tenant: &'a TenantId,
        query: &Query<IndicatorProperty>,
    ) -> PageStream<'a, Indicator> {
        self.pages(&ep::MDE_INDICATORS_LIST, tenant, INDICATORS, query)
    }

    /// Deletes one indicator (`DELETE /api/indicators/{id}`, 204).
    pub async fn delete_indicator(&self, tenant: &TenantId, id: &str) -> Result<()> {
        let url = self.url(&ep::MDE_INDICATORS_DELETE, tenant, INDICATORS, &[id]);
        self.execute(&self.call(&ep::MDE_INDICATORS_DELETE, tenant, Method::DELETE, url))
            .await
            .map(|_| ())
    }

    /// Deletes up to 500 indicators (`POST /api/indicators/BatchDelete` with `{"IndicatorIds": [...]}`, 204).
    pub async fn delete_indicators(&self, tenant: &TenantId, ids: &[String]) -> Result<()> {
        check_batch(ep::MDE_INDICATORS_BATCH_DELETE.name, ids.len())?;
        let url = self.url(
            &ep::MDE_INDICATORS_BATCH_DELETE,
            tenant,
            INDICATORS,
            &["BatchDelete"],
        );
        let body = json!({ "IndicatorIds": ids });
        let call = self.call_with(&ep::MDE_INDICATORS_BATCH_DELETE, tenant, Method::POST, url, &body)?;
        self.execute(&call).await.map(|_| ())
    }
}

fn check_batch(endpoint: &'static str, len: usize) -> Result<()> {
    if len == 0 || len > MAX_INDICATOR_BATCH {
        return Err(DefenderError::InvalidRequest {
            endpoint,
            reason: format!(
                "a batch holds 1 to {MAX_INDICATOR_BATCH} indicators; this one has {len}: split it"
            ),
        });
    }
    Ok(())
}
