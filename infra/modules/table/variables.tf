variable "name" {
  description = "Table name."
  type        = string
  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{3,255}$", var.name))
    error_message = "name: 3-255 letters, digits, '_', '-' and '.' (DynamoDB's table name rule)."
  }
}

variable "hash_key" {
  description = "Name of the partition key, a string attribute (there is no sort key)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for server-side encryption (a customer managed key)."
  type        = string
}

variable "deletion_protection" {
  description = "Refuse DeleteTable until this is turned off (false only for throw-away test stacks)."
  type        = bool
  default     = true
}

variable "point_in_time_recovery" {
  description = "Continuous backups: restore the table to any second of the last 35 days."
  type        = bool
  default     = true
}

variable "ttl_attribute" {
  description = "Attribute holding each item's expiry (epoch seconds) for DynamoDB's TTL; null for no TTL."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
