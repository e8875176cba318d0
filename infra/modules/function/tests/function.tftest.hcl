# The function module with a mocked AWS provider: role trust, logs, rendered permissions, alarms.
# Needs a deployment package: `terraform test -var zip_path=<a bootstrap.zip>` (scripts/test-infra passes a fixture).

mock_provider "aws" {
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/mock" }
  }
  mock_resource "aws_lambda_function" {
    defaults = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:incident-export" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/incident-export" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

variables {
  name        = "incident-export"
  kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  environment = { MDE_BRIDGE_STORAGE_PREFIX = "exports" }
  policy_statements = [
    {
      sid       = "WriteExports"
      actions   = ["s3:PutObject"]
      resources = ["arn:aws:s3:::exports/exports/*"]
    },
    {
      sid       = "ListOwnPrefix"
      actions   = ["s3:ListBucket"]
      resources = ["arn:aws:s3:::exports"]
      conditions = [
        { test = "StringLike", variable = "s3:prefix", values = ["exports", "exports/*"] },
        { test = "StringEquals", variable = "s3:delimiter", values = ["/"] },
        { test = "StringLike", variable = "s3:max-keys", values = ["1000"] },
      ]
    },
  ]
}

run "role_logs_and_permissions" {
  command = apply

  assert {
    condition = anytrue([
      for s in data.aws_iam_policy_document.assume.statement :
      toset(s.actions) == toset(["sts:AssumeRole"])
      && anytrue([for p in s.principals : p.type == "Service" && toset(p.identifiers) == toset(["lambda.amazonaws.com"])])
    ]) && length(data.aws_iam_policy_document.assume.statement) == 1
    error_message = "Only Lambda may assume the role."
  }

  assert {
    condition     = aws_iam_role.this.assume_role_policy == data.aws_iam_policy_document.assume.json && aws_iam_role.this.name == "incident-export-role"
    error_message = "The role trusts the assume policy."
  }

  assert {
    condition = (
      aws_cloudwatch_log_group.this.name == "/aws/lambda/incident-export"
      && aws_cloudwatch_log_group.this.retention_in_days == 365
      && aws_cloudwatch_log_group.this.kms_key_id == var.kms_key_arn
    )
    error_message = "The log group keeps a year of logs, encrypted with the given key."
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement :
      s.Effect == "Allow" && length(s.Action) > 0 && length(s.Resource) > 0
    ]) && [for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Sid] == ["WriteOwnLogs", "Tracing", "WriteExports", "ListOwnPrefix"]
    error_message = "The role's policy holds the module's statements, then the caller's, in order."
  }

  assert {
    condition = [
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Condition if s.Sid == "ListOwnPrefix"
      ] == [{
        StringLike   = { "s3:prefix" = ["exports", "exports/*"], "s3:max-keys" = ["1000"] }
        StringEquals = { "s3:delimiter" = ["/"] }
    }]
    error_message = "Conditions render as the statement's Condition block, grouped by test."
  }

  assert {
    condition     = alltrue([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : !contains(keys(s), "Condition") if s.Sid != "ListOwnPrefix"])
    error_message = "A statement without conditions has no Condition block."
  }

  assert {
    condition     = [for s in output.policy_statements : s.resources if s.sid == "WriteOwnLogs"] == [["${aws_cloudwatch_log_group.this.arn}:*"]]
    error_message = "The function writes its own log group only."
  }

  assert {
    condition = (
      aws_lambda_function.this.kms_key_arn == var.kms_key_arn
      && [for t in aws_lambda_function.this.tracing_config : t.mode] == ["Active"]
      && [for l in aws_lambda_function.this.logging_config : l.log_format] == ["JSON"]
      && output.environment == tomap({ AWS_LAMBDA_LOG_FORMAT = "JSON", MDE_BRIDGE_STORAGE_PREFIX = "exports" })
      && aws_lambda_function.this.runtime == "provided.al2023" && aws_lambda_function.this.architectures == tolist(["arm64"])
    )
    error_message = "The function encrypts its environment, traces, logs JSON, and runs the zip on provided.al2023/arm64."
  }

  assert {
    condition     = length(aws_lambda_function_event_invoke_config.this) == 0 && !contains([for s in output.policy_statements : s.sid], "FailureDestination")
    error_message = "Without a failure destination there is no on-failure configuration."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.errors.dimensions["FunctionName"] == "incident-export" && aws_cloudwatch_metric_alarm.throttles.metric_name == "Throttles"
    error_message = "The function has an errors alarm and a throttles alarm."
  }
}

run "failure_destination" {
  command = apply

  variables {
    failure_destination = { arn = "arn:aws:sqs:eu-west-1:123456789012:export-failures" }
  }

  assert {
    condition = anytrue([
      for s in output.policy_statements :
      s.sid == "FailureDestination" && s.actions == ["sqs:SendMessage"] && s.resources == ["arn:aws:sqs:eu-west-1:123456789012:export-failures"]
    ])
    error_message = "The function may send failed invocations to the failure destination."
  }

  assert {
    condition     = [for d in aws_lambda_function_event_invoke_config.this[0].destination_config : d.on_failure[0].destination] == ["arn:aws:sqs:eu-west-1:123456789012:export-failures"]
    error_message = "Failed asynchronous invocations go to the failure destination."
  }
}

run "a_condition_named_twice_is_refused" {
  command = plan

  variables {
    policy_statements = [{
      sid       = "Twice"
      actions   = ["s3:ListBucket"]
      resources = ["arn:aws:s3:::exports"]
      conditions = [
        { test = "StringLike", variable = "s3:prefix", values = ["a/*"] },
        { test = "StringLike", variable = "s3:prefix", values = ["b/*"] },
      ]
    }]
  }

  expect_failures = [var.policy_statements]
}

run "an_unknown_architecture_is_refused" {
  command = plan

  variables {
    architecture = "riscv64"
  }

  expect_failures = [var.architecture]
}
