output "credential_secret_arn" {
  description = "Put the application credential JSON here (README: Deploy)."
  value       = aws_secretsmanager_secret.credential.arn
}

output "registry_table_name" {
  description = "The tenant registry (DynamoDB): `mde-bridge tenants add|import` writes it (registry.table in the CLI's configuration)."
  value       = module.registry.name
}

output "registry_table_arn" {
  description = "ARN of the tenant registry table."
  value       = module.registry.arn
}

output "registry_writer_policy_arn" {
  description = "IAM policy to attach to the operators who onboard tenants (mde-bridge tenants add|import)."
  value       = aws_iam_policy.registry_writer.arn
}

output "token_cache_table" {
  description = "The token-broker's shared token cache (DynamoDB, keyed by key = <tenant id>/<audience>, TTL on ttl): sealed tokens, the broker's alone."
  value       = module.token_cache.name
}

output "export_bucket" {
  description = "Where exports land: s3://<bucket>/<prefix>/<dataset>/tenant=<id>/dt=YYYY-MM-DD/hour=HH/."
  value       = module.exports.bucket
}

output "export_prefix" {
  description = "Key prefix of exports in the bucket."
  value       = var.export_prefix
}

output "token_broker_function" {
  description = "Name of the token-broker function."
  value       = module.token_broker.function_name
}

output "incident_export_function" {
  description = "Name of the incident-export function."
  value       = module.incident_export.function_name
}

output "kms_key_arn" {
  description = "The stack's KMS key."
  value       = aws_kms_key.this.arn
}

output "token_broker_statements" {
  description = "IAM statements of the token-broker role."
  value       = module.token_broker.policy_statements
}

output "incident_export_statements" {
  description = "IAM statements of the incident-export role."
  value       = module.incident_export.policy_statements
}

output "log_groups" {
  description = "Log group settings of every function."
  value       = [for f in local.functions : f.log_group]
}

output "queues" {
  description = "Every queue with its dead-letter queue and redrive policy."
  value       = [for q in local.queues : { arn = q.arn, dlq_arn = q.dlq_arn, redrive_policy = q.redrive_policy }]
}

output "indicator_queue_url" {
  description = "Send indicator-push its messages here (null when enable_indicator_push is false)."
  value       = one(module.indicator_queue[*].url)
}

output "indicator_queue_arn" {
  description = "ARN of the indicator queue, e.g. to grant a feed producer sqs:SendMessage (null when enable_indicator_push is false)."
  value       = one(module.indicator_queue[*].arn)
}

output "indicator_dlq_url" {
  description = "Dead-letter queue of the indicator queue: messages that failed every receive (null when enable_indicator_push is false)."
  value       = one(module.indicator_queue[*].dlq_url)
}

output "indicator_push_function" {
  description = "Name of the indicator-push function (null when enable_indicator_push is false)."
  value       = one(module.indicator_push[*].function_name)
}

output "indicator_push_statements" {
  description = "IAM statements of the indicator-push role (empty when enable_indicator_push is false)."
  value       = flatten(module.indicator_push[*].policy_statements)
}

output "alert_webhook_url" {
  description = "The webhook's HTTPS endpoint (Function URL) to give partner products (null when enable_alert_webhook is false)."
  value       = one(aws_lambda_function_url.alert_webhook[*].function_url)
}

output "alert_webhook_function" {
  description = "Name of the alert-webhook function (null when enable_alert_webhook is false)."
  value       = one(module.alert_webhook[*].function_name)
}

output "alert_webhook_statements" {
  description = "IAM statements of the alert-webhook role (empty when enable_alert_webhook is false)."
  value       = flatten(module.alert_webhook[*].policy_statements)
}

output "action_queue_url" {
  description = "The FIFO queue of accepted webhook requests, consumed by action-executor (null when enable_alert_webhook is false)."
  value       = one(module.action_queue[*].url)
}

output "action_queue_arn" {
  description = "ARN of the action queue, the source of action-executor's first event source mapping (null when enable_alert_webhook is false)."
  value       = one(module.action_queue[*].arn)
}

output "action_dlq_url" {
  description = "Dead-letter queue of the action queue: actions that failed every receive (null when enable_alert_webhook is false)."
  value       = one(module.action_queue[*].dlq_url)
}

output "webhook_table_name" {
  description = "The webhook's idempotency table (DynamoDB, keyed by request_id, TTL on expires_at; null when enable_alert_webhook is false)."
  value       = one(module.webhook_requests[*].name)
}

output "webhook_partner_keys_secret_arn" {
  description = <<-EOT
    Put the partners' signing keys here with `aws secretsmanager put-secret-value`, as JSON
    {"keys": [{"key_id": "...", "secrets": ["whsec_..."]}]} (null when enable_alert_webhook is false).
  EOT
  value       = one(aws_secretsmanager_secret.webhook_partner_keys[*].arn)
}

output "action_executor_function" {
  description = "Name of the action-executor function (null when enable_alert_webhook is false)."
  value       = one(module.action_executor[*].function_name)
}

output "action_executor_statements" {
  description = "IAM statements of the action-executor role (empty when enable_alert_webhook is false)."
  value       = flatten(module.action_executor[*].policy_statements)
}

output "executor_poll_queue_url" {
  description = "The standard queue of action-executor's follow-up polls, which it sends itself (null when enable_alert_webhook is false)."
  value       = one(module.executor_polls[*].url)
}

output "executor_poll_dlq_url" {
  description = "Dead-letter queue of the poll queue: polls that failed every receive (null when enable_alert_webhook is false)."
  value       = one(module.executor_polls[*].dlq_url)
}
