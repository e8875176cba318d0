variable "name" {
  description = "Function name; also names its role, log group and alarms."
  type        = string
}

variable "description" {
  description = "What the function does."
  type        = string
  default     = ""
}

variable "zip_path" {
  description = "Path of the prebuilt bootstrap.zip (cargo lambda build --output-format zip)."
  type        = string
}

variable "architecture" {
  description = "Instruction set of the build: arm64 (Graviton, the default) or x86_64."
  type        = string
  default     = "arm64"
  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "memory_mb" {
  description = "Memory in MB."
  type        = number
  default     = 256
}

variable "timeout_seconds" {
  description = "Timeout in seconds."
  type        = number
  default     = 30
}

variable "reserved_concurrency" {
  description = "Reserved concurrency (bounds API usage); null for none."
  type        = number
  default     = null
}

variable "environment" {
  description = "Environment variables (MDE_BRIDGE_* configuration). Never secret values."
  type        = map(string)
  default     = {}
}

variable "policy_statements" {
  description = <<-EOT
    The function's permissions, least privilege: each statement names its actions and resources, and optionally
    conditions ({ test = "StringLike", variable = "s3:prefix", values = [...] }; one per test and variable).
  EOT
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
  validation {
    condition = alltrue([
      for s in var.policy_statements :
      length(distinct([for c in s.conditions : "${c.test} ${c.variable}"])) == length(s.conditions)
    ])
    error_message = "policy_statements: a statement may name each (test, variable) condition pair once; list every value in that one condition."
  }
  validation {
    condition     = alltrue([for s in var.policy_statements : length(s.actions) > 0 && length(s.resources) > 0])
    error_message = "policy_statements: every statement needs at least one action and one resource."
  }
}

variable "kms_key_arn" {
  description = "KMS key for the log group and the environment variables."
  type        = string
}

variable "log_retention_days" {
  description = "Log retention in days (a year by default)."
  type        = number
  default     = 365
}

variable "failure_destination" {
  description = "SQS queue receiving failed asynchronous invocations (scheduled runs), as { arn = ... }; null for none."
  type        = object({ arn = string })
  default     = null
}

variable "alarm_actions" {
  description = "SNS topic ARNs notified by the function's alarms."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
