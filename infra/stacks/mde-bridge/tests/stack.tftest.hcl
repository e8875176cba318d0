# Plan-time guarantees of the stack, with a mocked AWS provider (no account, no network).

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  # The provider validates ARNs even in tests: give each kind a well-formed one.
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/mock" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000" }
  }
  mock_resource "aws_lambda_function" {
    defaults = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:mock" }
  }
  mock_resource "aws_sqs_queue" {
    defaults = { arn = "arn:aws:sqs:eu-west-1:123456789012:mock" }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = { arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mde-bridge/app-credential-AbCdEf" }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::mock" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:mock" }
  }
}

# Distinct ARNs for the dead-letter queues, so the redrive assertion tells them apart from other queues.
override_resource {
  target = module.export_failures.aws_sqs_queue.dlq
  values = { arn = "arn:aws:sqs:eu-west-1:123456789012:export-failures-dlq" }
}

override_resource {
  target = module.fan_out[0].aws_sqs_queue.dlq
  values = { arn = "arn:aws:sqs:eu-west-1:123456789012:export-jobs-dlq" }
}

variables {
  partner = { company = "Contoso", product = "Soc", version = "1.0.0" }
  tenants = [
    { tenant_id = "8a2d6f4e-1b7c-4e3a-9f5d-2c6b8e0a4d17", display_name = "Contoso", datasets = ["mde_alerts", "graph_incidents"] },
    { tenant_id = "3f9c1e7b-5d2a-4b8e-a6c0-7e4d9b1f2a85", display_name = "Fabrikam", datasets = ["m365d_incidents"] },
  ]
  enable_fan_out = true
}

run "least_privilege_and_encryption" {
  command = apply

  assert {
    condition     = anytrue([for s in output.token_broker_statements : contains(s.actions, "secretsmanager:GetSecretValue") && contains(s.resources, output.credential_secret_arn)])
    error_message = "The token-broker must be able to read the credential secret."
  }

  assert {
    condition     = alltrue([for s in output.incident_export_statements : !anytrue([for a in s.actions : a == "*" || startswith(a, "secretsmanager:")])])
    error_message = "incident-export must have no secretsmanager permission."
  }

  assert {
    condition = alltrue([
      for s in concat(output.token_broker_statements, output.incident_export_statements) :
      !(contains(s.resources, "*") && anytrue([for a in s.actions : strcontains(a, "*")]))
    ])
    error_message = "No wildcard action may apply to every resource."
  }

  assert {
    condition     = alltrue([for q in output.queues : jsondecode(q.redrive_policy).deadLetterTargetArn == q.dlq_arn])
    error_message = "Every queue must redrive to its dead-letter queue."
  }

  assert {
    condition     = length(output.queues) == 2
    error_message = "With fan-out, the stack has the failure queue and the job queue."
  }

  assert {
    condition     = alltrue([for g in output.log_groups : g.retention_in_days == 365 && g.kms_key_id == output.kms_key_arn])
    error_message = "Every log group must have a retention and the stack's KMS key."
  }

  assert {
    condition     = module.exports.bucket == "mde-bridge-exports-123456789012"
    error_message = "The export bucket is named after the prefix and the account."
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.export_lag) == 3
    error_message = "One lag alarm per tenant and dataset."
  }
}

run "granting_the_export_function_the_secret_is_caught" {
  command = apply

  variables {
    extra_export_statements = [{
      sid       = "Oops"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = ["*"]
    }]
  }

  expect_failures = [check.only_the_broker_reads_the_credential]
}

run "a_bad_prefix_is_refused" {
  command = plan

  variables {
    name_prefix = "MDE Bridge"
  }

  expect_failures = [var.name_prefix]
}
