output "url" {
  description = "Queue URL."
  value       = aws_sqs_queue.this.id
}

output "arn" {
  description = "Queue ARN."
  value       = aws_sqs_queue.this.arn
}

output "dlq_arn" {
  description = "Dead-letter queue ARN."
  value       = aws_sqs_queue.dlq.arn
}

output "dlq_url" {
  description = "Dead-letter queue URL."
  value       = aws_sqs_queue.dlq.id
}

output "settings" {
  description = "The queue's delivery settings (for review and tests)."
  value = {
    name                        = aws_sqs_queue.this.name
    dlq_name                    = aws_sqs_queue.dlq.name
    fifo                        = aws_sqs_queue.this.fifo_queue
    dlq_fifo                    = aws_sqs_queue.dlq.fifo_queue
    content_based_deduplication = aws_sqs_queue.this.content_based_deduplication
    # High-throughput FIFO settings; null for a standard queue (where AWS leaves them meaningless).
    deduplication_scope        = var.fifo ? aws_sqs_queue.this.deduplication_scope : null
    fifo_throughput_limit      = var.fifo ? aws_sqs_queue.this.fifo_throughput_limit : null
    visibility_timeout_seconds = aws_sqs_queue.this.visibility_timeout_seconds
    max_receive_count          = var.max_receive_count
    kms_master_key_id          = aws_sqs_queue.this.kms_master_key_id
    dlq_kms_master_key_id      = aws_sqs_queue.dlq.kms_master_key_id
  }
}

output "redrive_policy" {
  description = "The queue's redrive policy (for review and tests)."
  value       = aws_sqs_queue.this.redrive_policy
}

output "dlq_alarm" {
  description = "The alarm on a non-empty dead-letter queue (for review and tests)."
  value = {
    alarm_name          = aws_cloudwatch_metric_alarm.dlq_not_empty.alarm_name
    namespace           = aws_cloudwatch_metric_alarm.dlq_not_empty.namespace
    metric_name         = aws_cloudwatch_metric_alarm.dlq_not_empty.metric_name
    dimensions          = aws_cloudwatch_metric_alarm.dlq_not_empty.dimensions
    statistic           = aws_cloudwatch_metric_alarm.dlq_not_empty.statistic
    threshold           = aws_cloudwatch_metric_alarm.dlq_not_empty.threshold
    comparison_operator = aws_cloudwatch_metric_alarm.dlq_not_empty.comparison_operator
    alarm_actions       = aws_cloudwatch_metric_alarm.dlq_not_empty.alarm_actions
  }
}
