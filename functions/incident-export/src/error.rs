//! The one error type of the crate.

use mde_defender::DefenderError;
use mde_platform::PlatformError;
use thiserror::Error;

/// Why an export (or a part of it) failed. Messages say what to do where the operator can act.
#[derive(Debug, Error)]
pub enum ExportError {
    /// The job (scheduler payload or queue message) is not valid.
    #[error("invalid export job: {0}")]
    InvalidJob(String),

    /// The configuration does not allow an export; the message names the key.
    #[error("configuration: {0}")]
    InvalidSetting(String),

    /// The tenant registry could not be read.
    #[error("the tenant registry could not be read: {0}")]
    Registry(#[source] PlatformError),

    /// The checkpoint object cannot be understood. The export of this tenant and dataset stops: it never
    /// silently restarts from "now" (that would lose records) or from the beginning (that would duplicate them).
    #[error(
        "the checkpoint {location} is corrupt ({reason}): exporting this tenant and dataset is stopped until it is \
         repaired; fix the JSON, or delete the object to start again from the initial lookback (records already \
         exported in that window are then exported again)"
    )]
    CorruptCheckpoint {
        /// Where the checkpoint is.
        location: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The checkpoint's frontier is later than the service's clock: it was edited, or written by a host whose clock
    /// was wrong. Left alone, the dataset would never export again.
    #[error(
        "the checkpoint {location} says everything up to {frontier} is exported, but the service's clock says it is \
         {service_now}: the checkpoint was edited or written with a wrong clock. Set its \"frontier\" to the last time \
         you know was exported (or delete the checkpoint to start again from the initial look-back; records exported \
         since then are written again)"
    )]
    FutureCheckpoint {
        /// Where the checkpoint is.
        location: String,
        /// Its frontier.
        frontier: String,
        /// The service's clock.
        service_now: String,
    },

    /// More records than `$top` share one last-update instant and one creation instant, and reading them with
    /// `$skip` never gave the same records twice: the cell is quarantined and the cursor holds before it.
    #[error(
        "a window could not be read consistently ({reason}); it is recorded at {location} and the checkpoint holds before it"
    )]
    UnstableCell {
        /// The quarantine object.
        location: String,
        /// Why.
        reason: String,
    },

    /// An export object this run needed to read back (one a crashed run wrote) is not what the export writes.
    #[error("the export object {location} cannot be read back ({reason}): move it aside and run again")]
    CorruptObject {
        /// Where it is.
        location: String,
        /// What is wrong.
        reason: String,
    },

    /// Another run advanced the checkpoint since this run read it, each time this run started again from it.
    #[error(
        "another run advanced the checkpoint {location} first, again after each restart from its progress: this \
         run stopped and leaves the rest to that run (records it wrote since its last checkpoint are exported \
         again at most)"
    )]
    CheckpointConflict {
        /// Where the checkpoint is.
        location: String,
    },

    /// Reading or writing the object store failed; the checkpoint was not advanced past unwritten records.
    #[error("object store: {action} {location}: {source}")]
    Storage {
        /// What was being done.
        action: &'static str,
        /// The object.
        location: String,
        /// The store's error.
        #[source]
        source: PlatformError,
    },

    /// The API refused the tenant or kept failing for reasons that are not one page's (consent, credentials,
    /// throttling): the cursor holds and the next run tries again.
    #[error(transparent)]
    Api(Box<DefenderError>),

    /// A window's answer kept being unusable (not the documented JSON, or a 4xx for that request); it is
    /// recorded in a quarantine object and the cursor holds before it (unless the settings allow moving past).
    #[error(
        "a window's answer kept being unusable and is recorded at {location}; the checkpoint holds before it, and \
         the next run tries it again: {source}"
    )]
    PageQuarantined {
        /// The quarantine object.
        location: String,
        /// The last error of the page.
        #[source]
        source: Box<DefenderError>,
    },

    /// An export object could not be encoded (gzip).
    #[error("encoding an export object: {0}")]
    Encode(#[from] std::io::Error),

    /// Enqueuing a fan-out job failed.
    #[error("enqueuing export jobs: {0}")]
    Queue(#[source] PlatformError),
}

impl From<DefenderError> for ExportError {
    fn from(e: DefenderError) -> Self {
        ExportError::Api(Box::new(e))
    }
}
