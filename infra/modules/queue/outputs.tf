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
    fifo                       = aws_sqs_queue.this.fifo_queue
    visibility_timeout_seconds = aws_sqs_queue.this.visibility_timeout_seconds
    max_receive_count          = var.max_receive_count
    kms_master_key_id          = aws_sqs_queue.this.kms_master_key_id
  }
}

output "redrive_policy" {
  description = "The queue's redrive policy (for review and tests)."
  value       = aws_sqs_queue.this.redrive_policy
}
