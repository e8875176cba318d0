output "name" {
  description = "Table name."
  value       = aws_dynamodb_table.this.name
}

output "arn" {
  description = "Table ARN."
  value       = aws_dynamodb_table.this.arn
}

output "settings" {
  description = "The table's protection settings (for review and tests)."
  value = {
    billing_mode           = aws_dynamodb_table.this.billing_mode
    hash_key               = aws_dynamodb_table.this.hash_key
    deletion_protection    = aws_dynamodb_table.this.deletion_protection_enabled
    point_in_time_recovery = one(aws_dynamodb_table.this.point_in_time_recovery[*].enabled)
    sse_enabled            = one(aws_dynamodb_table.this.server_side_encryption[*].enabled)
    sse_kms_key_arn        = one(aws_dynamodb_table.this.server_side_encryption[*].kms_key_arn)
    # The attribute DynamoDB expires items on; null without TTL.
    ttl_attribute = one([for t in aws_dynamodb_table.this.ttl : t.attribute_name if t.enabled])
  }
}
