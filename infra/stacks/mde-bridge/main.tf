data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  region    = data.aws_region.current.name
  partition = data.aws_partition.current.partition
  bucket    = coalesce(var.bucket_name, "${var.name_prefix}-exports-${local.account}")
  broker    = "${var.name_prefix}-token-broker"
  export    = "${var.name_prefix}-incident-export"
  tags      = merge({ application = "mde-bridge" }, var.tags)

  # The tenant registry as the inline list the configuration loader reads from MDE_BRIDGE_TENANTS.
  tenants_inline = "[${join(", ", [for t in var.tenants : format("{tenant_id=%q, display_name=%q, datasets=%s, actions=%s}", t.tenant_id, t.display_name, jsonencode(t.datasets), jsonencode(t.actions))])}]"

  common_environment = merge(
    {
      MDE_BRIDGE_PARTNER_COMPANY = var.partner.company
      MDE_BRIDGE_PARTNER_PRODUCT = var.partner.product
      MDE_BRIDGE_PARTNER_VERSION = var.partner.version
      MDE_BRIDGE_CLOUD_NAME      = var.cloud
      MDE_BRIDGE_TENANTS         = local.tenants_inline
    },
    { for k, v in var.cloud_url_overrides : "MDE_BRIDGE_CLOUD_${upper(k)}" => v },
  )
}

# One key for the secret, the bucket, the queues and the logs.
data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_111:A key policy's Resource "*" means this key only; write access is limited to the account and named services.
  #checkov:skip=CKV_AWS_356:A key policy's Resource "*" means this key only (AWS's documented form of key policies).
  #checkov:skip=CKV_AWS_109:The account root statement is AWS's default key policy, so IAM policies can delegate use of the key.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account}:root"]
    }
  }
  statement {
    sid       = "CloudWatchLogsEncrypts"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/aws/lambda/${var.name_prefix}-*"]
    }
  }
  statement {
    sid       = "SchedulerAndSqsUseTheQueues"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com", "sqs.amazonaws.com", "lambda.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "mde-bridge (${var.name_prefix}): credential secret, exports, queues, logs"
  enable_key_rotation     = true
  deletion_window_in_days = 7
  policy                  = data.aws_iam_policy_document.key.json
  tags                    = local.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name_prefix}"
  target_key_id = aws_kms_key.this.key_id
}

# The application credential. Created empty: its value is put with `aws secretsmanager put-secret-value`
# (README: Deploy), so it is never a Terraform input and never in the state.
resource "aws_secretsmanager_secret" "credential" {
  #checkov:skip=CKV2_AWS_57:An Entra client secret or certificate is rotated in Entra ID, then put here; the broker re-reads a refused credential.
  name                    = "${var.name_prefix}/app-credential"
  description             = "mde-bridge application credential (JSON: schemas/app-credential.schema.json)"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = local.tags
}

module "exports" {
  source           = "../../modules/bucket"
  name             = local.bucket
  kms_key_arn      = aws_kms_key.this.arn
  enable_lifecycle = var.enable_bucket_lifecycle
  force_destroy    = var.force_destroy
  tags             = local.tags
}

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
    MDE_BRIDGE_CREDENTIAL_SECRET_ID = aws_secretsmanager_secret.credential.arn
    MDE_BRIDGE_TOKENS_SOURCE        = "direct"
  })
  policy_statements = [
    {
      sid       = "ReadTheApplicationCredential"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [aws_secretsmanager_secret.credential.arn]
    },
    {
      sid       = "DecryptTheCredential"
      actions   = ["kms:Decrypt"]
      resources = [aws_kms_key.this.arn]
    },
  ]
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
    {
      MDE_BRIDGE_STORAGE_BUCKET         = module.exports.bucket
      MDE_BRIDGE_STORAGE_PREFIX         = var.export_prefix
      MDE_BRIDGE_TOKENS_SOURCE          = "broker"
      MDE_BRIDGE_TOKENS_BROKER_FUNCTION = local.broker
    },
    var.enable_fan_out ? { INCIDENT_EXPORT_QUEUE_URL = module.fan_out[0].url } : {},
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
        sid       = "ListOwnPrefix"
        actions   = ["s3:ListBucket"]
        resources = [module.exports.arn]
      },
      {
        sid       = "EncryptExports"
        actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
        resources = [aws_kms_key.this.arn]
      },
    ],
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

# The schedule.
data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  name               = "${var.name_prefix}-export-scheduler"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
  tags               = local.tags
}

resource "aws_iam_role_policy" "scheduler" {
  name = "${var.name_prefix}-export-scheduler"
  role = aws_iam_role.scheduler.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      { Sid = "InvokeExport", Effect = "Allow", Action = ["lambda:InvokeFunction"], Resource = [module.incident_export.function_arn] },
      { Sid = "DeadLetters", Effect = "Allow", Action = ["sqs:SendMessage"], Resource = [module.export_failures.arn] },
      { Sid = "EncryptDeadLetters", Effect = "Allow", Action = ["kms:GenerateDataKey", "kms:Decrypt"], Resource = [aws_kms_key.this.arn] },
    ]
  })
}

resource "aws_scheduler_schedule" "export" {
  name                = "${var.name_prefix}-incident-export"
  schedule_expression = var.export_schedule
  kms_key_arn         = aws_kms_key.this.arn
  flexible_time_window {
    mode = "OFF"
  }
  target {
    arn      = module.incident_export.function_arn
    role_arn = aws_iam_role.scheduler.arn
    input    = jsonencode({})
    retry_policy {
      maximum_retry_attempts       = 2
      maximum_event_age_in_seconds = 3600
    }
    dead_letter_config {
      arn = module.export_failures.arn
    }
  }
}

# Lag: one alarm per (tenant, dataset), from the function's Embedded Metric Format lines.
resource "aws_cloudwatch_metric_alarm" "export_lag" {
  for_each = {
    for pair in flatten([for t in var.tenants : [for d in t.datasets : { tenant = t.tenant_id, dataset = d }]]) :
    "${pair.tenant}/${pair.dataset}" => pair
  }
  alarm_name          = "${var.name_prefix}-export-lag-${replace(each.key, "/", "-")}"
  alarm_description   = "Export of ${each.value.dataset} for tenant ${each.value.tenant} is more than ${var.export_lag_alarm_seconds} s behind."
  namespace           = "MdeBridge/IncidentExport"
  metric_name         = "LagSeconds"
  dimensions          = { Tenant = each.value.tenant, Dataset = each.value.dataset }
  statistic           = "Maximum"
  period              = 900
  evaluation_periods  = 1
  threshold           = var.export_lag_alarm_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = var.alarm_actions
  tags                = local.tags
}

# Only the token-broker may read the application credential: a statement of incident-export that could read a
# secret (any secretsmanager read action, a wildcard, or any action on the secret) fails this check.
check "only_the_broker_reads_the_credential" {
  assert {
    condition = alltrue([
      for s in module.incident_export.policy_statements : !anytrue([
        for a in s.actions : a == "*" || can(regex("^secretsmanager:(\\*|Get|Describe|List|BatchGet)", a))
      ])
    ])
    error_message = "incident-export must not read secrets: only the token-broker holds the application credential."
  }
}
