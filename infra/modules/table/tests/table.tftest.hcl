# The table module with a mocked AWS provider: protection settings of the planned and "applied" table.

mock_provider "aws" {
  mock_resource "aws_dynamodb_table" {
    defaults = { arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/mde-bridge-tenants" }
  }
}

variables {
  name        = "mde-bridge-tenants"
  hash_key    = "tenant_id"
  kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  tags        = { application = "mde-bridge" }
}

run "protected_by_default" {
  command = apply

  assert {
    condition     = aws_dynamodb_table.this.billing_mode == "PAY_PER_REQUEST"
    error_message = "The table is billed on demand."
  }

  assert {
    condition     = aws_dynamodb_table.this.hash_key == "tenant_id" && aws_dynamodb_table.this.range_key == null
    error_message = "The table is keyed by the hash key alone."
  }

  assert {
    condition     = [for a in aws_dynamodb_table.this.attribute : a if a.name == "tenant_id" && a.type == "S"] != []
    error_message = "The hash key is a string attribute."
  }

  assert {
    condition     = alltrue([for p in aws_dynamodb_table.this.point_in_time_recovery : p.enabled]) && length(aws_dynamodb_table.this.point_in_time_recovery) == 1
    error_message = "Point-in-time recovery is on by default."
  }

  assert {
    condition     = aws_dynamodb_table.this.deletion_protection_enabled
    error_message = "Deletion protection is on by default."
  }

  assert {
    condition = anytrue([
      for e in aws_dynamodb_table.this.server_side_encryption :
      e.enabled && e.kms_key_arn == var.kms_key_arn
    ])
    error_message = "The table is encrypted with the given KMS key."
  }

  assert {
    condition     = output.settings.sse_kms_key_arn == var.kms_key_arn && output.settings.point_in_time_recovery && output.settings.deletion_protection && output.settings.ttl_attribute == null
    error_message = "The settings output reports the table's protection."
  }

  assert {
    condition     = aws_dynamodb_table.this.tags["application"] == "mde-bridge"
    error_message = "The table is tagged."
  }
}

run "no_ttl_unless_asked" {
  command = plan

  assert {
    condition     = alltrue([for t in aws_dynamodb_table.this.ttl : !t.enabled])
    error_message = "Without ttl_attribute the table has no TTL."
  }
}

run "ttl_when_asked" {
  command = apply

  variables {
    ttl_attribute = "expires_at"
  }

  assert {
    condition     = [for t in aws_dynamodb_table.this.ttl : t.attribute_name if t.enabled] == ["expires_at"]
    error_message = "With ttl_attribute, DynamoDB expires items on that attribute."
  }

  assert {
    condition     = output.settings.ttl_attribute == "expires_at"
    error_message = "The settings output reports the TTL attribute."
  }
}

run "protection_can_be_turned_off_for_tests" {
  command = plan

  variables {
    deletion_protection = false
  }

  assert {
    condition     = !aws_dynamodb_table.this.deletion_protection_enabled
    error_message = "deletion_protection = false lets a test stack be destroyed."
  }
}

run "a_bad_name_is_refused" {
  command = plan

  variables {
    name = "tenants table"
  }

  expect_failures = [var.name]
}
