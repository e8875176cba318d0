# Only the token-broker may read a credential (the application's and every extra one). A statement of
# incident-export, indicator-push, alert-webhook or action-executor fails this check if it names a credential
# secret's ARN (any action), or if it could read a secret - it names the secretsmanager service (any action, any
# case) or a wildcard that matches GetSecretValue (e.g. "*", "secretsmanager:G*", "secrets*:*") - on anything but
# the secrets that function may read: alert-webhook its partner-keys secret, by exact ARN; the others none
# (action-executor, like indicator-push, gets its tokens from the broker).
locals {
  non_broker_functions = concat(
    [{ statements = module.incident_export.policy_statements, readable_secrets = [] }],
    [for m in module.indicator_push : { statements = m.policy_statements, readable_secrets = [] }],
    [for m in module.alert_webhook : { statements = m.policy_statements, readable_secrets = aws_secretsmanager_secret.webhook_partner_keys[*].arn }],
    [for m in module.action_executor : { statements = m.policy_statements, readable_secrets = [] }],
  )
  secret_read_actions = ["secretsmanager:getsecretvalue", "secretsmanager:batchgetsecretvalue"]
}

check "only_the_broker_reads_the_credential" {
  assert {
    condition = alltrue(flatten([
      for f in local.non_broker_functions : [
        for s in f.statements : alltrue([
          # No credential secret's ARN, whatever the action.
          !anytrue([for r in s.resources : contains(local.credential_secret_arns, r)]),
          # No action that could read a secret, unless every resource is a secret this function may read.
          anytrue([
            !anytrue([
              for a in s.actions : startswith(lower(a), "secretsmanager:") || anytrue([
                for r in local.secret_read_actions :
                can(regex("^${replace(replace(lower(a), "*", ".*"), "?", ".")}$", r))
              ])
            ]),
            length(f.readable_secrets) > 0 && alltrue([for r in s.resources : contains(f.readable_secrets, r)]),
          ]),
        ])
      ]
    ]))
    error_message = "incident-export, indicator-push, alert-webhook and action-executor must not read the credential secrets: only the token-broker holds the application credential and the extra credentials (alert-webhook reads its partner-keys secret only)."
  }
}

# incident-export may read and write everything under export_prefix, indicator-push and action-executor only their
# own subfolders of indicator_prefix: neither prefix may contain the other, or one function could overwrite the
# other's objects.
check "indicator_prefix_apart_from_export_prefix" {
  assert {
    condition = !(var.enable_indicator_push || var.enable_alert_webhook) || !(
      startswith("${var.indicator_prefix}/", "${var.export_prefix}/") || startswith("${var.export_prefix}/", "${var.indicator_prefix}/")
    )
    error_message = "indicator_prefix (${var.indicator_prefix}) and export_prefix (${var.export_prefix}) must not contain one another: incident-export may write anywhere under export_prefix."
  }
}
