//! A run: which (tenant, dataset) pairs to export, tenants in parallel with a bound, the summary and metrics.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt;
use mde_contracts::{Dataset, DatasetRunSummary, ExportJob, ExportRunSummary, TenantId};
use mde_defender::DefenderClient;
use mde_platform::wiring::Wiring;
use mde_platform::{ObjectStore, Queue, Tenants};
use tracing::{error, info};

use crate::export::{Context, DatasetRun};
use crate::keys::{format_time, parse_time, run_id};
use crate::{Clock, ExportError, ExportObserver, ExportSettings, NoProgress, SystemClock};

/// The export core: a Defender client, an object store, the tenant registry, settings and a clock.
pub struct Exporter {
    client: Arc<DefenderClient>,
    store: Arc<dyn ObjectStore>,
    tenants: Arc<Tenants>,
    settings: ExportSettings,
    clock: Arc<dyn Clock>,
    observer: Arc<dyn ExportObserver>,
}

impl Exporter {
    /// An exporter over injected ports, with the system clock.
    pub fn new(
        client: Arc<DefenderClient>,
        store: Arc<dyn ObjectStore>,
        tenants: Arc<Tenants>,
        settings: ExportSettings,
    ) -> Self {
        Self {
            client,
            store,
            tenants,
            settings,
            clock: Arc::new(SystemClock),
            observer: Arc::new(NoProgress),
        }
    }

    /// The same exporter reading time from `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The same exporter reporting progress to `observer` (e.g. a terminal's progress bars).
    pub fn with_observer(mut self, observer: Arc<dyn ExportObserver>) -> Self {
        self.observer = observer;
        self
    }

    /// Builds the exporter of a process: the token source of `[tokens]` (the token-broker, or direct), the
    /// Defender client in each tenant's cloud, the tenant registry and the object store of `[storage]` (or
    /// `store`), with the `[export]` settings.
    pub async fn from_wiring(
        wiring: &Wiring,
        store: Option<Arc<dyn ObjectStore>>,
    ) -> Result<Self, ExportError> {
        let config = wiring.config();
        config
            .export
            .validate()
            .map_err(|e| ExportError::InvalidSetting(e.to_string()))?;
        let access = mde_tokens::TenantAccess::new(wiring, config.tokens.source)
            .await
            .map_err(|e| ExportError::InvalidSetting(e.to_string()))?;
        let client = Arc::new(access.defender_client(Default::default()));
        let store = match store {
            Some(store) => store,
            None => wiring.object_store().await,
        };
        Ok(Self::new(client, store, access.tenants, config.export.clone()))
    }

    /// The settings in force.
    pub fn settings(&self) -> &ExportSettings {
        &self.settings
    }

    /// The (tenant, datasets) pairs a job selects: enabled tenants (all, or those named), each with its
    /// configured datasets (all, or those named). Naming a tenant that is not in the registry or is disabled
    /// is an error: a typo must not silently export nothing.
    pub async fn select(&self, job: &ExportJob) -> Result<Vec<(TenantId, Vec<Dataset>)>, ExportError> {
        let snapshot = self.tenants.snapshot().await.map_err(ExportError::Registry)?;
        for id in &job.tenants {
            if snapshot.enabled(id).is_none() {
                let why = match snapshot.get(id) {
                    Some(_) => "is disabled in",
                    None => "is not in",
                };
                return Err(ExportError::InvalidJob(format!(
                    "tenant {id} {why} the tenant registry ({})",
                    self.tenants.registry().describe()
                )));
            }
        }
        Ok(snapshot
            .all_enabled()
            .filter(|t| job.tenants.is_empty() || job.tenants.contains(&t.tenant_id))
            .map(|t| {
                let datasets = t
                    .datasets
                    .iter()
                    .copied()
                    .filter(|d| job.datasets.is_empty() || job.datasets.contains(d))
                    .collect::<Vec<_>>();
                (t.tenant_id.clone(), datasets)
            })
            .filter(|(_, datasets)| !datasets.is_empty())
            .collect())
    }

    /// How many tenants a run exports at a time (at least one).
    pub fn tenant_concurrency(&self) -> usize {
        usize::try_from(self.settings.tenant_concurrency)
            .unwrap_or(1)
            .max(1)
    }

    /// Runs a job: every selected (tenant, dataset), tenants concurrently (at most
    /// [`ExportSettings::tenant_concurrency`]), datasets of a tenant one after the other. Stops reading pages
    /// [`ExportSettings::deadline_margin_seconds`] before `deadline`, saving progress. One tenant's failure is in its
    /// summary entries and never stops the others. Logs the summary and prints its metrics (EMF) to stdout.
    pub async fn run(&self, job: &ExportJob, deadline: Instant) -> Result<ExportRunSummary, ExportError> {
        let since = match &job.since {
            None => None,
            Some(s) => Some(parse_time(s).ok_or_else(|| {
                ExportError::InvalidJob(format!(
                    "since {s:?} is not an RFC 3339 time with a zone (e.g. 2026-11-01T00:00:00Z)"
                ))
            })?),
        };
        if let Some(since) = since
            && since > self.clock.now() + time::Duration::minutes(5)
        {
            return Err(ExportError::InvalidJob(format!(
                "since {} is in the future: a backfill starts at a time records can have been updated",
                format_time(since)
            )));
        }
        let selected = self.select(job).await?;
        let started = self.clock.now();
        let run_id = run_id(started);
        let stop_reading = deadline
            .checked_sub(self.settings.deadline_margin())
            .unwrap_or(deadline);
        info!(run_id, tenants = selected.len(), "export run started");
        let ctx = Context {
            client: &self.client,
            store: self.store.as_ref(),
            settings: &self.settings,
            clock: self.clock.as_ref(),
            observer: self.observer.as_ref(),
            run_id: &run_id,
            deadline: stop_reading,
        };
        // A refused application credential fails every tenant the same way: the first failure stops the run.
        let refused: Mutex<Option<String>> = Mutex::new(None);
        let (ctx, refused_ref) = (&ctx, &refused);
        let per_tenant = futures::stream::iter(selected)
            .map(|(tenant, datasets)| async move {
                let mut out = Vec::with_capacity(datasets.len());
                for dataset in datasets {
                    let refusal = refused_ref.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    if let Some(reason) = refusal {
                        out.push(not_attempted(&tenant, dataset, &reason));
                        continue;
                    }
                    let (summary, credential_refused) =
                        DatasetRun::new(ctx, &tenant, dataset, since).run().await;
                    if credential_refused {
                        let mut r = refused_ref.lock().unwrap_or_else(|p| p.into_inner());
                        r.get_or_insert_with(|| summary.error.clone().unwrap_or_default());
                    }
                    out.push(summary);
                }
                out
            })
            .buffer_unordered(self.tenant_concurrency())
            .collect::<Vec<_>>()
            .await;
        let mut datasets: Vec<DatasetRunSummary> = per_tenant.into_iter().flatten().collect();
        datasets.sort_by(|a, b| (&a.tenant_id, a.dataset).cmp(&(&b.tenant_id, b.dataset)));
        let finished = self.clock.now();
        let error = refused.into_inner().unwrap_or_else(|p| p.into_inner()).map(|reason| {
            format!("the application credential was refused, so the run stopped (no tenant can be exported): {reason}")
        });
        let summary = ExportRunSummary {
            run_id: run_id.clone(),
            started_at: format_time(started),
            finished_at: format_time(finished),
            datasets,
            jobs_enqueued: 0,
            error,
        };
        let records: u64 = summary.datasets.iter().map(|d| d.records).sum();
        let failed = summary.datasets.iter().filter(|d| d.error.is_some()).count();
        if failed > 0 {
            error!(
                run_id = summary.run_id,
                records, failed, "export run finished with failures"
            );
        } else {
            info!(run_id = summary.run_id, records, "export run finished");
        }
        Ok(summary)
    }

    /// Fan-out: enqueues one job per selected tenant (same datasets and backfill, `fan_out` off) on `queue`,
    /// for the same function to consume. Returns the summary with `jobs_enqueued`.
    pub async fn fan_out(&self, job: &ExportJob, queue: &dyn Queue) -> Result<ExportRunSummary, ExportError> {
        let selected = self.select(job).await?;
        let started = self.clock.now();
        let run_id = run_id(started);
        let bodies = selected
            .iter()
            .map(|(tenant, _)| {
                let one = ExportJob {
                    tenants: vec![tenant.clone()],
                    datasets: job.datasets.clone(),
                    since: job.since.clone(),
                    fan_out: false,
                };
                serde_json::to_string(&one).map_err(|e| ExportError::InvalidJob(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let enqueued = queue.send_many(&bodies).await.map_err(ExportError::Queue)?.len() as u64;
        info!(run_id, jobs = enqueued, "export jobs enqueued");
        Ok(ExportRunSummary {
            run_id,
            started_at: format_time(started),
            finished_at: format_time(self.clock.now()),
            datasets: Vec::new(),
            jobs_enqueued: enqueued,
            error: None,
        })
    }
}

/// The summary of a dataset the run did not attempt.
fn not_attempted(tenant: &TenantId, dataset: Dataset, reason: &str) -> DatasetRunSummary {
    DatasetRunSummary {
        tenant_id: tenant.clone(),
        dataset,
        status: mde_contracts::DatasetStatus::Failed,
        records: 0,
        suppressed: 0,
        flagged: 0,
        pages: 0,
        api_calls: 0,
        splits: 0,
        skip_sweeps: 0,
        bytes: 0,
        objects: 0,
        quarantined: 0,
        lag_seconds: None,
        frontier: None,
        note: None,
        error: Some(format!(
            "not attempted: the application credential was refused ({reason})"
        )),
    }
}
