//! The export's tuning: overlap, object size, concurrency, page sizes, what to do with a failing page.

use std::time::Duration;

use mde_contracts::Dataset;

use crate::ExportError;

/// How exports behave. Read once at start ([`ExportSettings::from_env`] in Lambda).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSettings {
    /// How far before the watermark each pass queries again, for records the API makes visible late and for
    /// clock skew between this process and the API. Versions already exported there are suppressed.
    pub overlap: Duration,
    /// How far back the first pass of a (tenant, dataset) without a checkpoint starts.
    pub initial_lookback: Duration,
    /// An export object is closed at the first page boundary after its compressed size reaches this.
    pub max_object_bytes: usize,
    /// Tenants exported at the same time.
    pub tenant_concurrency: usize,
    /// Move past a page that keeps failing (it is quarantined either way). Off: the cursor holds before it.
    pub skip_failed_pages: bool,
    /// `$top` of MDE alert pages (≤ 10,000): memory per page against API calls.
    pub mde_alerts_page_size: u32,
    /// `$top` of Microsoft 365 Defender incident pages (≤ 100).
    pub m365d_incidents_page_size: u32,
    /// `$top` of Graph pages; `None` lets the service choose (it pages with `@odata.nextLink`).
    pub graph_page_size: Option<u32>,
    /// Most record versions a checkpoint lists for suppression (the newest are kept).
    pub max_seen: usize,
    /// Time kept before the invocation's deadline to write the last object and the checkpoint.
    pub deadline_margin: Duration,
    /// gzip level, 0–9.
    pub gzip_level: u32,
}

impl Default for ExportSettings {
    fn default() -> Self {
        Self {
            overlap: Duration::from_secs(10 * 60),
            initial_lookback: Duration::from_secs(7 * 24 * 3600),
            max_object_bytes: 8 * 1024 * 1024,
            tenant_concurrency: 4,
            skip_failed_pages: false,
            mde_alerts_page_size: 2_000,
            m365d_incidents_page_size: 100,
            graph_page_size: None,
            max_seen: 100_000,
            deadline_margin: Duration::from_secs(15),
            gzip_level: 6,
        }
    }
}

impl ExportSettings {
    /// The defaults, overridden by `INCIDENT_EXPORT_*` variables: `OVERLAP_SECONDS`, `INITIAL_LOOKBACK_SECONDS`,
    /// `MAX_OBJECT_BYTES`, `TENANT_CONCURRENCY`, `SKIP_FAILED_PAGES`, `MDE_ALERTS_PAGE_SIZE`,
    /// `M365D_INCIDENTS_PAGE_SIZE`, `GRAPH_PAGE_SIZE`, `MAX_SEEN`, `DEADLINE_MARGIN_SECONDS`, `GZIP_LEVEL`.
    pub fn from_env() -> Result<Self, ExportError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`ExportSettings::from_env`] over any variable lookup.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ExportError> {
        fn num<T: std::str::FromStr>(
            lookup: &impl Fn(&str) -> Option<String>,
            name: &'static str,
            default: T,
        ) -> Result<T, ExportError> {
            match lookup(name) {
                None => Ok(default),
                Some(v) => v.trim().parse().map_err(|_| ExportError::InvalidSetting {
                    name,
                    reason: format!("{v:?} is not a non-negative integer"),
                }),
            }
        }
        let d = Self::default();
        let skip_failed_pages = match lookup("INCIDENT_EXPORT_SKIP_FAILED_PAGES")
            .as_deref()
            .map(str::trim)
        {
            None => d.skip_failed_pages,
            Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(ExportError::InvalidSetting {
                    name: "INCIDENT_EXPORT_SKIP_FAILED_PAGES",
                    reason: format!("{other:?} is neither true nor false"),
                });
            }
        };
        let graph_page_size = match lookup("INCIDENT_EXPORT_GRAPH_PAGE_SIZE") {
            None => d.graph_page_size,
            Some(_) => Some(num(&lookup, "INCIDENT_EXPORT_GRAPH_PAGE_SIZE", 0u32)?),
        };
        let settings = Self {
            overlap: Duration::from_secs(num(
                &lookup,
                "INCIDENT_EXPORT_OVERLAP_SECONDS",
                d.overlap.as_secs(),
            )?),
            initial_lookback: Duration::from_secs(num(
                &lookup,
                "INCIDENT_EXPORT_INITIAL_LOOKBACK_SECONDS",
                d.initial_lookback.as_secs(),
            )?),
            max_object_bytes: num(&lookup, "INCIDENT_EXPORT_MAX_OBJECT_BYTES", d.max_object_bytes)?,
            tenant_concurrency: num(
                &lookup,
                "INCIDENT_EXPORT_TENANT_CONCURRENCY",
                d.tenant_concurrency,
            )?,
            skip_failed_pages,
            mde_alerts_page_size: num(
                &lookup,
                "INCIDENT_EXPORT_MDE_ALERTS_PAGE_SIZE",
                d.mde_alerts_page_size,
            )?,
            m365d_incidents_page_size: num(
                &lookup,
                "INCIDENT_EXPORT_M365D_INCIDENTS_PAGE_SIZE",
                d.m365d_incidents_page_size,
            )?,
            graph_page_size,
            max_seen: num(&lookup, "INCIDENT_EXPORT_MAX_SEEN", d.max_seen)?,
            deadline_margin: Duration::from_secs(num(
                &lookup,
                "INCIDENT_EXPORT_DEADLINE_MARGIN_SECONDS",
                d.deadline_margin.as_secs(),
            )?),
            gzip_level: num(&lookup, "INCIDENT_EXPORT_GZIP_LEVEL", d.gzip_level)?,
        };
        settings.validate()?;
        Ok(settings)
    }

    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), ExportError> {
        let bad = |name, reason: &str| {
            Err(ExportError::InvalidSetting {
                name,
                reason: reason.to_owned(),
            })
        };
        if self.tenant_concurrency == 0 {
            return bad("INCIDENT_EXPORT_TENANT_CONCURRENCY", "must be at least 1");
        }
        if self.max_object_bytes == 0 {
            return bad("INCIDENT_EXPORT_MAX_OBJECT_BYTES", "must be at least 1");
        }
        if !(1..=10_000).contains(&self.mde_alerts_page_size) {
            return bad(
                "INCIDENT_EXPORT_MDE_ALERTS_PAGE_SIZE",
                "must be 1..=10000 (the documented $top maximum)",
            );
        }
        if !(1..=100).contains(&self.m365d_incidents_page_size) {
            return bad(
                "INCIDENT_EXPORT_M365D_INCIDENTS_PAGE_SIZE",
                "must be 1..=100 (the documented $top maximum)",
            );
        }
        if self.graph_page_size == Some(0) {
            return bad("INCIDENT_EXPORT_GRAPH_PAGE_SIZE", "must be at least 1");
        }
        if self.gzip_level > 9 {
            return bad("INCIDENT_EXPORT_GZIP_LEVEL", "must be 0..=9");
        }
        Ok(())
    }

    /// The `$top` used for a dataset.
    pub fn page_size(&self, dataset: Dataset) -> Option<u32> {
        match dataset {
            Dataset::MdeAlerts => Some(self.mde_alerts_page_size),
            Dataset::M365dIncidents => Some(self.m365d_incidents_page_size),
            Dataset::GraphIncidents | Dataset::GraphAlertsV2 => self.graph_page_size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_override_the_defaults_and_bad_values_name_the_variable() {
        let s = ExportSettings::from_lookup(|n| match n {
            "INCIDENT_EXPORT_OVERLAP_SECONDS" => Some("60".into()),
            "INCIDENT_EXPORT_SKIP_FAILED_PAGES" => Some("true".into()),
            _ => None,
        })
        .expect("valid");
        assert_eq!(s.overlap, Duration::from_secs(60));
        assert!(s.skip_failed_pages);
        let err = ExportSettings::from_lookup(|n| {
            (n == "INCIDENT_EXPORT_MDE_ALERTS_PAGE_SIZE").then(|| "20000".into())
        })
        .expect_err("above the maximum");
        assert!(
            err.to_string().contains("INCIDENT_EXPORT_MDE_ALERTS_PAGE_SIZE"),
            "{err}"
        );
    }
}
