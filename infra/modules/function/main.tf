data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = "${var.name}-role"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

locals {
  # Logging and tracing are every function's; the rest is what the caller grants, statement by statement.
  statements = [
    for s in concat(
      [
        {
          sid        = "WriteOwnLogs"
          actions    = ["logs:CreateLogStream", "logs:PutLogEvents"]
          resources  = ["${aws_cloudwatch_log_group.this.arn}:*"]
          conditions = []
        },
        {
          sid        = "Tracing"
          actions    = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
          resources  = ["*"]
          conditions = []
        },
      ],
      var.failure_destination == null ? [] : [
        {
          sid        = "FailureDestination"
          actions    = ["sqs:SendMessage"]
          resources  = [var.failure_destination.arn]
          conditions = []
        },
      ],
      var.policy_statements,
    ) : { sid = s.sid, actions = s.actions, resources = s.resources, conditions = s.conditions }
  ]
  # Conditions render as IAM's Condition block, { test = { variable = values } }; a statement without
  # conditions has no Condition key (so existing policies render unchanged).
  policy_json = jsonencode({
    Version = "2012-10-17"
    Statement = [for s in local.statements : merge(
      {
        Sid      = s.sid
        Effect   = "Allow"
        Action   = s.actions
        Resource = s.resources
      },
      length(s.conditions) == 0 ? {} : {
        Condition = {
          for test in distinct([for c in s.conditions : c.test]) :
          test => { for c in s.conditions : c.variable => c.values if c.test == test }
        }
      },
    )]
  })
}

resource "aws_iam_role_policy" "this" {
  name   = "${var.name}-policy"
  role   = aws_iam_role.this.id
  policy = local.policy_json
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_117:mde-bridge calls Microsoft's public APIs; a VPC would only add a NAT gateway in the path.
  #checkov:skip=CKV_AWS_116:Synchronous and SQS-triggered invocations report failures to their caller or queue; asynchronous ones use the on-failure destination below.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile the deployer owns; the zip's hash is pinned by source_code_hash.
  function_name                  = var.name
  description                    = var.description
  role                           = aws_iam_role.this.arn
  filename                       = var.zip_path
  source_code_hash               = filebase64sha256(var.zip_path)
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = [var.architecture]
  memory_size                    = var.memory_mb
  timeout                        = var.timeout_seconds
  reserved_concurrent_executions = var.reserved_concurrency == null ? -1 : var.reserved_concurrency
  kms_key_arn                    = var.kms_key_arn

  environment {
    variables = merge({ AWS_LAMBDA_LOG_FORMAT = "JSON" }, var.environment)
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.this.name
  }

  tracing_config {
    mode = "Active"
  }

  tags       = var.tags
  depends_on = [aws_iam_role_policy.this]
}

resource "aws_lambda_function_event_invoke_config" "this" {
  count                  = var.failure_destination == null ? 0 : 1
  function_name          = aws_lambda_function.this.function_name
  maximum_retry_attempts = 2
  destination_config {
    on_failure {
      destination = var.failure_destination.arn
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  alarm_name          = "${var.name}-errors"
  alarm_description   = "${var.name} returned errors."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.this.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "throttles" {
  alarm_name          = "${var.name}-throttles"
  alarm_description   = "${var.name} was throttled (reserved concurrency reached)."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = aws_lambda_function.this.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  tags                = var.tags
}
