# The root stack applied to moto server (a local AWS emulator) by scripts/test-infra. Not a deployment.
#
# Left out against the emulator, by variable, with the reason:
# - enable_bucket_lifecycle = false: the provider's waiter for a lifecycle configuration takes about a minute
#   against moto; the configuration itself is covered by `terraform test` and checkov.
# - registry_deletion_protection = false, webhook_table_deletion_protection = false: not an emulator limit; a
#   protected table cannot be destroyed, and this stack is destroyed at the end of every run.
# - restrict_dlq_sources = false: moto 5.2 does not know the SQS RedriveAllowPolicy attribute (GetQueueAttributes
#   answers InvalidAttributeName, and the provider waits forever).

terraform {
  required_version = ">= 1.7"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 6.0"
    }
  }
}

variable "endpoint" {
  description = "moto server URL."
  type        = string
}

variable "name_prefix" {
  description = "Resource name prefix; scripts/test-infra makes it unique per run."
  type        = string
  default     = "mde-bridge-ci"
}

variable "artifacts_dir" {
  description = "Directory of <function>/bootstrap.zip packages."
  type        = string
}

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = false
  s3_use_path_style           = true
  endpoints {
    cloudwatch     = var.endpoint
    dynamodb       = var.endpoint
    iam            = var.endpoint
    kms            = var.endpoint
    lambda         = var.endpoint
    logs           = var.endpoint
    s3             = var.endpoint
    scheduler      = var.endpoint
    secretsmanager = var.endpoint
    sqs            = var.endpoint
    sts            = var.endpoint
  }
}

module "mde_bridge" {
  source                       = "../../stacks/mde-bridge"
  name_prefix                  = var.name_prefix
  artifacts_dir                = var.artifacts_dir
  architecture                 = "x86_64"
  enable_fan_out               = true
  enable_bucket_lifecycle      = false
  restrict_dlq_sources         = false
  force_destroy                = true
  secret_recovery_window_days  = 0
  registry_deletion_protection = false
  # The partner webhook is on by default and applied here too: alert-webhook (FIFO queues, TTL table, Function URL)
  # and action-executor (standard poll queues, two event source mappings, one of them on a FIFO queue).
  webhook_table_deletion_protection = false
  partner = {
    company = "Contoso"
    product = "Ci"
    version = "1.0.0"
  }
}

output "export_bucket" {
  description = "The bucket created in the emulator."
  value       = module.mde_bridge.export_bucket
}

output "credential_secret_arn" {
  description = "The secret created in the emulator."
  value       = module.mde_bridge.credential_secret_arn
}

output "registry_table_name" {
  description = "The tenant registry table created in the emulator."
  value       = module.mde_bridge.registry_table_name
}

output "token_cache_table" {
  description = "The token-broker's shared token cache table created in the emulator."
  value       = module.mde_bridge.token_cache_table
}

output "registry_writer_policy_arn" {
  description = "The operators' registry writer policy created in the emulator."
  value       = module.mde_bridge.registry_writer_policy_arn
}

output "alert_webhook_function" {
  description = "The webhook function created in the emulator."
  value       = module.mde_bridge.alert_webhook_function
}

output "action_executor_function" {
  description = "The executor function created in the emulator."
  value       = module.mde_bridge.action_executor_function
}

output "executor_poll_queue_url" {
  description = "The executor's poll queue created in the emulator."
  value       = module.mde_bridge.executor_poll_queue_url
}
