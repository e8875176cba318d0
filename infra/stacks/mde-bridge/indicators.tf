# indicator-push: threat-intelligence indicators pushed into each customer's Defender tenant. Messages (one per
# tenant and batch of indicators, or a sync naming a feed file under <indicator_prefix>/feeds/) arrive on a
# standard queue; the function imports them through the token-broker's tokens, writes what Defender rejected and
# its sync plans under the indicator prefix, and reports per-message failures so only those are retried.
# Everything here exists only with var.enable_indicator_push.

locals {
  indicator_push         = "${var.name_prefix}-indicator-push"
  indicator_push_timeout = 300
}

module "indicator_queue" {
  count                = var.enable_indicator_push ? 1 : 0
  source               = "../../modules/queue"
  name                 = "${var.name_prefix}-indicators"
  kms_key_arn          = aws_kms_key.this.arn
  restrict_dlq_sources = var.restrict_dlq_sources
  # AWS's advice for SQS event sources: at least six times the function's timeout, so a message is not handed
  # out again while a (throttled, retried) batch is still running.
  visibility_timeout_seconds = 6 * local.indicator_push_timeout
  alarm_actions              = var.alarm_actions
  tags                       = local.tags
}

module "indicator_push" {
  count                = var.enable_indicator_push ? 1 : 0
  source               = "../../modules/function"
  name                 = local.indicator_push
  description          = "Pushes threat-intelligence indicators into each customer's Defender tenant."
  zip_path             = "${var.artifacts_dir}/indicator-push/bootstrap.zip"
  architecture         = var.architecture
  memory_mb            = 256
  timeout_seconds      = local.indicator_push_timeout
  kms_key_arn          = aws_kms_key.this.arn
  log_retention_days   = var.log_retention_days
  alarm_actions        = var.alarm_actions
  reserved_concurrency = var.indicator_push_reserved_concurrency
  environment = merge(
    local.common_environment,
    # The typed [indicators] section: MDE_BRIDGE_INDICATORS_<KEY>.
    { for k, v in var.indicator_settings : "MDE_BRIDGE_INDICATORS_${upper(k)}" => v },
    {
      MDE_BRIDGE_STORAGE_BUCKET         = module.exports.bucket
      MDE_BRIDGE_STORAGE_PREFIX         = var.indicator_prefix
      MDE_BRIDGE_TOKENS_SOURCE          = "broker"
      MDE_BRIDGE_TOKENS_BROKER_FUNCTION = local.broker
    },
  )
  # No Secrets Manager access: only the token-broker reads the credential (checks.tf).
  policy_statements = concat(
    [
      {
        sid       = "GetTokensFromTheBroker"
        actions   = ["lambda:InvokeFunction"]
        resources = [module.token_broker.function_arn]
      },
      {
        sid     = "WriteRejectsAndPlans"
        actions = ["s3:PutObject"]
        resources = [
          "${module.exports.arn}/${var.indicator_prefix}/rejects/*",
          "${module.exports.arn}/${var.indicator_prefix}/plans/*",
        ]
      },
      {
        # A sync message may name a feed file instead of carrying the indicators.
        sid       = "ReadFeeds"
        actions   = ["s3:GetObject"]
        resources = ["${module.exports.arn}/${var.indicator_prefix}/feeds/*"]
      },
      {
        # The bucket's objects and the queue's messages are encrypted with the stack's key.
        sid       = "UseTheStackKey"
        actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
        resources = [aws_kms_key.this.arn]
      },
      {
        sid       = "ConsumeTheIndicatorQueue"
        actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
        resources = [module.indicator_queue[0].arn]
      },
    ],
    local.registry_read_statements,
  )
  tags = local.tags
}

resource "aws_lambda_event_source_mapping" "indicators" {
  count                              = var.enable_indicator_push ? 1 : 0
  event_source_arn                   = module.indicator_queue[0].arn
  function_name                      = module.indicator_push[0].function_arn
  batch_size                         = 100
  maximum_batching_window_in_seconds = 10
  function_response_types            = ["ReportBatchItemFailures"]
  # Defender's import API allows 30 calls a minute per tenant: the poller never runs more copies than the
  # reserved concurrency (AWS requires at least 2 here).
  scaling_config {
    maximum_concurrency = max(2, var.indicator_push_reserved_concurrency)
  }
}
