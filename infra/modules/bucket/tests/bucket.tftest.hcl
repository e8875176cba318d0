# The bucket module with a mocked AWS provider: what protects the exports.

mock_provider "aws" {
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::mde-bridge-exports-123456789012" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

variables {
  name        = "mde-bridge-exports-123456789012"
  kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
}

run "private_versioned_encrypted_tls_only" {
  command = apply

  assert {
    condition = (
      aws_s3_bucket_public_access_block.this.block_public_acls && aws_s3_bucket_public_access_block.this.block_public_policy
      && aws_s3_bucket_public_access_block.this.ignore_public_acls && aws_s3_bucket_public_access_block.this.restrict_public_buckets
      && aws_s3_bucket_public_access_block.this.bucket == aws_s3_bucket.this.id
    )
    error_message = "Every kind of public access is blocked."
  }

  assert {
    condition     = [for v in aws_s3_bucket_versioning.this.versioning_configuration : v.status] == ["Enabled"]
    error_message = "The bucket is versioned (a replaced export or checkpoint can be recovered)."
  }

  assert {
    condition = alltrue(flatten([
      for r in aws_s3_bucket_server_side_encryption_configuration.this.rule : [
        for d in r.apply_server_side_encryption_by_default : d.sse_algorithm == "aws:kms" && d.kms_master_key_id == var.kms_key_arn && r.bucket_key_enabled
      ]
    ])) && length(aws_s3_bucket_server_side_encryption_configuration.this.rule) == 1
    error_message = "Objects are encrypted with SSE-KMS under the given key (with an S3 bucket key)."
  }

  assert {
    condition     = output.encryption == { sse_algorithm = "aws:kms", kms_master_key_id = var.kms_key_arn, bucket_key_enabled = true }
    error_message = "Output encryption reports SSE-KMS under the given key (the stack's encryption check reads it)."
  }

  assert {
    condition = anytrue([
      for s in data.aws_iam_policy_document.tls_only.statement :
      s.effect == "Deny" && toset(s.actions) == toset(["s3:*"])
      && toset(s.resources) == toset([aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"])
      && anytrue([for c in s.condition : c.test == "Bool" && c.variable == "aws:SecureTransport" && toset(c.values) == toset(["false"])])
      && anytrue([for p in s.principals : p.type == "*" && toset(p.identifiers) == toset(["*"])])
    ])
    error_message = "The bucket policy denies every request that does not use TLS, to the bucket and its objects."
  }

  assert {
    condition     = aws_s3_bucket_policy.this.policy == data.aws_iam_policy_document.tls_only.json
    error_message = "The TLS-only policy is the bucket's policy."
  }

  assert {
    condition = alltrue([
      for r in aws_s3_bucket_lifecycle_configuration.this[0].rule :
      r.status == "Enabled" && [for n in r.noncurrent_version_expiration : n.noncurrent_days] == [30]
      && [for a in r.abort_incomplete_multipart_upload : a.days_after_initiation] == [1]
    ])
    error_message = "Old versions expire and incomplete uploads are aborted."
  }

  assert {
    condition     = !aws_s3_bucket.this.force_destroy && length(aws_s3_bucket_logging.this) == 0
    error_message = "By default a bucket with exports cannot be destroyed, and access logging is off until a log bucket is given."
  }
}

run "access_logs_when_a_log_bucket_is_given" {
  command = plan

  variables {
    access_log_bucket = "mde-bridge-access-logs"
  }

  assert {
    condition     = aws_s3_bucket_logging.this[0].target_bucket == "mde-bridge-access-logs" && aws_s3_bucket_logging.this[0].target_prefix == "s3-access/mde-bridge-exports-123456789012/"
    error_message = "Access logs go to the log bucket under s3-access/<bucket>/."
  }
}

run "no_lifecycle_for_emulators" {
  command = plan

  variables {
    enable_lifecycle = false
  }

  assert {
    condition     = length(aws_s3_bucket_lifecycle_configuration.this) == 0
    error_message = "enable_lifecycle = false leaves the lifecycle configuration out."
  }
}
