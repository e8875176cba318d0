variable "name" {
  description = "Bucket name (globally unique)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for default encryption (SSE-KMS)."
  type        = string
}

variable "noncurrent_version_days" {
  description = "Days a replaced or deleted object version is kept before it expires."
  type        = number
  default     = 30
}

variable "infrequent_access_after_days" {
  description = "Days after which exported objects move to STANDARD_IA (SIEMs read them soon after they land)."
  type        = number
  default     = 30
}

variable "enable_lifecycle" {
  description = "Create the lifecycle configuration (local AWS emulators are slow to create it)."
  type        = bool
  default     = true
}

variable "access_log_bucket" {
  description = "Bucket receiving server access logs; null for none."
  type        = string
  default     = null
}

variable "force_destroy" {
  description = "Allow destroying a non-empty bucket (tests only)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
