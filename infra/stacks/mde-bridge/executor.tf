# action-executor: the second half of the partner webhook. It consumes the requests alert-webhook accepted (the FIFO
# action queue of webhook.tf, one message group per tenant and device), performs them in Defender with the
# token-broker's tokens (indicator requests through indicator-push's core), keeps one audit record per request
# under <indicator_prefix>/audit/requests/ (which the webhook reads back for GET /v1/requests/{id}) and hunting
# results under <indicator_prefix>/hunting/. A machine action is confirmed by polls: follow-up messages the
# executor sends itself, with a per-message delay, on a standard queue of its own (FIFO queues have no
# per-message delay). Both queues are its event sources. Everything here exists only with var.enable_alert_webhook.

locals {
  action_executor = "${var.name_prefix}-action-executor"
  # The executor runs up to 300 s per message batch; both queues hide a message for 6 times that (AWS's advice
  # for SQS event sources).
  action_executor_timeout = 300
  # Copies of the executor per event source mapping (AWS's minimum is 2). Their sum is the executor's
  # [executor].concurrency: each copy keeps to 1/concurrency of Defender's rate limits, so together they keep
  # to them; it is also the function's reserved concurrency, so no more copies than that ever run.
  action_executor_request_concurrency = 2
  action_executor_poll_concurrency    = 2
  action_executor_concurrency         = local.action_executor_request_concurrency + local.action_executor_poll_concurrency
  # The executor retries a transient failure itself, with backoff, up to [executor].max_attempts receives (8
  # unless executor_settings says otherwise) and then records the failure in the audit record: the queues' redrive
  # must come later (10 receives at least), so that only messages the executor could not handle at all (a crash, a
  # timeout) reach a dead-letter queue.
  action_executor_max_receive_count = max(10, tonumber(lookup(var.executor_settings, "max_attempts", "8")) + 2)
  # Where the executor reads and writes in the bucket: the indicator prefix, like indicator-push (whose core it
  # uses for indicator requests: rejects/ and plans/), plus its audit records and hunting results.
  action_executor_prefixes = [for p in ["audit/requests", "hunting", "rejects", "plans"] : "${var.indicator_prefix}/${p}"]
  # The audit records, read by the executor (a request's earlier progress) and by alert-webhook (the request
  # status). A record that is not written yet must read as absent (404), not as denied (403): S3 answers 404 only
  # to a caller allowed s3:ListBucket, which is evaluated with the requested key as s3:prefix, so both functions may
  # list exactly this prefix.
  audit_records_prefix = "${var.indicator_prefix}/audit/requests"
  list_audit_records = {
    sid       = "ListTheAuditRecords"
    actions   = ["s3:ListBucket"]
    resources = [module.exports.arn]
    conditions = [{
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.audit_records_prefix}/*"]
    }]
  }
}

# The follow-ups (polls of machine actions): a standard queue, for per-message delays (up to 15 minutes).
module "executor_polls" {
  count                      = var.enable_alert_webhook ? 1 : 0
  source                     = "../../modules/queue"
  name                       = "${var.name_prefix}-executor-polls"
  kms_key_arn                = aws_kms_key.this.arn
  restrict_dlq_sources       = var.restrict_dlq_sources
  max_receive_count          = local.action_executor_max_receive_count
  visibility_timeout_seconds = 6 * local.action_executor_timeout
  alarm_actions              = var.alarm_actions
  tags                       = local.tags
}

module "action_executor" {
  count           = var.enable_alert_webhook ? 1 : 0
  source          = "../../modules/function"
  name            = local.action_executor
  description     = "Performs the Defender actions partners asked for through alert-webhook, with an audit record per request."
  zip_path        = "${var.artifacts_dir}/action-executor/bootstrap.zip"
  architecture    = var.architecture
  memory_mb       = 512
  timeout_seconds = local.action_executor_timeout
  # Errors and throttles alarms, like every function's (modules/function); its queues' dead-letter alarms come
  # with modules/queue.
  kms_key_arn          = aws_kms_key.this.arn
  log_retention_days   = var.log_retention_days
  alarm_actions        = var.alarm_actions
  reserved_concurrency = local.action_executor_concurrency
  environment = merge(
    local.common_environment,
    # indicator-push's core and its [indicators] settings, for indicator requests.
    { for k, v in var.indicator_settings : "MDE_BRIDGE_INDICATORS_${upper(k)}" => v },
    # The typed [executor] section: MDE_BRIDGE_EXECUTOR_<KEY>.
    { for k, v in var.executor_settings : "MDE_BRIDGE_EXECUTOR_${upper(k)}" => v },
    {
      MDE_BRIDGE_STORAGE_BUCKET          = module.exports.bucket
      MDE_BRIDGE_STORAGE_PREFIX          = var.indicator_prefix
      MDE_BRIDGE_TOKENS_SOURCE           = "broker"
      MDE_BRIDGE_TOKENS_BROKER_FUNCTION  = local.broker
      MDE_BRIDGE_WEBHOOK_QUEUE_URL       = module.action_queue[0].url
      MDE_BRIDGE_EXECUTOR_POLL_QUEUE_URL = module.executor_polls[0].url
      MDE_BRIDGE_EXECUTOR_CONCURRENCY    = tostring(local.action_executor_concurrency)
    },
  )
  # Like indicator-push: tokens from the broker, no Secrets Manager access (only the token-broker reads the
  # credential: checks.tf).
  policy_statements = concat(
    [
      {
        sid       = "GetTokensFromTheBroker"
        actions   = ["lambda:InvokeFunction"]
        resources = [module.token_broker.function_arn]
      },
      {
        # Audit records (conditional writes), hunting results, and indicator-push's rejects and plans.
        sid       = "ReadAndWriteOwnObjects"
        actions   = ["s3:GetObject", "s3:PutObject"]
        resources = [for p in local.action_executor_prefixes : "${module.exports.arn}/${p}/*"]
      },
      local.list_audit_records,
      {
        # The bucket's objects and both queues' messages are encrypted with the stack's key.
        sid       = "UseTheStackKey"
        actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
        resources = [aws_kms_key.this.arn]
      },
      {
        sid       = "ConsumeTheRequestsAndPolls"
        actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
        resources = [module.action_queue[0].arn, module.executor_polls[0].arn]
      },
      {
        # Follow-ups to itself; never onto the action queue (only the webhook enqueues requests).
        sid       = "SchedulePolls"
        actions   = ["sqs:SendMessage"]
        resources = [module.executor_polls[0].arn]
      },
    ],
    local.registry_read_statements,
  )
  tags = local.tags
}

# The accepted requests. FIFO: batches of up to 10 (SQS's limit for FIFO sources), in order per message group;
# a message the function reports failed is retried (with the rest of its group held back), the others deleted.
resource "aws_lambda_event_source_mapping" "executor_requests" {
  count                   = var.enable_alert_webhook ? 1 : 0
  event_source_arn        = module.action_queue[0].arn
  function_name           = module.action_executor[0].function_arn
  batch_size              = 10
  function_response_types = ["ReportBatchItemFailures"]
  scaling_config {
    maximum_concurrency = local.action_executor_request_concurrency
  }
}

resource "aws_lambda_event_source_mapping" "executor_polls" {
  count                              = var.enable_alert_webhook ? 1 : 0
  event_source_arn                   = module.executor_polls[0].arn
  function_name                      = module.action_executor[0].function_arn
  batch_size                         = 10
  maximum_batching_window_in_seconds = 0
  function_response_types            = ["ReportBatchItemFailures"]
  scaling_config {
    maximum_concurrency = local.action_executor_poll_concurrency
  }
}
