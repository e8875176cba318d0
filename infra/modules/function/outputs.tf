output "function_name" {
  description = "The function's name."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "The function's ARN."
  value       = aws_lambda_function.this.arn
}

output "role_arn" {
  description = "The function's execution role."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "The function's execution role name."
  value       = aws_iam_role.this.name
}

output "log_group_name" {
  description = "The function's log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "policy_statements" {
  description = "Every permission statement of the role (for review and tests)."
  value       = local.statements
}

output "log_group" {
  description = "The log group's settings (for review and tests)."
  value = {
    name              = aws_cloudwatch_log_group.this.name
    retention_in_days = aws_cloudwatch_log_group.this.retention_in_days
    kms_key_id        = aws_cloudwatch_log_group.this.kms_key_id
  }
}

output "environment" {
  description = "The function's environment variables: configuration, never secret values (for review and tests)."
  value       = one(aws_lambda_function.this.environment[*].variables)
}

output "settings" {
  description = "The function's sizing (for review and tests)."
  value = {
    architecture         = one(aws_lambda_function.this.architectures)
    memory_mb            = aws_lambda_function.this.memory_size
    timeout_seconds      = aws_lambda_function.this.timeout
    reserved_concurrency = aws_lambda_function.this.reserved_concurrent_executions
  }
}

output "alarms" {
  description = "The function's alarms, errors and throttles (for review and tests)."
  value = {
    for k, a in { errors  = aws_cloudwatch_metric_alarm.errors, throttles = aws_cloudwatch_metric_alarm.throttles } : k => {
      alarm_name          = a.alarm_name
      namespace           = a.namespace
      metric_name         = a.metric_name
      dimensions          = a.dimensions
      statistic           = a.statistic
      threshold           = a.threshold
      comparison_operator = a.comparison_operator
      alarm_actions       = a.alarm_actions
    }
  }
}
