# The queue module with a mocked AWS provider: redrive, encryption and the dead-letter alarm.

mock_provider "aws" {
  mock_resource "aws_sqs_queue" {
    defaults = { arn = "arn:aws:sqs:eu-west-1:123456789012:export-jobs" }
  }
}

# A distinct ARN for the dead-letter queue, so the redrive assertion tells it apart from the queue.
override_resource {
  target = aws_sqs_queue.dlq
  values = { arn = "arn:aws:sqs:eu-west-1:123456789012:export-jobs-dlq", name = "export-jobs-dlq" }
}

variables {
  name          = "export-jobs"
  kms_key_arn   = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  alarm_actions = ["arn:aws:sns:eu-west-1:123456789012:ops"]
}

run "redrive_encryption_and_alarm" {
  command = apply

  assert {
    condition     = jsondecode(aws_sqs_queue.this.redrive_policy).deadLetterTargetArn == aws_sqs_queue.dlq.arn && jsondecode(aws_sqs_queue.this.redrive_policy).maxReceiveCount == 5
    error_message = "The queue redrives to its dead-letter queue after 5 receives."
  }

  assert {
    condition     = output.redrive_policy == aws_sqs_queue.this.redrive_policy && output.dlq_arn == aws_sqs_queue.dlq.arn
    error_message = "The outputs report the redrive policy and the dead-letter queue."
  }

  assert {
    condition     = aws_sqs_queue.this.kms_master_key_id == var.kms_key_arn && aws_sqs_queue.dlq.kms_master_key_id == var.kms_key_arn
    error_message = "Both queues are encrypted with the given KMS key."
  }

  assert {
    condition     = aws_sqs_queue.dlq.message_retention_seconds == 1209600
    error_message = "Dead letters are kept for the maximum, 14 days."
  }

  assert {
    condition = (
      jsondecode(aws_sqs_queue_redrive_allow_policy.dlq[0].redrive_allow_policy).redrivePermission == "byQueue"
      && jsondecode(aws_sqs_queue_redrive_allow_policy.dlq[0].redrive_allow_policy).sourceQueueArns == [aws_sqs_queue.this.arn]
    )
    error_message = "Only this queue may use the dead-letter queue."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.dlq_not_empty.namespace == "AWS/SQS"
      && aws_cloudwatch_metric_alarm.dlq_not_empty.metric_name == "ApproximateNumberOfMessagesVisible"
      && aws_cloudwatch_metric_alarm.dlq_not_empty.dimensions["QueueName"] == aws_sqs_queue.dlq.name
      && aws_cloudwatch_metric_alarm.dlq_not_empty.threshold == 0
      && aws_cloudwatch_metric_alarm.dlq_not_empty.comparison_operator == "GreaterThanThreshold"
      && aws_cloudwatch_metric_alarm.dlq_not_empty.alarm_actions == toset(var.alarm_actions)
    )
    error_message = "An alarm notifies as soon as a message is in the dead-letter queue."
  }

  assert {
    condition = (
      !output.settings.fifo && !output.settings.dlq_fifo && aws_sqs_queue.this.name == "export-jobs"
      && aws_sqs_queue.this.content_based_deduplication == null && aws_sqs_queue.dlq.content_based_deduplication == null
      && output.settings.deduplication_scope == null && output.settings.fifo_throughput_limit == null
    )
    error_message = "A standard queue (the default) sets none of the FIFO settings."
  }
}

run "fifo" {
  command = apply

  variables {
    fifo                 = true
    restrict_dlq_sources = false
  }

  assert {
    condition     = aws_sqs_queue.this.name == "export-jobs.fifo" && aws_sqs_queue.dlq.name == "export-jobs-dlq.fifo" && aws_sqs_queue.this.fifo_queue && aws_sqs_queue.dlq.fifo_queue
    error_message = "A FIFO queue and its dead-letter queue are both FIFO, named *.fifo."
  }

  assert {
    condition = alltrue([
      for q in [aws_sqs_queue.this, aws_sqs_queue.dlq] :
      q.content_based_deduplication == false && q.deduplication_scope == "messageGroup" && q.fifo_throughput_limit == "perMessageGroupId"
    ])
    error_message = "Both FIFO queues deduplicate on the sender's deduplication id (not the body) and run in high-throughput mode (per message group)."
  }

  assert {
    condition = (
      jsondecode(aws_sqs_queue.this.redrive_policy).maxReceiveCount == 5
      && aws_sqs_queue.this.kms_master_key_id == var.kms_key_arn && aws_sqs_queue.dlq.kms_master_key_id == var.kms_key_arn
      && aws_cloudwatch_metric_alarm.dlq_not_empty.dimensions["QueueName"] == "export-jobs-dlq.fifo"
    )
    error_message = "A FIFO queue keeps the redrive after 5 receives, the encryption and the alarm on its (FIFO) dead-letter queue."
  }

  assert {
    condition = (
      output.settings.fifo && output.settings.dlq_fifo && output.settings.content_based_deduplication == false
      && output.settings.deduplication_scope == "messageGroup" && output.settings.fifo_throughput_limit == "perMessageGroupId"
      && output.settings.name == "export-jobs.fifo" && output.settings.dlq_name == "export-jobs-dlq.fifo"
    )
    error_message = "The settings output reports the FIFO settings."
  }

  assert {
    condition     = length(aws_sqs_queue_redrive_allow_policy.dlq) == 0
    error_message = "restrict_dlq_sources = false leaves the redrive allow policy out."
  }
}
