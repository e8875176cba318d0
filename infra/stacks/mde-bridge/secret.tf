# The application credential. Created empty: its value is put with `aws secretsmanager put-secret-value`
# (README: Deploy), so it is never a Terraform input and never in the state. Extra credentials (sovereign-cloud
# app registrations) are secrets the operator creates; the stack only grants the token-broker read access to them
# (var.extra_credential_secret_arns).
resource "aws_secretsmanager_secret" "credential" {
  #checkov:skip=CKV2_AWS_57:An Entra client secret or certificate is rotated in Entra ID, then put here; the broker re-reads a refused credential.
  name                    = "${var.name_prefix}/app-credential"
  description             = "mde-bridge application credential (JSON: schemas/app-credential.schema.json)"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = local.tags
}
