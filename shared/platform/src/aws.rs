//! AWS SDK set-up shared by the AWS adapters, and the one place that decides which SDK errors are transient.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use mde_contracts::AwsSettings;

use crate::PlatformError;

/// Loads the AWS configuration once per process: the default credential chain, with the region and endpoint
/// overrides of the `[aws]` section (an endpoint override points every service at a local emulator).
pub async fn load_sdk_config(settings: &AwsSettings) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &settings.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url.as_str().trim_end_matches('/'));
    }
    loader.load().await
}

/// An S3 client for this configuration. Path-style addressing is used when an endpoint override is set,
/// since local emulators do not serve virtual-hosted buckets.
pub fn s3_client(sdk: &SdkConfig, settings: &AwsSettings) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(settings.endpoint_url.is_some())
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// Turns any SDK error into [`PlatformError::Aws`], deciding whether it is worth retrying.
pub(crate) fn sdk_error<E, R>(
    service: &'static str,
    operation: &'static str,
    err: SdkError<E, R>,
) -> PlatformError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let retryable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(e) => {
            let code = e.err().code().unwrap_or_default();
            code.contains("Throttl")
                || code.contains("TooManyRequests")
                || code == "SlowDown"
                || code == "InternalError"
                || code == "ServiceUnavailable"
                || code == "RequestTimeout"
        }
        _ => false,
    };
    let message = match &err {
        SdkError::ServiceError(e) => {
            let m = e.err();
            format!(
                "{}: {}",
                m.code().unwrap_or("error"),
                m.message().unwrap_or("no message from the service")
            )
        }
        other => aws_sdk_s3::error::DisplayErrorContext(other).to_string(),
    };
    PlatformError::Aws {
        service,
        operation,
        message,
        retryable,
    }
}
