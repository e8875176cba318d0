# Only the token-broker may read a credential (the application's and every extra one): a statement of
# incident-export or indicator-push that could read a secret fails this check, whether it names the
# secretsmanager service (any action, any case), a wildcard that matches GetSecretValue (e.g. "*",
# "secretsmanager:G*", "secrets*:*"), or any action on a credential secret's ARN.
locals {
  non_broker_statements = concat(module.incident_export.policy_statements, flatten(module.indicator_push[*].policy_statements))
  secret_read_actions   = ["secretsmanager:getsecretvalue", "secretsmanager:batchgetsecretvalue"]
}

check "only_the_broker_reads_the_credential" {
  assert {
    condition = alltrue([
      for s in local.non_broker_statements : !anytrue(concat(
        [
          for a in s.actions : startswith(lower(a), "secretsmanager:") || anytrue([
            for r in local.secret_read_actions :
            can(regex("^${replace(replace(lower(a), "*", ".*"), "?", ".")}$", r))
          ])
        ],
        [for r in s.resources : contains(local.credential_secret_arns, r)],
      ))
    ])
    error_message = "incident-export and indicator-push must not read secrets: only the token-broker holds the application credential and the extra credentials."
  }
}

# incident-export may read and write everything under export_prefix, indicator-push only its own subfolders of
# indicator_prefix: neither prefix may contain the other, or one function could overwrite the other's objects.
check "indicator_prefix_apart_from_export_prefix" {
  assert {
    condition = !var.enable_indicator_push || !(
      startswith("${var.indicator_prefix}/", "${var.export_prefix}/") || startswith("${var.export_prefix}/", "${var.indicator_prefix}/")
    )
    error_message = "indicator_prefix (${var.indicator_prefix}) and export_prefix (${var.export_prefix}) must not contain one another: incident-export may write anywhere under export_prefix."
  }
}
