# A minimal MSSP deployment: one region, two customer tenants, exports every five minutes.
# Build the functions first (scripts/build), then: terraform init && terraform apply.

terraform {
  required_version = ">= 1.6"
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
  tenants = [
    {
      tenant_id    = "72f988bf-86f1-41af-91ab-2d7cd011db47"
      display_name = "Fabrikam"
      datasets     = ["graph_incidents", "graph_alerts_v2"]
    },
    {
      tenant_id    = "0d3e0c3b-3f5a-4d8e-9a51-6f2b7c1d9e04"
      display_name = "Tailspin Toys"
      datasets     = ["mde_alerts", "m365d_incidents"]
    },
  ]
}

output "credential_secret_arn" {
  description = "Put the application credential JSON into this secret."
  value       = module.mde_bridge.credential_secret_arn
}

output "export_location" {
  description = "Where the exports land."
  value       = "s3://${module.mde_bridge.export_bucket}/${module.mde_bridge.export_prefix}/"
}
