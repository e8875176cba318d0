# The functions, the fan-out queue and the queue of failed scheduled runs.

# Failed scheduled runs (after Lambda's retries) land here with their reason.
module "export_failures" {
  source               = "../../modules/queue"
  name                 = "${var.name_prefix}-export-failures"
  kms_key_arn          = aws_kms_key.this.arn
  restrict_dlq_sources = var.restrict_dlq_sources
  alarm_actions        = var.alarm_actions
  tags                 = local.tags
}

module "fan_out" {
  count                      = var.enable_fan_out ? 1 : 0
  source                     = "../../modules/queue"
  name                       = "${var.name_prefix}-export-jobs"
  kms_key_arn                = aws_kms_key.this.arn
  restrict_dlq_sources       = var.restrict_dlq_sources
  visibility_timeout_seconds = 6 * 900
  alarm_actions              = var.alarm_actions
  tags                       = local.tags
}

module "token_broker" {
  source               = "../../modules/function"
  name                 = local.broker
  description          = "Holds the application credential; hands out checked tenant tokens."
  zip_path             = "${var.artifacts_dir}/token-broker/bootstrap.zip"
  architecture         = var.architecture
  memory_mb            = 256
  timeout_seconds      = 30
  kms_key_arn          = aws_kms_key.this.arn
  log_retention_days   = var.log_retention_days
  alarm_actions        = var.alarm_actions
  reserved_concurrency = 5
  environment = merge(local.common_environment, {
    MDE_BRIDGE_CREDENTIAL_SECRET_ID      = aws_secretsmanager_secret.credential.arn
    MDE_BRIDGE_TOKENS_SOURCE             = "direct"
    MDE_BRIDGE_TOKENS_SHARED_CACHE_TABLE = module.token_cache.name
  })
  policy_statements = concat(
    [
      {
        # The application credential and the extra ones a tenant's credential_secret_id may name.
        sid       = "ReadTheApplicationCredential"
        actions   = ["secretsmanager:GetSecretValue"]
        resources = local.credential_secret_arns
      },
      {
        sid       = "DecryptTheCredential"
        actions   = ["kms:Decrypt"]
        resources = [aws_kms_key.this.arn]
      },
    ],
    local.registry_read_statements,
    # The shared token cache (tokens.tf): the broker's alone.
    local.token_cache_statements,
  )
  tags = local.tags
}

module "incident_export" {
  source               = "../../modules/function"
  name                 = local.export
  description          = "Exports incidents and alerts of every tenant to S3, lossless, with checkpoints."
  zip_path             = "${var.artifacts_dir}/incident-export/bootstrap.zip"
  architecture         = var.architecture
  memory_mb            = 512
  timeout_seconds      = 900
  kms_key_arn          = aws_kms_key.this.arn
  log_retention_days   = var.log_retention_days
  alarm_actions        = var.alarm_actions
  reserved_concurrency = var.export_reserved_concurrency
  failure_destination  = { arn = module.export_failures.arn }
  environment = merge(
    local.common_environment,
    # The typed [export] section: MDE_BRIDGE_EXPORT_<KEY>.
    { for k, v in var.export_settings : "MDE_BRIDGE_EXPORT_${upper(k)}" => v },
    {
      MDE_BRIDGE_STORAGE_BUCKET         = module.exports.bucket
      MDE_BRIDGE_STORAGE_PREFIX         = var.export_prefix
      MDE_BRIDGE_TOKENS_SOURCE          = "broker"
      MDE_BRIDGE_TOKENS_BROKER_FUNCTION = local.broker
    },
    var.enable_fan_out ? { MDE_BRIDGE_EXPORT_QUEUE_URL = module.fan_out[0].url } : {},
  )
  policy_statements = concat(
    [
      {
        sid       = "GetTokensFromTheBroker"
        actions   = ["lambda:InvokeFunction"]
        resources = [module.token_broker.function_arn]
      },
      {
        sid       = "WriteExportsAndCheckpoints"
        actions   = ["s3:PutObject", "s3:GetObject"]
        resources = ["${module.exports.arn}/${var.export_prefix}/*"]
      },
      {
        # Listing is limited to the export prefix (the bucket may hold other data, e.g. a SIEM's).
        sid       = "ListOwnPrefix"
        actions   = ["s3:ListBucket"]
        resources = [module.exports.arn]
        conditions = [{
          test     = "StringLike"
          variable = "s3:prefix"
          values   = [var.export_prefix, "${var.export_prefix}/*"]
        }]
      },
      {
        sid       = "EncryptExports"
        actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
        resources = [aws_kms_key.this.arn]
      },
    ],
    local.registry_read_statements,
    var.enable_fan_out ? [
      {
        sid       = "FanOutJobs"
        actions   = ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
        resources = [module.fan_out[0].arn]
      },
    ] : [],
    var.extra_export_statements,
  )
  tags = local.tags
}

resource "aws_lambda_event_source_mapping" "fan_out" {
  count                              = var.enable_fan_out ? 1 : 0
  event_source_arn                   = module.fan_out[0].arn
  function_name                      = module.incident_export.function_arn
  batch_size                         = 1
  function_response_types            = ["ReportBatchItemFailures"]
  maximum_batching_window_in_seconds = 0
}
