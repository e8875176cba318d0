# alert-webhook: the HTTPS front door for partner products. A partner signs each request (Standard Webhooks:
# HMAC-SHA256 with one of its keys from the partner-keys secret); the function verifies the signature, resolves the
# tenant from the registry and the partner's rights on it, records the request id in the idempotency table (a
# replay or a retry is answered without a second action), puts the accepted request on the FIFO action queue and
# answers 202; GET /v1/requests/{id} answers from the executor's audit record. action-executor (executor.tf)
# consumes that queue. The function never calls Defender itself: no tokens, no credential. Everything here exists
# only with var.enable_alert_webhook (on by default).

locals {
  alert_webhook = "${var.name_prefix}-alert-webhook"
}

# The accepted requests, in order per message group (the function sets the group and the deduplication id).
module "action_queue" {
  count                = var.enable_alert_webhook ? 1 : 0
  source               = "../../modules/queue"
  name                 = "${var.name_prefix}-actions"
  fifo                 = true
  kms_key_arn          = aws_kms_key.this.arn
  restrict_dlq_sources = var.restrict_dlq_sources
  # Beyond the executor's own retries (executor.tf), so that it records a request's failure itself.
  max_receive_count = local.action_executor_max_receive_count
  # AWS's advice for SQS event sources: at least six times the consumer's (action-executor's) timeout.
  visibility_timeout_seconds = 6 * local.action_executor_timeout
  alarm_actions              = var.alarm_actions
  tags                       = local.tags
}

# Idempotency: one item per accepted request id, expired by DynamoDB's TTL on expires_at (epoch seconds; the
# function also ignores expired items, since DynamoDB deletes them late).
module "webhook_requests" {
  count                  = var.enable_alert_webhook ? 1 : 0
  source                 = "../../modules/table"
  name                   = "${var.name_prefix}-webhook-requests"
  hash_key               = "request_id"
  ttl_attribute          = "expires_at"
  kms_key_arn            = aws_kms_key.this.arn
  deletion_protection    = var.webhook_table_deletion_protection
  point_in_time_recovery = true
  tags                   = local.tags
}

# The partners' signing keys. Created empty, like the application credential (secret.tf): operators put the JSON
# {"keys": [{"key_id": "...", "secrets": ["whsec_..."]}]} with `aws secretsmanager put-secret-value`, so no key is
# ever a Terraform input or in the state.
resource "aws_secretsmanager_secret" "webhook_partner_keys" {
  #checkov:skip=CKV2_AWS_57:A partner key is rotated by listing the new whsec_ secret next to the old one under its key_id, then removing the old one; the function accepts any listed secret, so no rotation Lambda is involved.
  count                   = var.enable_alert_webhook ? 1 : 0
  name                    = "${var.name_prefix}/webhook-partner-keys"
  description             = "mde-bridge alert-webhook partner signing keys (JSON: {\"keys\": [{\"key_id\": \"...\", \"secrets\": [\"whsec_...\"]}]})"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = local.tags
}

module "alert_webhook" {
  count                = var.enable_alert_webhook ? 1 : 0
  source               = "../../modules/function"
  name                 = local.alert_webhook
  description          = "HTTPS front door for partner products: verifies signed requests, deduplicates them and queues them."
  zip_path             = "${var.artifacts_dir}/alert-webhook/bootstrap.zip"
  architecture         = var.architecture
  memory_mb            = 256
  timeout_seconds      = 10
  kms_key_arn          = aws_kms_key.this.arn
  log_retention_days   = var.log_retention_days
  alarm_actions        = var.alarm_actions
  reserved_concurrency = var.alert_webhook_reserved_concurrency
  environment = merge(
    local.common_environment,
    # The typed [webhook] section: MDE_BRIDGE_WEBHOOK_<KEY>.
    { for k, v in var.webhook_settings : "MDE_BRIDGE_WEBHOOK_${upper(k)}" => v },
    # For GET /v1/requests/{id}: the bucket and prefix of the executor's audit records (both functions use the
    # default [executor].audit_prefix, audit/requests/, which executor_settings may not change).
    {
      MDE_BRIDGE_WEBHOOK_QUEUE_URL              = module.action_queue[0].url
      MDE_BRIDGE_WEBHOOK_TABLE                  = module.webhook_requests[0].name
      MDE_BRIDGE_WEBHOOK_PARTNER_KEYS_SECRET_ID = aws_secretsmanager_secret.webhook_partner_keys[0].arn
      MDE_BRIDGE_STORAGE_BUCKET                 = module.exports.bucket
      MDE_BRIDGE_STORAGE_PREFIX                 = var.indicator_prefix
    },
  )
  # No token source: the webhook resolves tenants from the registry but never calls Defender (the executor does),
  # so it may not invoke the token-broker, and it never reads the application credential (checks.tf).
  policy_statements = concat(
    [
      {
        sid       = "ReadThePartnerKeys"
        actions   = ["secretsmanager:GetSecretValue"]
        resources = [aws_secretsmanager_secret.webhook_partner_keys[0].arn]
      },
      {
        # Put-if-absent of a request id, the lookup of a replayed one, the update of its outcome. No delete, no scan.
        sid       = "RecordRequestIds"
        actions   = ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"]
        resources = [module.webhook_requests[0].arn]
      },
      {
        sid       = "EnqueueActions"
        actions   = ["sqs:SendMessage"]
        resources = [module.action_queue[0].arn]
      },
      {
        # The executor's audit records (the status of a request), read only.
        sid       = "ReadTheAuditRecords"
        actions   = ["s3:GetObject"]
        resources = ["${module.exports.arn}/${local.audit_records_prefix}/*"]
      },
      local.list_audit_records,
      {
        # The partner keys, the table's items, the queue's messages and the bucket's objects (the audit records)
        # are encrypted with the stack's key.
        sid       = "UseTheStackKey"
        actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
        resources = [aws_kms_key.this.arn]
      },
    ],
    local.registry_read_statements,
  )
  tags = local.tags
}

# Public access to the Function URL. Since October 2025 AWS requires two statements in the function's resource
# policy for a NONE-auth URL: lambda:InvokeFunctionUrl (for auth type NONE) and lambda:InvokeFunction. Both are
# managed here, under statement ids of their own. (Provider 5.x's aws_lambda_function_url also adds the first one
# itself, as FunctionURLAllowPublicAccess, untracked: the same grant, gone with the function. The explicit one does
# not depend on that behaviour.)
resource "aws_lambda_permission" "alert_webhook_url" {
  #checkov:skip=CKV_AWS_301:The webhook is public by design; every request is authenticated by its HMAC signature in the function, and the reserved concurrency bounds it.
  count                  = var.enable_alert_webhook ? 1 : 0
  statement_id           = "AllowPublicFunctionUrl"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = module.alert_webhook[0].function_name
  principal              = "*"
  function_url_auth_type = "NONE"
}

# The second statement should carry the condition lambda:InvokedViaFunctionUrl = true (the URL only, not the
# Invoke API); aws_lambda_permission gains that argument (invoked_via_function_url) only in provider 6.28, beyond
# this stack's "< 6.0" constraint. Until then any AWS principal may also invoke the function directly, with an
# event of its making: the function must therefore trust nothing in the event but the signed headers and body
# (not requestContext), and such invocations count against the same reserved concurrency. Set
# invoked_via_function_url = true here when the provider constraint moves to 6.28 or later.
resource "aws_lambda_permission" "alert_webhook_invoke" {
  #checkov:skip=CKV_AWS_301:Required by AWS for a public Function URL; provider 5.x cannot add the lambda:InvokedViaFunctionUrl condition (see the comment above). Requests are authenticated by their HMAC signatures.
  count         = var.enable_alert_webhook ? 1 : 0
  statement_id  = "AllowInvokeForTheFunctionUrl"
  action        = "lambda:InvokeFunction"
  function_name = module.alert_webhook[0].function_name
  principal     = "*"
}

# authorization_type = NONE: AWS does not authenticate the callers, the function does. Every request must carry a
# valid Standard Webhooks signature (HMAC-SHA256 over id, timestamp and body with a partner key from the
# partner-keys secret), within the timestamp tolerance, or it is refused before anything is recorded or queued.
# No CORS: partners call server to server, never from a browser.
resource "aws_lambda_function_url" "alert_webhook" {
  #checkov:skip=CKV_AWS_258:Partner products cannot sign AWS SigV4 requests; each request is authenticated by its Standard Webhooks HMAC signature in the function.
  count              = var.enable_alert_webhook ? 1 : 0
  function_name      = module.alert_webhook[0].function_name
  authorization_type = "NONE"
  invoke_mode        = "BUFFERED"
  depends_on         = [aws_lambda_permission.alert_webhook_url, aws_lambda_permission.alert_webhook_invoke]
}
