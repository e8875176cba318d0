//! Alerts and incidents: the four export datasets as page streams by last-update window, and get / update /
//! comment on MDE alerts, Microsoft 365 Defender incidents and Graph incidents and alerts.

use futures::TryStreamExt;
use mde_contracts::TenantId;
use reqwest::Method;

use super::client::DefenderClient;
use super::endpoint::{self as ep, Endpoint};
use super::models::{
    AlertByReference, GraphAlertUpdate, GraphComment, GraphIncidentUpdate, M365dIncidentUpdate,
    MdeAlertUpdate,
};
use super::odata::{
    Expand as _, GraphAlertProperty, GraphIncidentProperty, M365dIncidentProperty, MdeAlertExpand,
    MdeAlertProperty, Query,
};
use super::paging::{Envelope, PageStream, Record};
use crate::{DefenderError, Result};

pub(super) const MDE_ALERTS: &str = "/api/alerts";
pub(super) const M365D_INCIDENTS: &str = "/api/incidents";
pub(super) const GRAPH_INCIDENTS: &str = "/v1.0/security/incidents";
pub(super) const GRAPH_ALERTS: &str = "/v1.0/security/alerts_v2";

impl DefenderClient {
    /// MDE alerts (`GET /api/alerts`), `$skip`-paged — Alert.Read.All or Alert.ReadWrite.All.
    pub fn mde_alerts<'a>(
        &'a self,
        tenant: &'a TenantId,
        query: &Query<MdeAlertProperty>,
    ) -> PageStream<'a, Record> {
        self.pages(&ep::MDE_ALERTS_LIST, tenant, MDE_ALERTS, query)
    }

    /// Microsoft 365 Defender incidents (`GET /api/incidents`), `$skip`-paged (≤ 100 per page) — Incident.Read.All
    /// or Incident.ReadWrite.All.
    pub fn m365d_incidents<'a>(
        &'a self,
        tenant: &'a TenantId,
        query: &Query<M365dIncidentProperty>,
    ) -> PageStream<'a, Record> {
        let pages = self.pages(&ep::M365D_INCIDENTS_LIST, tenant, M365D_INCIDENTS, query);
        Box::pin(pages.map_ok(|mut page: super::paging::Page<Record>| {
            page.items = page.items.into_iter().map(Record::keyed_by_incident_id).collect();
            page
        }))
    }

    /// Graph security incidents (`GET /v1.0/security/incidents`), nextLink-paged, with
    /// `Prefer: include-unknown-enum-members` — SecurityIncident.Read.All or SecurityIncident.ReadWrite.All.
    pub fn graph_incidents<'a>(
        &'a self,
        tenant: &'a TenantId,
        query: &Query<GraphIncidentProperty>,
    ) -> PageStream<'a, Record> {
        self.pages(&ep::GRAPH_INCIDENTS_LIST, tenant, GRAPH_INCIDENTS, query)
    }

    /// Graph security alerts (`GET /v1.0/security/alerts_v2`), nextLink-paged, with
    /// `Prefer: include-unknown-enum-members` — SecurityAlert.Read.All or SecurityAlert.ReadWrite.All.
    pub fn graph_alerts<'a>(
        &'a self,
        tenant: &'a TenantId,
        query: &Query<GraphAlertProperty>,
    ) -> PageStream<'a, Record> {
        self.pages(&ep::GRAPH_ALERTS_LIST, tenant, GRAPH_ALERTS, query)
    }

    async fn get_record(
        &self,
        endpoint: &'static Endpoint,
        tenant: &TenantId,
        path: &str,
        id: &str,
    ) -> Result<Record> {
        let url = self.url(endpoint, tenant, path, &[id]);
        self.json(&self.call(endpoint, tenant, Method::GET, url)).await
    }

    async fn patch_record<B: serde::Serialize>(
        &self,
        endpoint: &'static Endpoint,
        tenant: &TenantId,
        path: &str,
        id: &str,
        body: &B,
    ) -> Result<Record> {
        let url = self.url(endpoint, tenant, path, &[id]);
        let mut call = self.call_with(endpoint, tenant, Method::PATCH, url, body)?;
        call.prefer_unknown_enums = endpoint.audience == mde_contracts::Audience::Graph;
        self.json(&call).await
    }

    /// One MDE alert with its evidence (`GET /api/alerts/{id}?$expand=evidence`).
    pub async fn mde_alert(&self, tenant: &TenantId, id: &str) -> Result<Record> {
        let mut url = self.url(&ep::MDE_ALERTS_GET, tenant, MDE_ALERTS, &[id]);
        url.query_pairs_mut()
            .append_pair("$expand", MdeAlertExpand::Evidence.name());
        self.json(&self.call(&ep::MDE_ALERTS_GET, tenant, Method::GET, url))
            .await
    }

    /// Updates an MDE alert (`PATCH /api/alerts/{id}`) — Alert.ReadWrite.All. Returns the updated alert.
    pub async fn update_mde_alert(
        &self,
        tenant: &TenantId,
        id: &str,
        update: &MdeAlertUpdate,
    ) -> Result<Record> {
        self.patch_record(&ep::MDE_ALERTS_UPDATE, tenant, MDE_ALERTS, id, update)
            .await
    }

    /// Updates several MDE alerts the same way (`POST /api/alerts/batchUpdate` with `alertIds`) —
    /// Alert.ReadWrite.All; 10 per minute, 500 per hour. Answered 200 with an empty body.
    pub async fn batch_update_mde_alerts(
        &self,
        tenant: &TenantId,
        ids: &[String],
        update: &MdeAlertUpdate,
    ) -> Result<()> {
        let endpoint = &ep::MDE_ALERTS_BATCH_UPDATE;
        let mut body = serde_json::to_value(update).map_err(|e| DefenderError::InvalidRequest {
            endpoint: endpoint.name,
            reason: e.to_string(),
        })?;
        if let Some(map) = body.as_object_mut() {
            map.insert("alertIds".to_owned(), serde_json::json!(ids));
        }
        let url = self.url(endpoint, tenant, MDE_ALERTS, &["batchUpdate"]);
        let call = self.call_with(endpoint, tenant, Method::POST, url, &body)?;
        self.execute(&call).await.map(|_| ())
    }

    /// Creates an MDE alert on an existing event (`POST /api/alerts/CreateAlertByReference`) — Alert.ReadWrite.All;
    /// 15 per minute. Defender merges it into an open alert of the same device and title.
    pub async fn create_alert_by_reference(
        &self,
        tenant: &TenantId,
        alert: &AlertByReference,
    ) -> Result<Record> {
        let endpoint = &ep::MDE_ALERTS_CREATE_BY_REFERENCE;
        let url = self.url(endpoint, tenant, MDE_ALERTS, &["CreateAlertByReference"]);
        let call = self.call_with(endpoint, tenant, Method::POST, url, alert)?;
        self.json(&call).await
    }

    /// Adds a comment to an MDE alert (a `PATCH` with `comment` only) — Alert.ReadWrite.All.
    pub async fn comment_mde_alert(&self, tenant: &TenantId, id: &str, comment: &str) -> Result<Record> {
        let update = MdeAlertUpdate {
            comment: Some(comment.to_owned()),
            ..MdeAlertUpdate::default()
        };
        self.update_mde_alert(tenant, id, &update).await
    }

    /// One Microsoft 365 Defender incident (`GET /api/incidents/{id}`).
    pub async fn m365d_incident(&self, tenant: &TenantId, id: u64) -> Result<Record> {
        self.get_record(&ep::M365D_INCIDENTS_GET, tenant, M365D_INCIDENTS, &id.to_string())
            .await
            .map(Record::keyed_by_incident_id)
    }

    /// Updates a Microsoft 365 Defender incident (`PATCH /api/incidents/{id}`) — Incident.ReadWrite.All.
    pub async fn update_m365d_incident(
        &self,
        tenant: &TenantId,
        id: u64,
        update: &M365dIncidentUpdate,
    ) -> Result<Record> {
        self.patch_record(
            &ep::M365D_INCIDENTS_UPDATE,
            tenant,
            M365D_INCIDENTS,
            &id.to_string(),
            update,
        )
        .await
        .map(Record::keyed_by_incident_id)
    }

    /// One Graph incident (`GET /v1.0/security/incidents/{id}`).
    pub async fn graph_incident(&self, tenant: &TenantId, id: &str) -> Result<Record> {
        self.get_record(&ep::GRAPH_INCIDENTS_GET, tenant, GRAPH_INCIDENTS, id)
            .await
    }

    /// Updates a Graph incident (`PATCH /v1.0/security/incidents/{id}`) — SecurityIncident.ReadWrite.All.
    pub async fn update_graph_incident(
        &self,
        tenant: &TenantId,
        id: &str,
        update: &GraphIncidentUpdate,
    ) -> Result<Record> {
        self.patch_record(&ep::GRAPH_INCIDENTS_UPDATE, tenant, GRAPH_INCIDENTS, id, update)
            .await
    }

    /// One Graph alert (`GET /v1.0/security/alerts_v2/{id}`).
    pub async fn graph_alert(&self, tenant: &TenantId, id: &str) -> Result<Record> {
        self.get_record(&ep::GRAPH_ALERTS_GET, tenant, GRAPH_ALERTS, id)
            .await
    }

    /// Updates a Graph alert (`PATCH /v1.0/security/alerts_v2/{id}`) — SecurityAlert.ReadWrite.All.
    pub async fn update_graph_alert(
        &self,
        tenant: &TenantId,
        id: &str,
        update: &GraphAlertUpdate,
    ) -> Result<Record> {
        self.patch_record(&ep::GRAPH_ALERTS_UPDATE, tenant, GRAPH_ALERTS, id, update)
            .await
    }

    /// Adds a comment to a Graph incident (`POST …/incidents/{id}/comments`); returns all its comments.
    pub async fn comment_graph_incident(
        &self,
        tenant: &TenantId,
        id: &str,
        comment: &str,
    ) -> Result<Vec<GraphComment>> {
        let url = self.url(
            &ep::GRAPH_INCIDENTS_COMMENT,
            tenant,
            GRAPH_INCIDENTS,
            &[id, "comments"],
        );
        self.post_comment(&ep::GRAPH_INCIDENTS_COMMENT, tenant, url, comment)
            .await
    }

    /// Adds a comment to a Graph alert (`POST …/alerts_v2/{id}/comments`); returns all its comments.
    pub async fn comment_graph_alert(
        &self,
        tenant: &TenantId,
        id: &str,
        comment: &str,
    ) -> Result<Vec<GraphComment>> {
        let url = self.url(&ep::GRAPH_ALERTS_COMMENT, tenant, GRAPH_ALERTS, &[id, "comments"]);
        self.post_comment(&ep::GRAPH_ALERTS_COMMENT, tenant, url, comment)
            .await
    }

    async fn post_comment(
        &self,
        endpoint: &'static Endpoint,
        tenant: &TenantId,
        url: url::Url,
        comment: &str,
    ) -> Result<Vec<GraphComment>> {
        let body =
            serde_json::json!({ "@odata.type": "microsoft.graph.security.alertComment", "comment": comment });
        let call = self.call_with(endpoint, tenant, Method::POST, url, &body)?;
        let envelope: Envelope<GraphComment> = self.json(&call).await?;
        Ok(envelope.value)
    }
}
