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

variable "extra_credential_secret_arns" {
  description = <<-EOT
    ARNs of additional credential secrets (e.g. sovereign-cloud app registrations) that a tenant's
    credential_secret_id in the registry names: full ARNs, with Secrets Manager's 6-character suffix (or the name
    followed by -??????). Only the token-broker may read them. Create them yourself, encrypted
    with the stack's key (output kms_key_arn) or the AWS managed key aws/secretsmanager, and put their values with
    `aws secretsmanager put-secret-value`: values are never Terraform inputs.
  EOT
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for a in var.extra_credential_secret_arns : can(regex("^arn:[a-z-]+:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[^*]+$", a))])
    error_message = "extra_credential_secret_arns: each must be a Secrets Manager secret ARN (arn:<partition>:secretsmanager:<region>:<account>:secret:<name>), without '*'."
  }
}

variable "registry_deletion_protection" {
  description = "Deletion protection of the tenant registry table (false only for throw-away test stacks)."
  type        = bool
  default     = true
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
  description = "Key prefix of exports and checkpoints in the bucket (incident-export may list and write under it only)."
  type        = string
  default     = "exports"
  validation {
    condition     = can(regex("^[A-Za-z0-9!_.()'-]+(/[A-Za-z0-9!_.()'-]+)*$", var.export_prefix))
    error_message = "export_prefix: a non-empty S3 key prefix without leading or trailing '/' and without '*' (e.g. exports or siem/defender)."
  }
}

variable "export_settings" {
  description = <<-EOT
    Tuning of incident-export, the typed [export] section: each entry becomes MDE_BRIDGE_EXPORT_<KEY>, e.g.
    { settle_seconds = "120" } gives MDE_BRIDGE_EXPORT_SETTLE_SECONDS=120 (keys and defaults:
    functions/incident-export/README.md). The queue URL is the stack's (enable_fan_out).
  EOT
  type        = map(string)
  default     = {}
  validation {
    condition     = alltrue([for k in keys(var.export_settings) : can(regex("^[a-z][a-z0-9_]*$", k)) && k != "queue_url"])
    error_message = "export_settings: keys are lowercase snake_case setting names (e.g. settle_seconds); queue_url is set by the stack."
  }
}

variable "export_datasets" {
  description = <<-EOT
    Datasets with a lag alarm and a failure alarm. A lag alarm without data is in ALARM (a silent export is a late
    one): list only the datasets some tenant exports.
  EOT
  type        = list(string)
  default     = ["graph_incidents", "graph_alerts_v2", "mde_alerts", "m365d_incidents"]
  validation {
    condition     = alltrue([for d in var.export_datasets : contains(["graph_incidents", "graph_alerts_v2", "mde_alerts", "m365d_incidents"], d)])
    error_message = "export_datasets: each must be graph_incidents, graph_alerts_v2, mde_alerts or m365d_incidents."
  }
}

variable "enable_indicator_push" {
  description = "Deploy indicator-push: its queue (with a dead-letter queue), the function and the queue's event source mapping."
  type        = bool
  default     = true
}

variable "indicator_push_reserved_concurrency" {
  description = <<-EOT
    Reserved concurrency of indicator-push, and the maximum concurrency of its queue's event source mapping (at
    least 2 there, as AWS requires). Defender's indicator import API allows 30 calls a minute per tenant: more
    concurrency only buys 429 responses.
  EOT
  type        = number
  default     = 5
  nullable    = false
  validation {
    condition     = var.indicator_push_reserved_concurrency >= 1 && var.indicator_push_reserved_concurrency <= 1000 && floor(var.indicator_push_reserved_concurrency) == var.indicator_push_reserved_concurrency
    error_message = "indicator_push_reserved_concurrency: a whole number from 1 to 1000 (the event source mapping's limit)."
  }
}

variable "indicator_prefix" {
  description = <<-EOT
    Key prefix of indicator-push and action-executor in the export bucket. indicator-push reads feed files under
    <prefix>/feeds/ and writes rejected indicators and sync plans under <prefix>/rejects/ and <prefix>/plans/;
    action-executor (enable_alert_webhook) writes the same for indicator requests, plus its audit records under
    <prefix>/audit/requests/ (which alert-webhook reads) and hunting results under <prefix>/hunting/. Nothing
    else. Keep it apart from export_prefix (checks.tf warns otherwise).
  EOT
  type        = string
  default     = "indicators"
  validation {
    condition     = can(regex("^[A-Za-z0-9!_.()'-]+(/[A-Za-z0-9!_.()'-]+)*$", var.indicator_prefix))
    error_message = "indicator_prefix: a non-empty S3 key prefix without leading or trailing '/' and without '*' (e.g. indicators or ti/defender)."
  }
}

variable "indicator_settings" {
  description = <<-EOT
    Tuning of indicator-push, the typed [indicators] section: each entry becomes MDE_BRIDGE_INDICATORS_<KEY>, e.g.
    { active_cap = "14000" } gives MDE_BRIDGE_INDICATORS_ACTIVE_CAP=14000 (keys and defaults:
    functions/indicator-push/README.md; documented keys: active_cap).
  EOT
  type        = map(string)
  default     = {}
  validation {
    condition     = alltrue([for k in keys(var.indicator_settings) : can(regex("^[a-z][a-z0-9_]*$", k))])
    error_message = "indicator_settings: keys are lowercase snake_case setting names (e.g. active_cap)."
  }
}

variable "enable_alert_webhook" {
  description = <<-EOT
    Deploy the partner webhook, one feature in two functions. alert-webhook, the HTTPS front door for partner
    products: its public Function URL (requests are authenticated by their Standard Webhooks signatures, in the
    function), the partner-keys secret, the idempotency table and the FIFO action queue (with a dead-letter queue).
    action-executor, which performs the queued requests in Defender: the function, its standard queue of
    follow-up polls (with a dead-letter queue) and the event source mappings of both queues. On by default: it
    needs <artifacts_dir>/alert-webhook/bootstrap.zip and <artifacts_dir>/action-executor/bootstrap.zip (scripts/build
    builds both). Partners are refused until their keys are in the partner-keys secret and the registry grants them
    actions on a tenant; false deploys neither function.
  EOT
  type        = bool
  default     = true
  nullable    = false
}

variable "alert_webhook_reserved_concurrency" {
  description = <<-EOT
    Reserved concurrency of alert-webhook. It is also the webhook's throttle: a Function URL has no other rate
    limit, and requests beyond it are answered 429 (Lambda's throttle), which Standard Webhooks senders retry.
  EOT
  type        = number
  default     = 20
  nullable    = false
  validation {
    condition     = var.alert_webhook_reserved_concurrency >= 1 && floor(var.alert_webhook_reserved_concurrency) == var.alert_webhook_reserved_concurrency
    error_message = "alert_webhook_reserved_concurrency: a whole number, at least 1 (0 would refuse every request)."
  }
}

variable "webhook_settings" {
  description = <<-EOT
    Tuning of alert-webhook, the typed [webhook] section: each entry becomes MDE_BRIDGE_WEBHOOK_<KEY>, e.g.
    { tolerance_seconds = "300" } gives MDE_BRIDGE_WEBHOOK_TOLERANCE_SECONDS=300 (keys and defaults:
    functions/alert-webhook/README.md; documented keys: tolerance_seconds, max_body_bytes, idempotency_ttl_seconds).
    The queue URL, the table and the partner-keys secret are the stack's.
  EOT
  type        = map(string)
  default     = {}
  nullable    = false
  validation {
    condition = alltrue([
      for k in keys(var.webhook_settings) :
      can(regex("^[a-z][a-z0-9_]*$", k)) && !contains(["queue_url", "table", "partner_keys_secret_id"], k)
    ])
    error_message = "webhook_settings: keys are lowercase snake_case setting names (e.g. tolerance_seconds); queue_url, table and partner_keys_secret_id are set by the stack."
  }
}

variable "executor_settings" {
  description = <<-EOT
    Tuning of action-executor, the typed [executor] section: each entry becomes MDE_BRIDGE_EXECUTOR_<KEY>, e.g.
    { poll_interval_seconds = "120" } gives MDE_BRIDGE_EXECUTOR_POLL_INTERVAL_SECONDS=120 (keys: poll_interval_seconds,
    max_attempts; defaults in shared/contracts, ExecutorSettings). The queues' redrive follows max_attempts (2 receives
    more, 10 at least). The poll queue URL and the concurrency are set by the stack; audit_prefix and hunting_prefix
    keep their defaults, which the IAM policies of both webhook functions name.
  EOT
  type        = map(string)
  default     = {}
  nullable    = false
  validation {
    condition = alltrue([
      for k in keys(var.executor_settings) :
      can(regex("^[a-z][a-z0-9_]*$", k)) && !contains(["poll_queue_url", "concurrency", "audit_prefix", "hunting_prefix"], k)
    ])
    error_message = "executor_settings: keys are lowercase snake_case setting names (e.g. poll_interval_seconds); poll_queue_url, concurrency, audit_prefix and hunting_prefix are set by the stack."
  }
  validation {
    condition     = can(regex("^[1-9][0-9]?$|^100$", lookup(var.executor_settings, "max_attempts", "8")))
    error_message = "executor_settings: max_attempts is a whole number from 1 to 100."
  }
}

variable "webhook_table_deletion_protection" {
  description = "Deletion protection of the webhook's idempotency table (false only for throw-away test stacks)."
  type        = bool
  default     = true
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
  description = "Alarm when a dataset lags behind by more than this for any tenant."
  type        = number
  default     = 3600
}

variable "credential_expiry_alarm_days" {
  description = "Alarm when a credential (client secret or certificate) expires in fewer days than this."
  type        = number
  default     = 30
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
  description = "Additional IAM statements for incident-export (e.g. a SIEM bucket elsewhere), with optional conditions. Never a credential secret (checks.tf refuses it)."
  type = list(object({
    sid       = string
    actions   = list(string)
    resources = list(string)
    conditions = optional(list(object({
      test     = string
      variable = string
      values   = list(string)
    })), [])
  }))
  default = []
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
