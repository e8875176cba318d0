variable "name" {
  description = "Queue name (`.fifo` is appended for FIFO queues)."
  type        = string
}

variable "fifo" {
  description = "FIFO queue (ordered per message group, deduplicated)."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "KMS key for server-side encryption."
  type        = string
}

variable "visibility_timeout_seconds" {
  description = "Visibility timeout; at least the consumer function's timeout."
  type        = number
  default     = 180
}

variable "max_receive_count" {
  description = "Receives before a message moves to the dead-letter queue."
  type        = number
  default     = 5
}

variable "alarm_actions" {
  description = "SNS topic ARNs notified when the dead-letter queue is not empty."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

variable "restrict_dlq_sources" {
  description = "Allow only this queue to use the dead-letter queue (redrive allow policy); false only for emulators lacking it."
  type        = bool
  default     = true
}
