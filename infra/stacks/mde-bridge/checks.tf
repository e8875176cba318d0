# Only the token-broker may read a credential (the application's and every extra one): a statement of
# incident-export that could read a secret fails this check, whether it names the secretsmanager service (any
# action, any case), a wildcard that matches GetSecretValue (e.g. "*", "secretsmanager:G*", "secrets*:*"), or
# any action on a credential secret's ARN.
locals {
  non_broker_statements = module.incident_export.policy_statements
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
    error_message = "incident-export must not read secrets: only the token-broker holds the application credential and the extra credentials."
  }
}
