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

output "redrive_policy" {
  description = "The queue's redrive policy (for review and tests)."
  value       = aws_sqs_queue.this.redrive_policy
}
