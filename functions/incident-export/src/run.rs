//! A run: which (tenant, dataset) pairs to export, tenants in parallel with a bound, the summary and metrics.

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use mde_contracts::{
    BridgeConfig, Dataset, DatasetRunSummary, ExportJob, ExportRunSummary, TenantConfig, TenantId,
};
use mde_defender::DefenderClient;
use mde_platform::{ObjectStore, Queue, SendOptions};
use time::OffsetDateTime;
use tracing::{error, info};

use crate::export::DatasetExport;
use crate::keys::{format_time, parse_time, run_id};
use crate::{Clock, ExportError, ExportObserver, ExportSettings, NoProgress, SystemClock};

/// The export core: a Defender client, an object store, the tenant registry, settings and a clock.
pub struct Exporter {
    client: Arc<DefenderClient>,
    store: Arc<dyn ObjectStore>,
    tenants: Vec<TenantConfig>,
    settings: ExportSettings,
    clock: Arc<dyn Clock>,
    observer: Arc<dyn ExportObserver>,
}

impl Exporter {
    /// An exporter over injected ports, with the system clock.
    pub fn new(
        client: Arc<DefenderClient>,
        store: Arc<dyn ObjectStore>,
        tenants: Vec<TenantConfig>,
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

    /// Builds the exporter a configuration describes: the process's HTTP client (partner User-Agent), the token
    /// source of `[tokens]` (the token-broker through `invoker`, or direct), the cloud's endpoints and the object
    /// store of `[storage]`.
    pub async fn from_config(
        config: &BridgeConfig,
        settings: ExportSettings,
        invoker: Option<Arc<dyn mde_platform::FunctionInvoker>>,
    ) -> Result<Self, ExportError> {
        settings.validate()?;
        let config_error = |e: String| ExportError::InvalidSetting {
            name: "MDE_BRIDGE_* configuration",
            reason: e,
        };
        let http =
            mde_defender::build_http_client(&config.partner).map_err(|e| config_error(e.to_string()))?;
        let tokens = token_broker::token_source(config, http.clone(), invoker)
            .await
            .map_err(|e| config_error(e.to_string()))?;
        let endpoints = config
            .cloud
            .endpoints()
            .map_err(|e| config_error(e.to_string()))?;
        let client = Arc::new(DefenderClient::new(http, endpoints, tokens));
        let store = mde_platform::wiring::object_store(config).await;
        Ok(Self::new(client, store, config.tenants.clone(), settings))
    }

    /// The settings in force.
    pub fn settings(&self) -> &ExportSettings {
        &self.settings
    }

    /// The (tenant, datasets) pairs a job selects: enabled tenants (all, or those named), each with its
    /// configured datasets (all, or those named). Naming a tenant that is not in the registry or is disabled
    /// is an error: a typo must not silently export nothing.
    pub fn select(&self, job: &ExportJob) -> Result<Vec<(TenantId, Vec<Dataset>)>, ExportError> {
        for id in &job.tenants {
            if !self.tenants.iter().any(|t| &t.tenant_id == id && t.enabled) {
                return Err(ExportError::InvalidJob(format!(
                    "tenant {id} is not an enabled tenant of the registry (tenants in the configuration)"
                )));
            }
        }
        Ok(self
            .tenants
            .iter()
            .filter(|t| t.enabled && (job.tenants.is_empty() || job.tenants.contains(&t.tenant_id)))
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

    /// Runs a job: every selected (tenant, dataset), tenants concurrently (at most
    /// [`ExportSettings::tenant_concurrency`]), datasets of a tenant one after the other. Stops reading pages
    /// [`ExportSettings::deadline_margin`] before `deadline`, saving progress. One tenant's failure is in its
    /// summary entries and never stops the others. Logs the summary and prints its metrics (EMF) to stdout.
    pub async fn run(&self, job: &ExportJob, deadline: Instant) -> Result<ExportRunSummary, ExportError> {
        let since = match &job.since {
            None => None,
            Some(s) => Some(parse_time(s).ok_or_else(|| {
                ExportError::InvalidJob(format!(
                    "since {s:?} is not an RFC 3339 time (e.g. 2026-11-01T00:00:00Z)"
                ))
            })?),
        };
        let selected = self.select(job)?;
        let started = self.clock.now();
        let run_id = run_id(started);
        let stop_reading = deadline
            .checked_sub(self.settings.deadline_margin)
            .unwrap_or(deadline);
        info!(run_id, tenants = selected.len(), "export run started");
        let run_id_ref = run_id.as_str();
        let per_tenant = futures::stream::iter(selected)
            .map(|(tenant, datasets)| async move {
                let mut out = Vec::with_capacity(datasets.len());
                for dataset in datasets {
                    out.push(
                        self.export_dataset(run_id_ref, &tenant, dataset, since, stop_reading)
                            .await,
                    );
                }
                out
            })
            .buffer_unordered(self.settings.tenant_concurrency.max(1))
            .collect::<Vec<_>>()
            .await;
        let mut datasets: Vec<DatasetRunSummary> = per_tenant.into_iter().flatten().collect();
        datasets.sort_by(|a, b| (&a.tenant_id, a.dataset).cmp(&(&b.tenant_id, b.dataset)));
        let finished = self.clock.now();
        let summary = ExportRunSummary {
            run_id,
            started_at: format_time(started),
            finished_at: format_time(finished),
            datasets,
            jobs_enqueued: 0,
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

    /// Exports one (tenant, dataset) until done or `stop_reading`; the outcome is in the summary.
    pub async fn export_dataset(
        &self,
        run_id: &str,
        tenant: &TenantId,
        dataset: Dataset,
        since: Option<OffsetDateTime>,
        stop_reading: Instant,
    ) -> DatasetRunSummary {
        DatasetExport {
            client: &self.client,
            store: self.store.as_ref(),
            settings: &self.settings,
            clock: self.clock.as_ref(),
            observer: self.observer.as_ref(),
            run_id,
            tenant,
            dataset,
            since,
            deadline: stop_reading,
        }
        .run()
        .await
    }

    /// Fan-out: enqueues one job per selected tenant (same datasets and backfill, `fan_out` off) on `queue`,
    /// for the same function to consume. Returns the summary with `jobs_enqueued`.
    pub async fn fan_out(&self, job: &ExportJob, queue: &dyn Queue) -> Result<ExportRunSummary, ExportError> {
        let selected = self.select(job)?;
        let started = self.clock.now();
        let run_id = run_id(started);
        let mut enqueued = 0;
        for (tenant, _) in &selected {
            let one = ExportJob {
                tenants: vec![tenant.clone()],
                datasets: job.datasets.clone(),
                since: job.since.clone(),
                fan_out: false,
            };
            let body = serde_json::to_string(&one).map_err(|e| ExportError::InvalidJob(e.to_string()))?;
            queue
                .send(&body, &SendOptions::default())
                .await
                .map_err(ExportError::Queue)?;
            enqueued += 1;
        }
        info!(run_id, jobs = enqueued, "export jobs enqueued");
        Ok(ExportRunSummary {
            run_id,
            started_at: format_time(started),
            finished_at: format_time(self.clock.now()),
            datasets: Vec::new(),
            jobs_enqueued: enqueued,
        })
    }
}
