output "bucket" {
  description = "Bucket name."
  value       = aws_s3_bucket.this.bucket
}

output "arn" {
  description = "Bucket ARN."
  value       = aws_s3_bucket.this.arn
}

output "encryption" {
  description = "The bucket's default encryption, SSE-KMS under the given key (for review and tests: the stack's checks)."
  value = {
    sse_algorithm      = one(flatten([for r in aws_s3_bucket_server_side_encryption_configuration.this.rule : [for d in r.apply_server_side_encryption_by_default : d.sse_algorithm]]))
    kms_master_key_id  = one(flatten([for r in aws_s3_bucket_server_side_encryption_configuration.this.rule : [for d in r.apply_server_side_encryption_by_default : d.kms_master_key_id]]))
    bucket_key_enabled = one([for r in aws_s3_bucket_server_side_encryption_configuration.this.rule : r.bucket_key_enabled])
  }
}
