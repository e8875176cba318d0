# The operator's picture of the deployment: export lag and records per tenant and dataset, failures, dead-letter
# queues, webhook answers by status, partner request outcomes, indicators, the credential's days left. Widgets
# search the functions' Embedded Metric Format metrics by namespace and dimensions;
# tools/xtask/tests/metrics.rs checks that every metric named here (and in alarms.tf) is one the code emits.
resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name_prefix
  dashboard_body = templatefile("${path.module}/dashboard.json.tftpl", {
    region      = local.region
    name_prefix = var.name_prefix
  })
}
