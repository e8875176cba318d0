locals {
  suffix = var.fifo ? ".fifo" : ""
  # FIFO queues: deduplication by the sender's MessageDeduplicationId (never the body's hash), and high throughput:
  # deduplication and throughput limits per message group. Standard queues leave all three unset.
  content_based_deduplication = var.fifo ? false : null
  deduplication_scope         = var.fifo ? "messageGroup" : null
  fifo_throughput_limit       = var.fifo ? "perMessageGroupId" : null
}

resource "aws_sqs_queue" "dlq" {
  name                              = "${var.name}-dlq${local.suffix}"
  fifo_queue                        = var.fifo
  content_based_deduplication       = local.content_based_deduplication
  deduplication_scope               = local.deduplication_scope
  fifo_throughput_limit             = local.fifo_throughput_limit
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  message_retention_seconds         = 1209600
  tags                              = var.tags
}

resource "aws_sqs_queue" "this" {
  name                              = "${var.name}${local.suffix}"
  fifo_queue                        = var.fifo
  content_based_deduplication       = local.content_based_deduplication
  deduplication_scope               = local.deduplication_scope
  fifo_throughput_limit             = local.fifo_throughput_limit
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  visibility_timeout_seconds        = var.visibility_timeout_seconds
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })
  tags = var.tags
}

resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  count     = var.restrict_dlq_sources ? 1 : 0
  queue_url = aws_sqs_queue.dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.this.arn]
  })
}

resource "aws_cloudwatch_metric_alarm" "dlq_not_empty" {
  alarm_name          = "${var.name}-dlq-not-empty"
  alarm_description   = "Messages reached the dead-letter queue of ${var.name}: they are kept there with the reason; look and redrive."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dlq.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  tags                = var.tags
}
