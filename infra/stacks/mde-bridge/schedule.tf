# The schedule: EventBridge Scheduler invokes incident-export; failed runs go to the failure queue.
data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  name               = "${var.name_prefix}-export-scheduler"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
  tags               = local.tags
}

resource "aws_iam_role_policy" "scheduler" {
  name = "${var.name_prefix}-export-scheduler"
  role = aws_iam_role.scheduler.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      { Sid = "InvokeExport", Effect = "Allow", Action = ["lambda:InvokeFunction"], Resource = [module.incident_export.function_arn] },
      { Sid = "DeadLetters", Effect = "Allow", Action = ["sqs:SendMessage"], Resource = [module.export_failures.arn] },
      { Sid = "EncryptDeadLetters", Effect = "Allow", Action = ["kms:GenerateDataKey", "kms:Decrypt"], Resource = [aws_kms_key.this.arn] },
    ]
  })
}

resource "aws_scheduler_schedule" "export" {
  name                = "${var.name_prefix}-incident-export"
  schedule_expression = var.export_schedule
  kms_key_arn         = aws_kms_key.this.arn
  flexible_time_window {
    mode = "OFF"
  }
  target {
    arn      = module.incident_export.function_arn
    role_arn = aws_iam_role.scheduler.arn
    # With fan-out the scheduled run only enqueues one job per tenant (the queue's event source runs them);
    # without it one invocation exports every tenant.
    input = jsonencode(var.enable_fan_out ? { fan_out = true } : {})
    retry_policy {
      maximum_retry_attempts       = 2
      maximum_event_age_in_seconds = 3600
    }
    dead_letter_config {
      arn = module.export_failures.arn
    }
  }
}
