# A minimal MSSP deployment: one region, exports every five minutes, indicator push, and the partner webhook
# (alert-webhook + action-executor, on by default; enable_alert_webhook = false leaves both out). Tenants are not
# Terraform inputs: operators onboard them into the registry table with `mde-bridge tenants import tenants.jsonl`
# (README.md). Build the functions first (scripts/build), then: terraform init && terraform apply.

terraform {
  required_version = ">= 1.7"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 6.0"
    }
  }
}

provider "aws" {
  region = var.region
}

variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "eu-west-1"
}

variable "artifacts_dir" {
  description = "Where scripts/build put the function zips."
  type        = string
  default     = "../../../target/lambda"
}

variable "architecture" {
  description = "What scripts/build built for: arm64, or x86_64 where no arm64 toolchain was available."
  type        = string
  default     = "arm64"
}

module "mde_bridge" {
  source        = "../../stacks/mde-bridge"
  name_prefix   = "mssp-mde-bridge"
  artifacts_dir = var.artifacts_dir
  architecture  = var.architecture
  partner = {
    company = "Contoso"
    product = "ManagedXdr"
    version = "1.0.0"
  }
}

output "credential_secret_arn" {
  description = "Put the application credential JSON into this secret."
  value       = module.mde_bridge.credential_secret_arn
}

output "export_location" {
  description = "Where the exports land."
  value       = "s3://${module.mde_bridge.export_bucket}/${module.mde_bridge.export_prefix}/"
}

output "registry_table_name" {
  description = "The tenant registry: onboard tenants with `mde-bridge tenants import tenants.jsonl`."
  value       = module.mde_bridge.registry_table_name
}

output "registry_writer_policy_arn" {
  description = "Attach to the operators who onboard tenants."
  value       = module.mde_bridge.registry_writer_policy_arn
}

output "alert_webhook_url" {
  description = "The partner webhook's HTTPS endpoint, for partner products."
  value       = module.mde_bridge.alert_webhook_url
}

output "webhook_partner_keys_secret_arn" {
  description = "Put the partners' signing keys into this secret."
  value       = module.mde_bridge.webhook_partner_keys_secret_arn
}
