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
  value       = [module.token_broker.log_group, module.incident_export.log_group]
}

output "queues" {
  description = "Every queue with its dead-letter queue and redrive policy."
  value = concat(
    [{ arn = module.export_failures.arn, dlq_arn = module.export_failures.dlq_arn, redrive_policy = module.export_failures.redrive_policy }],
    [for q in module.fan_out : { arn = q.arn, dlq_arn = q.dlq_arn, redrive_policy = q.redrive_policy }],
  )
}
