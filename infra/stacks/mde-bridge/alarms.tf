# Alarms on the functions' Embedded Metric Format metrics. The modules add their own: function errors and
# throttles, dead-letter queues not empty.

# Lag, per dataset over every tenant (dimension set ["Dataset"]; the per-tenant figures are under
# ["Tenant", "Dataset"] for dashboards and investigation). No data is breaching: a silent export is a late one.
resource "aws_cloudwatch_metric_alarm" "export_lag" {
  for_each            = toset(var.export_datasets)
  alarm_name          = "${var.name_prefix}-export-lag-${each.key}"
  alarm_description   = "Export of ${each.key} is more than ${var.export_lag_alarm_seconds} s behind for at least one tenant (or did not run). Per tenant: metric LagSeconds with dimensions Tenant, Dataset."
  namespace           = "MdeBridge/IncidentExport"
  metric_name         = "LagSeconds"
  dimensions          = { Dataset = each.key }
  statistic           = "Maximum"
  period              = 900
  evaluation_periods  = 1
  threshold           = var.export_lag_alarm_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = var.alarm_actions
  tags                = local.tags
}

# Failed (tenant, dataset) runs, per dataset. Two 15-minute periods in a row: a failure the next scheduled run
# recovers from does not page; one that persists does.
resource "aws_cloudwatch_metric_alarm" "export_failures" {
  for_each            = toset(var.export_datasets)
  alarm_name          = "${var.name_prefix}-export-failures-${each.key}"
  alarm_description   = "Exports of ${each.key} failed for at least one tenant in two 15-minute periods in a row. Which tenants: metric Failures with dimensions Tenant, Dataset, or the run summaries in the incident-export logs."
  namespace           = "MdeBridge/IncidentExport"
  metric_name         = "Failures"
  dimensions          = { Dataset = each.key }
  statistic           = "Sum"
  period              = 900
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  tags                = local.tags
}

# The credentials' remaining validity, from the token-broker (the dimensionless series is the minimum over every
# credential secret; per secret under dimension Secret).
resource "aws_cloudwatch_metric_alarm" "credential_expiry" {
  alarm_name          = "${var.name_prefix}-credential-expiry"
  alarm_description   = "An application credential (client secret or certificate) expires in less than ${var.credential_expiry_alarm_days} days; which one: metric CredentialDaysLeft by dimension Secret. Rotate the credential in Entra ID (a new client secret or certificate on the app registration), then put the new value into the secret with `aws secretsmanager put-secret-value`; the token-broker picks it up without a deployment."
  namespace           = "MdeBridge/TokenBroker"
  metric_name         = "CredentialDaysLeft"
  statistic           = "Minimum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = var.credential_expiry_alarm_days
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "missing"
  alarm_actions       = var.alarm_actions
  tags                = local.tags
}
