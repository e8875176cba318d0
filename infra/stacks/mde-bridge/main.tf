# The stack's data sources and shared locals. Resources live in one file per concern: kms.tf, secret.tf,
# registry.tf, tokens.tf, storage.tf, functions.tf, indicators.tf, webhook.tf, executor.tf, schedule.tf,
# alarms.tf; the inventory of functions, queues, tables and buckets and the check blocks over it in checks.tf.

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

  # Every function's configuration: the partner identity, the cloud, and the tenant registry (a DynamoDB table,
  # written by operators with `mde-bridge tenants add|import`, read by the functions).
  common_environment = merge(
    {
      MDE_BRIDGE_PARTNER_COMPANY  = var.partner.company
      MDE_BRIDGE_PARTNER_PRODUCT  = var.partner.product
      MDE_BRIDGE_PARTNER_VERSION  = var.partner.version
      MDE_BRIDGE_CLOUD_NAME       = var.cloud
      MDE_BRIDGE_REGISTRY_BACKEND = "dynamodb"
      MDE_BRIDGE_REGISTRY_TABLE   = module.registry.name
    },
    { for k, v in var.cloud_url_overrides : "MDE_BRIDGE_CLOUD_${upper(k)}" => v },
  )

  # The credential secrets: the application's, and the extra ones (sovereign-cloud app registrations) a tenant's
  # credential_secret_id may name. Only the token-broker reads them (checks.tf).
  credential_secret_arns = concat([aws_secretsmanager_secret.credential.arn], var.extra_credential_secret_arns)
}
