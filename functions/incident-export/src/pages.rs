//! The query of each dataset: `lastUpdate ge from`, no upper bound, resumable at a `$skip`.
//!
//! No upper bound on purpose: a record's last-update time only grows, so a record never leaves the result set
//! while it is being paged; and the APIs order by creation time, newest first, so records created meanwhile are
//! inserted before the read position and shift the rest back (a record may then be read twice, never skipped).
//! Versions created or changed behind the read position have a last-update time after the pass started, and the
//! next pass (from the pass's start minus the overlap) reads them.

use mde_contracts::{Dataset, TenantId};
use mde_defender::DefenderClient;
use mde_defender::api::odata::{
    GraphAlertProperty, GraphIncidentProperty, M365dIncidentProperty, MdeAlertExpand, MdeAlertProperty,
    Property,
};
use mde_defender::api::{Filter, PageStream, Query, Record};
use time::OffsetDateTime;

/// The records of `dataset` last updated at or after `from`, page by page, starting `skip` records in. Graph
/// incidents are read without `$expand=alerts` (their alerts are the `graph_alerts_v2` dataset).
pub(crate) fn pages<'a>(
    client: &'a DefenderClient,
    dataset: Dataset,
    tenant: &'a TenantId,
    from: OffsetDateTime,
    skip: u64,
    top: Option<u32>,
) -> PageStream<'a, Record> {
    fn query<P: Property>(property: P, from: OffsetDateTime, skip: u64, top: Option<u32>) -> Query<P> {
        let q = Query::new()
            .filter(Filter::ge(property, from))
            .skip(u32::try_from(skip).unwrap_or(u32::MAX));
        match top {
            Some(n) => q.top(n),
            None => q,
        }
    }
    match dataset {
        Dataset::MdeAlerts => {
            let q = query(MdeAlertProperty::LastUpdateTime, from, skip, top).expand(MdeAlertExpand::Evidence);
            client.mde_alerts(tenant, &q)
        }
        Dataset::M365dIncidents => client.m365d_incidents(
            tenant,
            &query(M365dIncidentProperty::LastUpdateTime, from, skip, top),
        ),
        Dataset::GraphIncidents => client.graph_incidents(
            tenant,
            &query(GraphIncidentProperty::LastUpdateDateTime, from, skip, top),
        ),
        Dataset::GraphAlertsV2 => client.graph_alerts(
            tenant,
            &query(GraphAlertProperty::LastUpdateDateTime, from, skip, top),
        ),
    }
}
