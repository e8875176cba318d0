//! Machines (get by id or name, find by name, find by IP at a time) and machine actions (the eight response
//! actions, get, list, pending for a machine).

use std::net::IpAddr;

use futures::TryStreamExt;
use mde_contracts::TenantId;
use reqwest::Method;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::client::DefenderClient;
use super::endpoint::{self as ep, Endpoint};
use super::models::{Machine, MachineAction, ResponseAction};
use super::odata::{Filter, MachineActionProperty, MachineProperty, Query, datetime};
use super::paging::{Envelope, PageStream};
use crate::Result;

const MACHINES: &str = "/api/machines";
const MACHINE_ACTIONS: &str = "/api/machineactions";

impl ResponseAction {
    /// The URL segment, the operation and the body (`Comment` plus the action's own documented parameters).
    fn request(&self, comment: &str) -> (&'static str, &'static Endpoint, Value) {
        let mut body = Map::new();
        body.insert("Comment".to_owned(), json!(comment));
        let (segment, endpoint) = match self {
            ResponseAction::Isolate(kind) => {
                body.insert("IsolationType".to_owned(), json!(kind));
                ("isolate", &ep::MDE_ISOLATE)
            }
            ResponseAction::Unisolate => ("unisolate", &ep::MDE_UNISOLATE),
            ResponseAction::RunAntiVirusScan(kind) => {
                body.insert("ScanType".to_owned(), json!(kind));
                ("runAntiVirusScan", &ep::MDE_RUN_AV_SCAN)
            }
            ResponseAction::RestrictCodeExecution => ("restrictCodeExecution", &ep::MDE_RESTRICT),
            ResponseAction::UnrestrictCodeExecution => ("unrestrictCodeExecution", &ep::MDE_UNRESTRICT),
            ResponseAction::CollectInvestigationPackage => {
                ("collectInvestigationPackage", &ep::MDE_COLLECT_PACKAGE)
            }
            ResponseAction::StopAndQuarantineFile { sha1 } => {
                body.insert("Sha1".to_owned(), json!(sha1));
                ("StopAndQuarantineFile", &ep::MDE_STOP_AND_QUARANTINE)
            }
            ResponseAction::Offboard => ("offboard", &ep::MDE_OFFBOARD),
        };
        (segment, endpoint, Value::Object(body))
    }
}

impl DefenderClient {
    /// One machine by device id or computer name (`GET /api/machines/{id}`) — Machine.Read.All or
    /// Machine.ReadWrite.All.
    pub async fn machine(&self, tenant: &TenantId, id_or_name: &str) -> Result<Machine> {
        let url = self.url(&ep::MDE_MACHINES_GET, tenant, MACHINES, &[id_or_name]);
        self.json(&self.call(&ep::MDE_MACHINES_GET, tenant, Method::GET, url))
            .await
    }

    /// Machines whose computer DNS name is `name` (`$filter=computerDnsName eq '…'`).
    pub async fn machines_by_name(&self, tenant: &TenantId, name: &str) -> Result<Vec<Machine>> {
        let query = Query::new().filter(Filter::eq(MachineProperty::ComputerDnsName, name));
        self.machines(tenant, &query)
            .map_ok(|page| futures::stream::iter(page.items.into_iter().map(Ok)))
            .try_flatten()
            .try_collect()
            .await
    }

    /// Machines (`GET /api/machines`), `$skip`-paged.
    pub fn machines<'a>(
        &'a self,
        tenant: &'a TenantId,
        query: &Query<MachineProperty>,
    ) -> PageStream<'a, Machine> {
        self.pages(&ep::MDE_MACHINES_LIST, tenant, MACHINES, query)
    }

    /// Machines that used internal IP `ip` around `at` (`GET /api/machines/findbyip(ip='…',timestamp=…)`; `at`
    /// must be within the past 30 days).
    pub async fn machines_by_ip(
        &self,
        tenant: &TenantId,
        ip: IpAddr,
        at: OffsetDateTime,
    ) -> Result<Vec<Machine>> {
        let function = format!("findbyip(ip='{ip}',timestamp={})", datetime(at));
        let url = self.url(&ep::MDE_MACHINES_FIND_BY_IP, tenant, MACHINES, &[&function]);
        let envelope: Envelope<Machine> = self
            .json(&self.call(&ep::MDE_MACHINES_FIND_BY_IP, tenant, Method::GET, url))
            .await?;
        Ok(envelope.value)
    }

    /// Starts a response action on a machine (`POST /api/machines/{id}/{action}`, answered 201 with the
    /// MachineAction). Each action needs its own permission (see [`ResponseAction`]).
    pub async fn machine_action(
        &self,
        tenant: &TenantId,
        machine_id: &str,
        action: &ResponseAction,
        comment: &str,
    ) -> Result<MachineAction> {
        let (segment, endpoint, body) = action.request(comment);
        let url = self.url(endpoint, tenant, MACHINES, &[machine_id, segment]);
        let call = self.call_with(endpoint, tenant, Method::POST, url, &body)?;
        self.json(&call).await
    }

    /// One machine action (`GET /api/machineactions/{id}`).
    pub async fn get_machine_action(&self, tenant: &TenantId, id: &str) -> Result<MachineAction> {
        let url = self.url(&ep::MDE_MACHINE_ACTIONS_GET, tenant, MACHINE_ACTIONS, &[id]);
        self.json(&self.call(&ep::MDE_MACHINE_ACTIONS_GET, tenant, Method::GET, url))
            .await
    }

    /// Machine actions (`GET /api/machineactions`), `$skip`-paged.
    pub fn machine_actions<'a>(
        &'a self,
        tenant: &'a TenantId,
        query: &Query<MachineActionProperty>,
    ) -> PageStream<'a, MachineAction> {
        self.pages(&ep::MDE_MACHINE_ACTIONS_LIST, tenant, MACHINE_ACTIONS, query)
    }

    /// Every action of the machine, in no particular order (Microsoft documents none). Filters on `machineId`
    /// only, as Microsoft documents (`or` is never shown for MDE filters).
    pub async fn device_machine_actions(
        &self,
        tenant: &TenantId,
        machine_id: &str,
    ) -> Result<Vec<MachineAction>> {
        let query = Query::new().filter(Filter::eq(MachineActionProperty::MachineId, machine_id));
        self.machine_actions(tenant, &query)
            .map_ok(|page| futures::stream::iter(page.items.into_iter().map(Ok)))
            .try_flatten()
            .try_collect()
            .await
    }

    /// The machine's actions that are still Pending or InProgress (the status is checked here, see
    /// [`DefenderClient::device_machine_actions`]).
    pub async fn pending_machine_actions(
        &self,
        tenant: &TenantId,
        machine_id: &str,
    ) -> Result<Vec<MachineAction>> {
        let all = self.device_machine_actions(tenant, machine_id).await?;
        Ok(all.into_iter().filter(MachineAction::is_pending).collect())
    }

    /// Cancels a Pending or InProgress machine action (`POST /api/machineactions/{id}/cancel` with a `Comment`) —
    /// the permission of the action's type.
    pub async fn cancel_machine_action(
        &self,
        tenant: &TenantId,
        id: &str,
        comment: &str,
    ) -> Result<MachineAction> {
        let endpoint = &ep::MDE_MACHINE_ACTIONS_CANCEL;
        let url = self.url(endpoint, tenant, MACHINE_ACTIONS, &[id, "cancel"]);
        let call = self.call_with(
            endpoint,
            tenant,
            Method::POST,
            url,
            &json!({ "Comment": comment }),
        )?;
        self.json(&call).await
    }

    /// The alerts of a machine (`GET /api/machines/{id}/alerts`) — Alert.Read.All or Alert.ReadWrite.All.
    pub async fn machine_alerts(&self, tenant: &TenantId, machine_id: &str) -> Result<Vec<Value>> {
        let url = self.url(&ep::MDE_MACHINE_ALERTS, tenant, MACHINES, &[machine_id, "alerts"]);
        let envelope: Envelope<Value> = self
            .json(&self.call(&ep::MDE_MACHINE_ALERTS, tenant, Method::GET, url))
            .await?;
        Ok(envelope.value)
    }
}
