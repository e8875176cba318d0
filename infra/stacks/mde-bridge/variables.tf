variable "name_prefix" {
  description = "Prefix of every resource name, e.g. mde-bridge-prod."
  type        = string
  default     = "mde-bridge"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,40}$", var.name_prefix))
    error_message = "name_prefix: 3-41 lowercase letters, digits and '-', starting with a letter."
  }
}

variable "partner" {
  description = "Partner identity sent as User-Agent MdePartner-{company}-{product}/{version}."
  type = object({
    company = string
    product = string
    version = string
  })
}

variable "cloud" {
  description = "Microsoft cloud: public, gcc, gcc_high or dod."
  type        = string
  default     = "public"
  validation {
    condition     = contains(["public", "gcc", "gcc_high", "dod"], var.cloud)
    error_message = "cloud must be public, gcc, gcc_high or dod."
  }
}

variable "cloud_url_overrides" {
  description = "Optional MDE_BRIDGE_CLOUD_* overrides, e.g. { mde_api_url = \"https://eu.api.security.microsoft.com\" }."
  type        = map(string)
  default     = {}
}

variable "tenants" {
  description = "The tenant registry: customer tenants served, with their datasets and actions."
  type = list(object({
    tenant_id    = string
    display_name = string
    datasets     = optional(list(string), [])
    actions      = optional(list(string), [])
  }))
  default = []
}

variable "artifacts_dir" {
  description = "Directory holding <function>/bootstrap.zip built by scripts/build (target/lambda)."
  type        = string
}

variable "architecture" {
  description = "Instruction set the zips were built for: arm64 or x86_64."
  type        = string
  default     = "arm64"
}

variable "export_schedule" {
  description = "EventBridge Scheduler expression of the incident export."
  type        = string
  default     = "rate(5 minutes)"
}

variable "export_prefix" {
  description = "Key prefix of exports and checkpoints in the bucket."
  type        = string
  default     = "exports"
}

variable "bucket_name" {
  description = "Export bucket name; <name_prefix>-exports-<account id> when null."
  type        = string
  default     = null
}

variable "enable_fan_out" {
  description = "Scale out: the scheduled run enqueues one job per tenant and the function consumes them from SQS."
  type        = bool
  default     = false
}

variable "export_reserved_concurrency" {
  description = "Reserved concurrency of incident-export (bounds parallel API usage across tenants)."
  type        = number
  default     = 10
}

variable "export_lag_alarm_seconds" {
  description = "Alarm when a tenant's dataset lags behind by more than this."
  type        = number
  default     = 3600
}

variable "enable_bucket_lifecycle" {
  description = "Create the bucket lifecycle configuration (false only against local AWS emulators)."
  type        = bool
  default     = true
}

variable "restrict_dlq_sources" {
  description = "Dead-letter queues accept messages only from their queue (false only against emulators lacking redrive allow policies)."
  type        = bool
  default     = true
}

variable "secret_recovery_window_days" {
  description = "Days a deleted credential secret can be restored (0 deletes at once: tests only)."
  type        = number
  default     = 7
}

variable "force_destroy" {
  description = "Allow destroying the bucket with objects in it (tests only)."
  type        = bool
  default     = false
}

variable "log_retention_days" {
  description = "Retention of every log group, in days (a year by default: security tooling is audited on it)."
  type        = number
  default     = 365
}

variable "alarm_actions" {
  description = "SNS topic ARNs notified by every alarm."
  type        = list(string)
  default     = []
}

variable "extra_export_statements" {
  description = "Additional IAM statements for incident-export (e.g. a SIEM bucket elsewhere). Never the credential secret."
  type = list(object({
    sid       = string
    actions   = list(string)
    resources = list(string)
  }))
  default = []
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
