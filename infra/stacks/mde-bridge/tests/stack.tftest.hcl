# Plan-time guarantees of the stack, with a mocked AWS provider (no account, no network).

mock_provider "aws" {
  source = "./tests/mocks"
}

# Distinct ARNs for the dead-letter queues, so the redrive assertion tells them apart from other queues.
override_resource {
  target = module.export_failures.aws_sqs_queue.dlq
  values = { arn = "arn:aws:sqs:eu-west-1:123456789012:export-failures-dlq" }
}

override_resource {
  target = module.fan_out[0].aws_sqs_queue.dlq
  values = { arn = "arn:aws:sqs:eu-west-1:123456789012:export-jobs-dlq" }
}

# The indicator queue, its dead-letter queue and the two functions indicator-push names get ARNs of their own, so
# the assertions below tell "this queue only" and "the broker only" apart from the mock's shared defaults.
override_resource {
  target = module.indicator_queue[0].aws_sqs_queue.this
  values = {
    arn = "arn:aws:sqs:eu-west-1:123456789012:mde-bridge-indicators"
    id  = "https://sqs.eu-west-1.amazonaws.com/123456789012/mde-bridge-indicators"
  }
}

override_resource {
  target = module.indicator_queue[0].aws_sqs_queue.dlq
  values = {
    arn = "arn:aws:sqs:eu-west-1:123456789012:mde-bridge-indicators-dlq"
    id  = "https://sqs.eu-west-1.amazonaws.com/123456789012/mde-bridge-indicators-dlq"
  }
}

override_resource {
  target = module.token_broker.aws_lambda_function.this
  values = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:mde-bridge-token-broker" }
}

override_resource {
  target = module.indicator_push[0].aws_lambda_function.this
  values = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:mde-bridge-indicator-push" }
}

# The token-broker's shared token cache gets an ARN of its own (the mock's shared default is the registry's).
override_resource {
  target = module.token_cache.aws_dynamodb_table.this
  values = { arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/mde-bridge-tokens" }
}

# alert-webhook's queues, table, secret and function get their own ARNs too (the mock's shared defaults would make
# the partner-keys secret the credential secret and the idempotency table the registry).
override_resource {
  target = module.action_queue[0].aws_sqs_queue.this
  values = {
    arn = "arn:aws:sqs:eu-west-1:123456789012:mde-bridge-actions.fifo"
    id  = "https://sqs.eu-west-1.amazonaws.com/123456789012/mde-bridge-actions.fifo"
  }
}

override_resource {
  target = module.action_queue[0].aws_sqs_queue.dlq
  values = {
    arn = "arn:aws:sqs:eu-west-1:123456789012:mde-bridge-actions-dlq.fifo"
    id  = "https://sqs.eu-west-1.amazonaws.com/123456789012/mde-bridge-actions-dlq.fifo"
  }
}

override_resource {
  target = module.webhook_requests[0].aws_dynamodb_table.this
  values = { arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/mde-bridge-webhook-requests" }
}

override_resource {
  target = aws_secretsmanager_secret.webhook_partner_keys[0]
  values = { arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mde-bridge/webhook-partner-keys-GhIjKl" }
}

override_resource {
  target = module.alert_webhook[0].aws_lambda_function.this
  values = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:mde-bridge-alert-webhook" }
}

# action-executor's poll queue, its dead-letter queue and the function get their own ARNs and URLs too.
override_resource {
  target = module.executor_polls[0].aws_sqs_queue.this
  values = {
    arn = "arn:aws:sqs:eu-west-1:123456789012:mde-bridge-executor-polls"
    id  = "https://sqs.eu-west-1.amazonaws.com/123456789012/mde-bridge-executor-polls"
  }
}

override_resource {
  target = module.executor_polls[0].aws_sqs_queue.dlq
  values = {
    arn = "arn:aws:sqs:eu-west-1:123456789012:mde-bridge-executor-polls-dlq"
    id  = "https://sqs.eu-west-1.amazonaws.com/123456789012/mde-bridge-executor-polls-dlq"
  }
}

override_resource {
  target = module.action_executor[0].aws_lambda_function.this
  values = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:mde-bridge-action-executor" }
}

override_resource {
  target = aws_lambda_function_url.alert_webhook[0]
  values = {
    function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:mde-bridge-alert-webhook"
    function_url = "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/"
  }
}

variables {
  partner                      = { company = "Contoso", product = "Soc", version = "1.0.0" }
  enable_fan_out               = true
  extra_credential_secret_arns = ["arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:mde-bridge/gcc-high-credential-XyZ123"]
  export_settings              = { settle_seconds = "120", tenant_concurrency = "8" }
}

run "least_privilege_and_encryption" {
  command = apply

  assert {
    condition     = anytrue([for s in output.token_broker_statements : contains(s.actions, "secretsmanager:GetSecretValue") && contains(s.resources, output.credential_secret_arn)])
    error_message = "The token-broker must be able to read the credential secret."
  }

  assert {
    condition = alltrue([
      for arn in var.extra_credential_secret_arns :
      anytrue([for s in output.token_broker_statements : contains(s.actions, "secretsmanager:GetSecretValue") && contains(s.resources, arn)])
    ])
    error_message = "The token-broker must be able to read every extra credential secret."
  }

  assert {
    condition     = alltrue([for s in output.incident_export_statements : !anytrue([for a in s.actions : a == "*" || startswith(a, "secretsmanager:")])])
    error_message = "incident-export must have no secretsmanager permission."
  }

  assert {
    condition = alltrue([
      for s in output.incident_export_statements :
      length(setintersection(s.resources, concat([output.credential_secret_arn], var.extra_credential_secret_arns))) == 0
    ])
    error_message = "No statement of incident-export may name a credential secret."
  }

  assert {
    condition = alltrue([
      for s in concat(output.token_broker_statements, output.incident_export_statements, output.indicator_push_statements, output.alert_webhook_statements, output.action_executor_statements) :
      !(contains(s.resources, "*") && anytrue([for a in s.actions : strcontains(a, "*")]))
    ])
    error_message = "No wildcard action may apply to every resource."
  }

  assert {
    condition = alltrue([
      for s in output.incident_export_statements :
      length(s.conditions) == 1 && s.conditions[0].test == "StringLike" && s.conditions[0].variable == "s3:prefix"
      && toset(s.conditions[0].values) == toset(["exports", "exports/*"])
      if contains(s.actions, "s3:ListBucket")
    ]) && anytrue([for s in output.incident_export_statements : contains(s.actions, "s3:ListBucket")])
    error_message = "incident-export may list the bucket under the export prefix only (a condition on s3:prefix)."
  }

  assert {
    condition     = alltrue([for q in output.queues : jsondecode(q.redrive_policy).deadLetterTargetArn == q.dlq_arn])
    error_message = "Every queue must redrive to its dead-letter queue."
  }

  assert {
    condition     = length(output.queues) == 5
    error_message = "With fan-out, indicator-push and the webhook (the default), the stack has the failure queue, the job queue, the indicator queue, the action queue and the executor's poll queue."
  }

  assert {
    condition     = alltrue([for g in output.log_groups : g.retention_in_days == 365 && g.kms_key_id == output.kms_key_arn])
    error_message = "Every log group must have a retention and the stack's KMS key."
  }

  assert {
    condition     = module.exports.bucket == "mde-bridge-exports-123456789012"
    error_message = "The export bucket is named after the prefix and the account."
  }
}

run "the_tenant_registry" {
  command = apply

  assert {
    condition     = output.registry_table_name == "mde-bridge-tenants" && module.registry.settings.hash_key == "tenant_id"
    error_message = "The registry is the table <name_prefix>-tenants keyed by tenant_id."
  }

  assert {
    condition     = module.registry.settings.point_in_time_recovery && module.registry.settings.deletion_protection
    error_message = "The registry must have point-in-time recovery and deletion protection."
  }

  assert {
    condition     = module.registry.settings.sse_enabled && module.registry.settings.sse_kms_key_arn == output.kms_key_arn
    error_message = "The registry must be encrypted with the stack's KMS key."
  }

  assert {
    condition     = module.registry.settings.billing_mode == "PAY_PER_REQUEST"
    error_message = "The registry is billed on demand."
  }

  assert {
    condition = alltrue([
      for f in [output.token_broker_statements, output.incident_export_statements, output.indicator_push_statements, output.alert_webhook_statements, output.action_executor_statements] :
      anytrue([for s in f : contains(s.resources, output.registry_table_arn) && contains(s.actions, "dynamodb:GetItem")])
    ])
    error_message = "Every function reads the registry."
  }

  assert {
    condition = alltrue(flatten([
      for s in concat(output.token_broker_statements, output.incident_export_statements, output.indicator_push_statements, output.action_executor_statements) : [
        for a in s.actions : contains(["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"], a)
        if startswith(a, "dynamodb:") || contains(s.resources, output.registry_table_arn)
      ]
      if toset(s.resources) != toset([module.token_cache.arn])
    ]))
    error_message = "The functions may only read the registry (GetItem, Query, Scan): no DynamoDB write action (alert-webhook writes its own idempotency table and the token-broker its token cache, asserted in their runs)."
  }

  assert {
    condition = alltrue([
      for m in [module.token_broker.environment, module.incident_export.environment, module.indicator_push[0].environment, module.alert_webhook[0].environment, module.action_executor[0].environment] :
      m["MDE_BRIDGE_REGISTRY_BACKEND"] == "dynamodb" && m["MDE_BRIDGE_REGISTRY_TABLE"] == output.registry_table_name
      && !contains(keys(m), "MDE_BRIDGE_TENANTS")
    ])
    error_message = "Every function reads the registry from the table (MDE_BRIDGE_REGISTRY_*), not MDE_BRIDGE_TENANTS."
  }

  assert {
    condition     = aws_iam_policy.registry_writer.name == "mde-bridge-registry-writer" && output.registry_writer_policy_arn == aws_iam_policy.registry_writer.arn
    error_message = "The stack outputs the operators' writer policy <name_prefix>-registry-writer."
  }

  assert {
    condition = alltrue([
      for a in ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"] :
      anytrue([for st in jsondecode(aws_iam_policy.registry_writer.policy).Statement : contains(st.Action, a) && st.Resource == [output.registry_table_arn]])
    ])
    error_message = "The writer policy reads and writes the registry table, and nothing else."
  }

  assert {
    condition = alltrue([
      for a in ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"] :
      anytrue([for st in jsondecode(aws_iam_policy.registry_writer.policy).Statement : contains(st.Action, a) && st.Resource == [output.kms_key_arn]])
    ])
    error_message = "The writer policy may use the stack's key (for the table's encryption)."
  }
}

run "configuration_and_alarms" {
  command = apply

  assert {
    condition     = module.incident_export.environment["MDE_BRIDGE_EXPORT_SETTLE_SECONDS"] == "120" && module.incident_export.environment["MDE_BRIDGE_EXPORT_TENANT_CONCURRENCY"] == "8"
    error_message = "export_settings become MDE_BRIDGE_EXPORT_<KEY> variables of incident-export."
  }

  assert {
    condition     = module.incident_export.environment["MDE_BRIDGE_EXPORT_QUEUE_URL"] == module.fan_out[0].url && !contains(keys(module.incident_export.environment), "INCIDENT_EXPORT_QUEUE_URL")
    error_message = "With fan-out, incident-export gets the job queue as MDE_BRIDGE_EXPORT_QUEUE_URL."
  }

  assert {
    condition     = jsondecode(aws_scheduler_schedule.export.target[0].input) == { fan_out = true }
    error_message = "With fan-out, the schedule asks the function to fan out (one job per tenant on the queue)."
  }

  assert {
    condition     = !anytrue([for k in keys(module.token_broker.environment) : startswith(k, "MDE_BRIDGE_EXPORT_")])
    error_message = "Export settings are incident-export's only."
  }

  assert {
    condition = (
      toset(keys(aws_cloudwatch_metric_alarm.export_lag)) == toset(["graph_incidents", "graph_alerts_v2", "mde_alerts", "m365d_incidents"])
      && alltrue([
        for d, a in aws_cloudwatch_metric_alarm.export_lag :
        a.metric_name == "LagSeconds" && a.namespace == "MdeBridge/IncidentExport" && a.statistic == "Maximum"
        && length(a.dimensions) == 1 && a.dimensions["Dataset"] == d
      ])
    )
    error_message = "One lag alarm per dataset, on LagSeconds by Dataset alone (not per tenant)."
  }

  assert {
    condition = alltrue([
      for d, a in aws_cloudwatch_metric_alarm.export_failures :
      a.metric_name == "Failures" && a.statistic == "Sum" && a.threshold == 0 && a.dimensions["Dataset"] == d
    ]) && length(aws_cloudwatch_metric_alarm.export_failures) == 4
    error_message = "One failure alarm per dataset, on Failures by Dataset."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.credential_expiry.alarm_name == "mde-bridge-credential-expiry"
      && aws_cloudwatch_metric_alarm.credential_expiry.namespace == "MdeBridge/TokenBroker"
      && aws_cloudwatch_metric_alarm.credential_expiry.metric_name == "CredentialDaysLeft"
      && aws_cloudwatch_metric_alarm.credential_expiry.statistic == "Minimum"
      && aws_cloudwatch_metric_alarm.credential_expiry.period == 3600
      && aws_cloudwatch_metric_alarm.credential_expiry.threshold == 30
      && aws_cloudwatch_metric_alarm.credential_expiry.comparison_operator == "LessThanThreshold"
      && aws_cloudwatch_metric_alarm.credential_expiry.treat_missing_data == "missing"
      && try(length(aws_cloudwatch_metric_alarm.credential_expiry.dimensions), 0) == 0
    )
    error_message = "The credential-expiry alarm watches the dimensionless CredentialDaysLeft (minimum per hour < 30 days)."
  }

  assert {
    condition     = strcontains(aws_cloudwatch_metric_alarm.credential_expiry.alarm_description, "Rotate the credential in Entra ID")
    error_message = "The credential-expiry alarm says what to do."
  }
}

run "fewer_datasets_fewer_alarms_and_no_queue_without_fan_out" {
  command = plan

  variables {
    enable_fan_out  = false
    export_datasets = ["mde_alerts"]
  }

  assert {
    condition     = keys(aws_cloudwatch_metric_alarm.export_lag) == ["mde_alerts"]
    error_message = "Lag alarms follow export_datasets."
  }

  assert {
    condition     = !contains(keys(module.incident_export.environment), "MDE_BRIDGE_EXPORT_QUEUE_URL")
    error_message = "Without fan-out there is no queue URL."
  }

  assert {
    condition     = jsondecode(aws_scheduler_schedule.export.target[0].input) == {}
    error_message = "Without fan-out, the schedule runs every tenant in one invocation (an empty job)."
  }
}

run "granting_the_export_function_the_secret_is_caught" {
  command = apply

  variables {
    extra_export_statements = [{
      sid       = "Oops"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = ["*"]
    }]
  }

  expect_failures = [check.only_the_broker_reads_the_credential]
}

# IAM matches actions case-insensitively and with wildcards: this one grants GetSecretValue.
run "a_wildcard_that_reads_secrets_is_caught" {
  command = apply

  variables {
    extra_export_statements = [{
      sid       = "Sneaky"
      actions   = ["Secrets*:G*"]
      resources = ["arn:aws-us-gov:secretsmanager:*:123456789012:secret:*"]
    }]
  }

  expect_failures = [check.only_the_broker_reads_the_credential]
}

run "naming_an_extra_credential_is_caught" {
  command = apply

  variables {
    extra_export_statements = [{
      sid       = "WrongArn"
      actions   = ["s3:GetObject"]
      resources = ["arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:mde-bridge/gcc-high-credential-XyZ123"]
    }]
  }

  expect_failures = [check.only_the_broker_reads_the_credential]
}

# The token-broker's shared token cache: a table of its own, keyed by key, expired by TTL on ttl, encrypted with the
# stack's key, neither backed up nor protected (tokens live an hour); the broker gets its name and may get, put and
# delete items (and use the key through DynamoDB); no other policy names it.
run "the_shared_token_cache" {
  command = apply

  assert {
    condition = (
      output.token_cache_table == "mde-bridge-tokens" && module.token_cache.arn == "arn:aws:dynamodb:eu-west-1:123456789012:table/mde-bridge-tokens"
      && module.token_cache.settings.hash_key == "key" && module.token_cache.settings.billing_mode == "PAY_PER_REQUEST"
    )
    error_message = "The token cache is the table <name_prefix>-tokens, keyed by key, billed on demand."
  }

  assert {
    condition     = module.token_cache.settings.ttl_attribute == "ttl"
    error_message = "The token cache expires its items on ttl (DynamoDB TTL, enabled)."
  }

  assert {
    condition     = module.token_cache.settings.sse_enabled && module.token_cache.settings.sse_kms_key_arn == output.kms_key_arn
    error_message = "The token cache is encrypted with the stack's KMS key."
  }

  assert {
    condition     = !module.token_cache.settings.point_in_time_recovery && !module.token_cache.settings.deletion_protection
    error_message = "The token cache has no point-in-time recovery (a restore would only keep bearer tokens longer) and no deletion protection."
  }

  assert {
    condition     = contains(local.tables[*].name, output.token_cache_table)
    error_message = "The token cache is in the stack's inventory (so the encryption check covers it)."
  }

  assert {
    condition = (
      module.token_broker.environment["MDE_BRIDGE_TOKENS_SHARED_CACHE_TABLE"] == output.token_cache_table
      && module.token_broker.environment["MDE_BRIDGE_TOKENS_SOURCE"] == "direct"
      && !anytrue([
        for m in [module.incident_export.environment, module.indicator_push[0].environment, module.alert_webhook[0].environment, module.action_executor[0].environment] :
        contains(keys(m), "MDE_BRIDGE_TOKENS_SHARED_CACHE_TABLE")
      ])
    )
    error_message = "The token-broker, and no other function, gets the cache's name as MDE_BRIDGE_TOKENS_SHARED_CACHE_TABLE."
  }

  # The broker's statements on the table and on the key for it, exactly.
  assert {
    condition = (
      length([for s in output.token_broker_statements : s.sid if contains(s.resources, module.token_cache.arn)]) == 1
      && alltrue([
        for s in output.token_broker_statements :
        toset(s.actions) == toset(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"])
        && toset(s.resources) == toset([module.token_cache.arn]) && length(s.conditions) == 0
        if contains(s.resources, module.token_cache.arn)
      ])
    )
    error_message = "The token-broker may get, put, update (claim) and delete the cache's items (one statement, on the table alone), nothing else: no Query or Scan."
  }

  assert {
    condition = anytrue([
      for s in output.token_broker_statements :
      toset(s.resources) == toset([output.kms_key_arn]) && s.conditions[0].test == "StringEquals"
      && s.conditions[0].variable == "kms:ViaService" && toset(s.conditions[0].values) == toset(["dynamodb.eu-west-1.amazonaws.com"])
      if toset(s.actions) == toset(["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]) && length(s.conditions) == 1
    ])
    error_message = "The token-broker may use the stack's key for the CMK-encrypted table, through DynamoDB only (kms:ViaService)."
  }

  assert {
    condition = alltrue([
      !anytrue(flatten([
        for s in concat(output.incident_export_statements, output.indicator_push_statements, output.alert_webhook_statements, output.action_executor_statements) :
        [for r in s.resources : strcontains(r, output.token_cache_table)]
      ])),
      !strcontains(aws_iam_role_policy.scheduler.policy, output.token_cache_table),
      !strcontains(aws_iam_policy.registry_writer.policy, output.token_cache_table),
    ])
    error_message = "No policy but the token-broker's names the token cache: not another function's, not the scheduler's, not the registry writer's."
  }

  # The check did not pass on nothing: it reads every statement of the other functions and policies, among them
  # resources that match the table (X-Ray's "*") and DynamoDB actions (the registry's), never both in one statement.
  assert {
    condition = (
      length(local.token_cache_reach) == length(flatten([for f in concat(local.non_broker_functions, local.other_policies) : f.statements]))
      && anytrue([for s in local.token_cache_reach : s.matches_the_table]) && anytrue([for s in local.token_cache_reach : s.uses_dynamodb])
      && !anytrue([for s in local.token_cache_reach : s.names_the_table])
    )
    error_message = "check.only_the_broker_uses_the_token_cache reads every statement of the other functions and policies (wildcard resources and DynamoDB actions among them); none names the table."
  }
}

run "granting_the_export_function_the_token_cache_is_caught" {
  command = apply

  variables {
    extra_export_statements = [{
      sid       = "Oops"
      actions   = ["dynamodb:GetItem"]
      resources = ["arn:aws:dynamodb:eu-west-1:123456789012:table/mde-bridge-tokens"]
    }]
  }

  expect_failures = [check.only_the_broker_uses_the_token_cache]
}

# A wildcard resource that matches the table, with an action that matches a DynamoDB action (case-insensitively).
run "a_wildcard_that_reaches_the_token_cache_is_caught" {
  command = apply

  variables {
    extra_export_statements = [{
      sid       = "Sneaky"
      actions   = ["Dynamo*:Get*"]
      resources = ["arn:aws:dynamodb:*:123456789012:table/mde-bridge-*"]
    }]
  }

  expect_failures = [check.only_the_broker_uses_the_token_cache]
}

# The check matches the table's ARN, not a prefix of it: another table whose name starts like it passes.
run "a_table_named_like_the_token_cache_is_not_caught" {
  command = apply

  variables {
    extra_export_statements = [{
      sid       = "ReadAnotherTable"
      actions   = ["dynamodb:GetItem"]
      resources = ["arn:aws:dynamodb:eu-west-1:123456789012:table/mde-bridge-tokens-archive"]
    }]
  }

  assert {
    condition     = anytrue([for s in output.incident_export_statements : s.sid == "ReadAnotherTable"])
    error_message = "The extra statement is incident-export's (and the check above it passed)."
  }
}

run "bad_inputs_are_refused" {
  command = plan

  variables {
    name_prefix                  = "MDE Bridge"
    export_settings              = { queue_url = "https://sqs.example/q" }
    extra_credential_secret_arns = ["*"]
    export_prefix                = "exports/"
  }

  expect_failures = [var.name_prefix, var.export_settings, var.extra_credential_secret_arns, var.export_prefix]
}

# indicator-push: a standard queue with a dead-letter queue feeding the function in batches, with partial batch
# failures; the function writes only rejects and plans, reads only feeds, and never a secret.
run "indicator_push" {
  command = apply

  variables {
    indicator_settings = { active_cap = "14000" }
  }

  assert {
    condition = (
      aws_lambda_event_source_mapping.indicators[0].batch_size == 100
      && aws_lambda_event_source_mapping.indicators[0].maximum_batching_window_in_seconds == 10
      && toset(aws_lambda_event_source_mapping.indicators[0].function_response_types) == toset(["ReportBatchItemFailures"])
    )
    error_message = "The indicator queue feeds indicator-push in batches of 100 (10 s window) and reports partial batch failures (ReportBatchItemFailures)."
  }

  assert {
    condition = (
      aws_lambda_event_source_mapping.indicators[0].event_source_arn == output.indicator_queue_arn
      && aws_lambda_event_source_mapping.indicators[0].function_name == module.indicator_push[0].function_arn
      && output.indicator_queue_arn == "arn:aws:sqs:eu-west-1:123456789012:mde-bridge-indicators"
      && module.indicator_push[0].function_arn == "arn:aws:lambda:eu-west-1:123456789012:function:mde-bridge-indicator-push"
    )
    error_message = "The event source mapping connects the indicator queue to indicator-push."
  }

  assert {
    condition = (
      aws_lambda_event_source_mapping.indicators[0].scaling_config[0].maximum_concurrency == 5
      && module.indicator_push[0].settings.reserved_concurrency == 5
    )
    error_message = "indicator-push runs at most indicator_push_reserved_concurrency (5) copies: reserved, and the mapping's maximum concurrency."
  }

  assert {
    condition = (
      jsondecode(module.indicator_queue[0].redrive_policy).deadLetterTargetArn == module.indicator_queue[0].dlq_arn
      && module.indicator_queue[0].dlq_arn == "arn:aws:sqs:eu-west-1:123456789012:mde-bridge-indicators-dlq"
      && jsondecode(module.indicator_queue[0].redrive_policy).maxReceiveCount == 5
      && output.indicator_dlq_url == "https://sqs.eu-west-1.amazonaws.com/123456789012/mde-bridge-indicators-dlq"
      && output.indicator_queue_url == "https://sqs.eu-west-1.amazonaws.com/123456789012/mde-bridge-indicators"
    )
    error_message = "The indicator queue redrives to its own dead-letter queue after 5 receives; the outputs name both queues."
  }

  assert {
    condition     = contains([for q in output.queues : q.arn], output.indicator_queue_arn)
    error_message = "The indicator queue is listed among the stack's queues (and so under the redrive assertion)."
  }

  assert {
    condition = (
      module.indicator_queue[0].settings.fifo == false
      && module.indicator_queue[0].settings.kms_master_key_id == output.kms_key_arn
      && module.indicator_queue[0].settings.visibility_timeout_seconds == 6 * module.indicator_push[0].settings.timeout_seconds
    )
    error_message = "The indicator queue is a standard queue, encrypted with the stack's key, with a visibility timeout of 6 x the function's timeout."
  }

  assert {
    condition = (
      module.indicator_push[0].settings.memory_mb == 256 && module.indicator_push[0].settings.timeout_seconds == 300
      && output.indicator_push_function == "mde-bridge-indicator-push"
    )
    error_message = "indicator-push is mde-bridge-indicator-push: 256 MB, 300 s."
  }

  assert {
    condition = toset(flatten([
      for s in output.indicator_push_statements : s.resources if contains(s.actions, "s3:PutObject")
      ])) == toset([
      "${module.exports.arn}/indicators/rejects/*",
      "${module.exports.arn}/indicators/plans/*",
    ])
    error_message = "indicator-push may put objects under <indicator_prefix>/rejects/ and <indicator_prefix>/plans/ only."
  }

  assert {
    condition = toset(flatten([
      for s in output.indicator_push_statements : s.resources if contains(s.actions, "s3:GetObject")
    ])) == toset(["${module.exports.arn}/indicators/feeds/*"])
    error_message = "indicator-push may get objects under <indicator_prefix>/feeds/ only."
  }

  assert {
    condition = alltrue(flatten([
      for s in output.indicator_push_statements : [
        for a in s.actions : contains(["s3:PutObject", "s3:GetObject"], a) if startswith(lower(a), "s3:")
      ]
    ]))
    error_message = "indicator-push has no other S3 action (no list, no delete, no s3:*)."
  }

  assert {
    condition = !anytrue(flatten([
      for s in output.indicator_push_statements : [
        for a in s.actions : strcontains(lower(a), "secretsmanager") || strcontains(a, "*")
      ]
    ]))
    error_message = "indicator-push has no secretsmanager permission and no wildcard action."
  }

  assert {
    condition = alltrue([
      for s in output.indicator_push_statements :
      length(setintersection(s.resources, concat([output.credential_secret_arn], var.extra_credential_secret_arns))) == 0
    ])
    error_message = "No statement of indicator-push may name a credential secret."
  }

  assert {
    condition = flatten([
      for s in output.indicator_push_statements : s.resources if contains(s.actions, "lambda:InvokeFunction")
    ]) == ["arn:aws:lambda:eu-west-1:123456789012:function:mde-bridge-token-broker"]
    error_message = "indicator-push may invoke the token-broker only."
  }

  assert {
    condition = (
      toset(flatten([for s in output.indicator_push_statements : [for a in s.actions : a if startswith(a, "sqs:")]]))
      == toset(["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"])
      && toset(flatten([
        for s in output.indicator_push_statements : s.resources if anytrue([for a in s.actions : startswith(a, "sqs:")])
      ])) == toset([output.indicator_queue_arn])
    )
    error_message = "indicator-push may consume the indicator queue only (receive, delete, attributes, visibility), and send nowhere."
  }

  assert {
    condition = anytrue([
      for s in output.indicator_push_statements :
      contains(s.actions, "kms:GenerateDataKey") && contains(s.actions, "kms:Decrypt") && toset(s.resources) == toset([output.kms_key_arn])
    ])
    error_message = "indicator-push uses the stack's key (encrypted objects and queue messages)."
  }

  assert {
    condition = (
      module.indicator_push[0].environment["MDE_BRIDGE_STORAGE_BUCKET"] == output.export_bucket
      && module.indicator_push[0].environment["MDE_BRIDGE_STORAGE_PREFIX"] == "indicators"
      && module.indicator_push[0].environment["MDE_BRIDGE_TOKENS_SOURCE"] == "broker"
      && module.indicator_push[0].environment["MDE_BRIDGE_TOKENS_BROKER_FUNCTION"] == output.token_broker_function
      && module.indicator_push[0].environment["MDE_BRIDGE_INDICATORS_ACTIVE_CAP"] == "14000"
      && module.indicator_push[0].environment["MDE_BRIDGE_PARTNER_COMPANY"] == "Contoso"
    )
    error_message = "indicator-push gets the common configuration, the bucket and indicator prefix, tokens from the broker and MDE_BRIDGE_INDICATORS_<KEY> settings."
  }

  assert {
    condition = alltrue([
      !contains(keys(module.indicator_push[0].environment), "MDE_BRIDGE_CREDENTIAL_SECRET_ID"),
      !anytrue([for k in keys(module.indicator_push[0].environment) : startswith(k, "MDE_BRIDGE_EXPORT_")]),
      !anytrue([for k in keys(module.incident_export.environment) : startswith(k, "MDE_BRIDGE_INDICATORS_")]),
    ])
    error_message = "indicator-push knows no credential secret; export and indicator settings stay with their function."
  }

  assert {
    condition     = length(output.log_groups) == 5 && contains([for g in output.log_groups : g.name], "/aws/lambda/mde-bridge-indicator-push")
    error_message = "indicator-push's log group is among the stack's log groups (retention and key asserted above)."
  }
}

run "indicator_push_disabled_creates_nothing" {
  command = plan

  variables {
    enable_indicator_push = false
  }

  assert {
    condition = (
      length(module.indicator_queue) == 0 && length(module.indicator_push) == 0
      && length(aws_lambda_event_source_mapping.indicators) == 0
    )
    error_message = "Without enable_indicator_push there is no indicator queue, function or event source mapping."
  }

  assert {
    condition = (
      output.indicator_queue_url == null && output.indicator_queue_arn == null && output.indicator_dlq_url == null
      && output.indicator_push_function == null && length(output.indicator_push_statements) == 0
    )
    error_message = "Without enable_indicator_push the indicator outputs are null (statements empty)."
  }

  assert {
    condition     = length(output.queues) == 4 && length(output.log_groups) == 4
    error_message = "Without enable_indicator_push only the export's and the webhook's queues and functions remain."
  }
}

# AWS refuses a maximum concurrency below 2 on an SQS event source mapping.
run "indicator_push_with_one_reserved_copy" {
  command = plan

  variables {
    indicator_push_reserved_concurrency = 1
  }

  assert {
    condition     = aws_lambda_event_source_mapping.indicators[0].scaling_config[0].maximum_concurrency == 2
    error_message = "The mapping's maximum concurrency is at least 2."
  }
}

run "an_indicator_prefix_inside_the_export_prefix_is_caught" {
  command = apply

  variables {
    indicator_prefix = "exports/indicators"
  }

  expect_failures = [check.indicator_prefix_apart_from_export_prefix]
}

run "bad_indicator_inputs_are_refused" {
  command = plan

  variables {
    indicator_prefix                    = "indicators/"
    indicator_settings                  = { "Active-Cap" = "10" }
    indicator_push_reserved_concurrency = 0
  }

  expect_failures = [var.indicator_prefix, var.indicator_settings, var.indicator_push_reserved_concurrency]
}

# alert-webhook (deployed by default): a public Function URL (signatures are checked in the function), a FIFO action
# queue with a FIFO dead-letter queue, an idempotency table with TTL, the partner-keys secret, and a role that can
# do exactly this: read the partner keys, record request ids, enqueue actions, read the executor's audit records,
# read the registry. No credential, no broker.
run "alert_webhook" {
  command = apply

  variables {
    webhook_settings = { tolerance_seconds = "300", max_body_bytes = "262144", idempotency_ttl_seconds = "86400" }
  }

  assert {
    condition     = var.enable_alert_webhook
    error_message = "enable_alert_webhook is true by default: the webhook and its executor are deployed."
  }

  assert {
    condition = (
      module.action_queue[0].settings.fifo && module.action_queue[0].settings.dlq_fifo
      && module.action_queue[0].settings.name == "mde-bridge-actions.fifo"
      && module.action_queue[0].settings.dlq_name == "mde-bridge-actions-dlq.fifo"
    )
    error_message = "The action queue and its dead-letter queue are FIFO queues, mde-bridge-actions.fifo and mde-bridge-actions-dlq.fifo."
  }

  assert {
    condition = (
      module.action_queue[0].settings.content_based_deduplication == false
      && module.action_queue[0].settings.deduplication_scope == "messageGroup"
      && module.action_queue[0].settings.fifo_throughput_limit == "perMessageGroupId"
    )
    error_message = "The action queue deduplicates on the function's deduplication id (not the body), per message group, in high-throughput mode."
  }

  assert {
    condition = (
      jsondecode(module.action_queue[0].redrive_policy).deadLetterTargetArn == module.action_queue[0].dlq_arn
      && module.action_queue[0].dlq_arn == "arn:aws:sqs:eu-west-1:123456789012:mde-bridge-actions-dlq.fifo"
      && jsondecode(module.action_queue[0].redrive_policy).maxReceiveCount == 10
      && output.action_queue_url == "https://sqs.eu-west-1.amazonaws.com/123456789012/mde-bridge-actions.fifo"
      && output.action_queue_arn == "arn:aws:sqs:eu-west-1:123456789012:mde-bridge-actions.fifo"
      && output.action_dlq_url == "https://sqs.eu-west-1.amazonaws.com/123456789012/mde-bridge-actions-dlq.fifo"
    )
    error_message = "The action queue redrives to its own dead-letter queue after 10 receives (beyond the executor's own 8 attempts); the outputs name both queues."
  }

  assert {
    condition = (
      module.action_queue[0].settings.kms_master_key_id == output.kms_key_arn
      && module.action_queue[0].settings.dlq_kms_master_key_id == output.kms_key_arn
      && module.action_queue[0].settings.visibility_timeout_seconds == 6 * 300
      && module.action_queue[0].settings.visibility_timeout_seconds >= 6 * module.action_executor[0].settings.timeout_seconds
    )
    error_message = "Both action queues are encrypted with the stack's key; the visibility timeout is 6 x the executor's 300 s."
  }

  assert {
    condition     = length(output.queues) == 5 && contains([for q in output.queues : q.arn], output.action_queue_arn)
    error_message = "The action queue is listed among the stack's queues (and so under the redrive assertion)."
  }

  assert {
    condition     = alltrue([for q in output.queues : jsondecode(q.redrive_policy).deadLetterTargetArn == q.dlq_arn])
    error_message = "Every queue, the action queue included, redrives to its dead-letter queue."
  }

  assert {
    condition = (
      output.webhook_table_name == "mde-bridge-webhook-requests"
      && module.webhook_requests[0].settings.hash_key == "request_id"
      && module.webhook_requests[0].settings.billing_mode == "PAY_PER_REQUEST"
    )
    error_message = "The idempotency table is mde-bridge-webhook-requests, keyed by request_id, billed on demand."
  }

  assert {
    condition     = module.webhook_requests[0].settings.ttl_attribute == "expires_at"
    error_message = "The idempotency table expires its items on expires_at (DynamoDB TTL)."
  }

  assert {
    condition = (
      module.webhook_requests[0].settings.point_in_time_recovery
      && module.webhook_requests[0].settings.sse_enabled
      && module.webhook_requests[0].settings.sse_kms_key_arn == output.kms_key_arn
      && module.webhook_requests[0].settings.deletion_protection
    )
    error_message = "The idempotency table has point-in-time recovery, the stack's KMS key and (by default) deletion protection."
  }

  assert {
    condition = (
      aws_secretsmanager_secret.webhook_partner_keys[0].name == "mde-bridge/webhook-partner-keys"
      && aws_secretsmanager_secret.webhook_partner_keys[0].kms_key_id == output.kms_key_arn
      && output.webhook_partner_keys_secret_arn == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mde-bridge/webhook-partner-keys-GhIjKl"
      && output.webhook_partner_keys_secret_arn != output.credential_secret_arn
    )
    error_message = "The partner keys are the secret mde-bridge/webhook-partner-keys, encrypted with the stack's key, apart from the credential."
  }

  assert {
    condition = (
      output.alert_webhook_function == "mde-bridge-alert-webhook"
      && module.alert_webhook[0].settings.memory_mb == 256 && module.alert_webhook[0].settings.timeout_seconds == 10
      && module.alert_webhook[0].settings.reserved_concurrency == 20
    )
    error_message = "alert-webhook is mde-bridge-alert-webhook: 256 MB, 10 s, 20 reserved copies (its throttle)."
  }

  assert {
    condition = (
      module.alert_webhook[0].environment["MDE_BRIDGE_WEBHOOK_QUEUE_URL"] == output.action_queue_url
      && module.alert_webhook[0].environment["MDE_BRIDGE_WEBHOOK_TABLE"] == output.webhook_table_name
      && module.alert_webhook[0].environment["MDE_BRIDGE_WEBHOOK_PARTNER_KEYS_SECRET_ID"] == output.webhook_partner_keys_secret_arn
      && module.alert_webhook[0].environment["MDE_BRIDGE_WEBHOOK_TOLERANCE_SECONDS"] == "300"
      && module.alert_webhook[0].environment["MDE_BRIDGE_WEBHOOK_MAX_BODY_BYTES"] == "262144"
      && module.alert_webhook[0].environment["MDE_BRIDGE_WEBHOOK_IDEMPOTENCY_TTL_SECONDS"] == "86400"
      && module.alert_webhook[0].environment["MDE_BRIDGE_REGISTRY_TABLE"] == output.registry_table_name
      && module.alert_webhook[0].environment["MDE_BRIDGE_PARTNER_COMPANY"] == "Contoso"
      && module.alert_webhook[0].environment["MDE_BRIDGE_STORAGE_BUCKET"] == output.export_bucket
      && module.alert_webhook[0].environment["MDE_BRIDGE_STORAGE_PREFIX"] == module.action_executor[0].environment["MDE_BRIDGE_STORAGE_PREFIX"]
      && module.alert_webhook[0].environment["MDE_BRIDGE_STORAGE_PREFIX"] == "indicators"
    )
    error_message = "alert-webhook gets the common configuration, the action queue, the table, the partner-keys secret, MDE_BRIDGE_WEBHOOK_<KEY> settings, and the executor's bucket and prefix (its audit records)."
  }

  assert {
    condition = alltrue([
      !anytrue([for k in keys(module.alert_webhook[0].environment) : startswith(k, "MDE_BRIDGE_TOKENS_")]),
      !contains(keys(module.alert_webhook[0].environment), "MDE_BRIDGE_CREDENTIAL_SECRET_ID"),
      !anytrue([for k in keys(module.incident_export.environment) : startswith(k, "MDE_BRIDGE_WEBHOOK_")]),
      !anytrue([for k in keys(module.indicator_push[0].environment) : startswith(k, "MDE_BRIDGE_WEBHOOK_")]),
    ])
    error_message = "alert-webhook has no token source and knows no credential secret; webhook settings are its own."
  }

  # The role, statement by statement: exactly these actions on exactly these resources (besides the module's own
  # log and tracing statements).
  assert {
    condition = {
      for s in output.alert_webhook_statements : s.sid => { actions = toset(s.actions), resources = toset(s.resources) }
      if !contains(["WriteOwnLogs", "Tracing"], s.sid)
      } == {
      ReadThePartnerKeys = {
        actions   = toset(["secretsmanager:GetSecretValue"])
        resources = toset([output.webhook_partner_keys_secret_arn])
      }
      RecordRequestIds = {
        actions   = toset(["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"])
        resources = toset(["arn:aws:dynamodb:eu-west-1:123456789012:table/mde-bridge-webhook-requests"])
      }
      EnqueueActions = {
        actions   = toset(["sqs:SendMessage"])
        resources = toset([output.action_queue_arn])
      }
      ReadTheAuditRecords = {
        actions   = toset(["s3:GetObject"])
        resources = toset(["arn:aws:s3:::mock/indicators/audit/requests/*"])
      }
      ListTheAuditRecords = {
        actions   = toset(["s3:ListBucket"])
        resources = toset(["arn:aws:s3:::mock"])
      }
      UseTheStackKey = {
        actions   = toset(["kms:GenerateDataKey", "kms:Decrypt"])
        resources = toset([output.kms_key_arn])
      }
      ReadTheTenantRegistry = {
        actions   = toset(["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"])
        resources = toset([output.registry_table_arn])
      }
      DecryptTheTenantRegistry = {
        actions   = toset(["kms:Decrypt"])
        resources = toset([output.kms_key_arn])
      }
    }
    error_message = "alert-webhook's role has exactly: GetSecretValue on the partner keys, PutItem/GetItem/UpdateItem on its table, SendMessage on the action queue, GetObject on the audit records (and ListBucket for them), the stack's key, and the registry read statements."
  }

  # Reading a record the executor has not written yet must be a 404, not a 403: S3 needs s3:ListBucket for that,
  # evaluated with the object key as s3:prefix. Listing stays inside the audit records; only GetObject on objects.
  assert {
    condition = alltrue([
      for s in output.alert_webhook_statements :
      length(s.conditions) == 1 && s.conditions[0].test == "StringLike" && s.conditions[0].variable == "s3:prefix"
      && toset(s.conditions[0].values) == toset(["indicators/audit/requests/*"])
      if contains(s.actions, "s3:ListBucket")
    ])
    error_message = "alert-webhook may list the bucket only under <indicator_prefix>/audit/requests/ (a condition on s3:prefix)."
  }

  assert {
    condition = toset(flatten([
      for s in output.alert_webhook_statements : [for a in s.actions : a if startswith(lower(a), "s3:")]
    ])) == toset(["s3:GetObject", "s3:ListBucket"])
    error_message = "alert-webhook reads the audit records and writes nothing in S3 (GetObject and the conditioned ListBucket only)."
  }

  assert {
    condition = anytrue([
      for s in output.alert_webhook_statements :
      contains(s.actions, "kms:Decrypt") && toset(s.resources) == toset([output.kms_key_arn])
    ])
    error_message = "alert-webhook may decrypt with the stack's key, which encrypts the bucket's objects (the audit records)."
  }

  assert {
    condition = (
      toset(flatten([for s in output.alert_webhook_statements : s.resources if anytrue([for a in s.actions : startswith(lower(a), "secretsmanager:")])]))
      == toset([output.webhook_partner_keys_secret_arn])
      && alltrue([
        for s in output.alert_webhook_statements :
        length(setintersection(s.resources, concat([output.credential_secret_arn], var.extra_credential_secret_arns))) == 0
      ])
    )
    error_message = "alert-webhook reads the partner-keys secret only; no statement names a credential secret."
  }

  assert {
    condition     = !anytrue(flatten([for s in output.alert_webhook_statements : [for a in s.actions : startswith(lower(a), "lambda:")]]))
    error_message = "alert-webhook may invoke no function (no lambda:InvokeFunction on the token-broker or anything else)."
  }

  assert {
    condition = alltrue([
      !anytrue(flatten([for s in output.alert_webhook_statements : [for a in s.actions : strcontains(a, "*")]])),
      alltrue([for s in output.alert_webhook_statements : !contains(s.resources, "*") if s.sid != "Tracing"]),
    ])
    error_message = "alert-webhook has no wildcard action, and no resource \"*\" but X-Ray's (which has no resource-level permissions)."
  }

  assert {
    condition = (
      aws_lambda_function_url.alert_webhook[0].authorization_type == "NONE"
      && length(aws_lambda_function_url.alert_webhook[0].cors) == 0
      && aws_lambda_function_url.alert_webhook[0].function_name == output.alert_webhook_function
      && output.alert_webhook_url == "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/"
    )
    error_message = "alert-webhook has a Function URL with auth type NONE (signatures are checked in the function) and no CORS; the output is its URL."
  }

  assert {
    condition = (
      aws_lambda_permission.alert_webhook_url[0].action == "lambda:InvokeFunctionUrl"
      && aws_lambda_permission.alert_webhook_url[0].function_url_auth_type == "NONE"
      && aws_lambda_permission.alert_webhook_url[0].principal == "*"
      && aws_lambda_permission.alert_webhook_url[0].function_name == output.alert_webhook_function
      && aws_lambda_permission.alert_webhook_invoke[0].action == "lambda:InvokeFunction"
      && aws_lambda_permission.alert_webhook_invoke[0].principal == "*"
      && aws_lambda_permission.alert_webhook_invoke[0].function_name == output.alert_webhook_function
    )
    error_message = "The Function URL is public: lambda:InvokeFunctionUrl (auth type NONE) and lambda:InvokeFunction, as AWS requires since October 2025, on alert-webhook only."
  }

  assert {
    condition = (
      length(output.log_groups) == 5 && contains([for g in output.log_groups : g.name], "/aws/lambda/mde-bridge-alert-webhook")
      && alltrue([for g in output.log_groups : g.retention_in_days == 365 && g.kms_key_id == output.kms_key_arn])
    )
    error_message = "alert-webhook's log group is among the stack's log groups, with the retention and the stack's key."
  }
}

# enable_alert_webhook = false leaves out the whole feature: the webhook and the executor, their queues, table,
# secret, Function URL, permissions, event source mappings and alarms (the alarms are the modules').
run "alert_webhook_disabled_creates_nothing" {
  command = plan

  variables {
    enable_alert_webhook = false
  }

  assert {
    condition = (
      length(module.action_queue) == 0 && length(module.webhook_requests) == 0 && length(module.alert_webhook) == 0
      && length(aws_secretsmanager_secret.webhook_partner_keys) == 0 && length(aws_lambda_function_url.alert_webhook) == 0
      && length(aws_lambda_permission.alert_webhook_url) == 0 && length(aws_lambda_permission.alert_webhook_invoke) == 0
    )
    error_message = "Without enable_alert_webhook there is no action queue, table, secret, function, Function URL or permission."
  }

  assert {
    condition = (
      length(module.action_executor) == 0 && length(module.executor_polls) == 0
      && length(aws_lambda_event_source_mapping.executor_requests) == 0 && length(aws_lambda_event_source_mapping.executor_polls) == 0
    )
    error_message = "Without enable_alert_webhook there is no action-executor, no poll queue (nor their alarms) and no event source mapping of the executor."
  }

  assert {
    condition = (
      output.alert_webhook_url == null && output.action_queue_url == null && output.action_queue_arn == null
      && output.action_dlq_url == null && output.webhook_table_name == null && output.webhook_partner_keys_secret_arn == null
      && output.alert_webhook_function == null && length(output.alert_webhook_statements) == 0
      && output.action_executor_function == null && length(output.action_executor_statements) == 0
      && output.executor_poll_queue_url == null && output.executor_poll_dlq_url == null
    )
    error_message = "Without enable_alert_webhook the webhook's and the executor's outputs are null (statements empty)."
  }

  assert {
    condition     = length(output.queues) == 3 && length(output.log_groups) == 3
    error_message = "Without enable_alert_webhook the queues and log groups are the export's and indicator-push's only."
  }

  assert {
    condition     = length(local.non_broker_functions) == 2
    error_message = "Without enable_alert_webhook only incident-export and indicator-push are checked as non-broker functions."
  }
}

# The credential check covers alert-webhook: here the partner-keys secret is also listed as a credential, so the
# webhook's statement reads a credential secret.
run "alert_webhook_reaching_a_credential_is_caught" {
  command = apply

  variables {
    extra_credential_secret_arns = [
      "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:mde-bridge/gcc-high-credential-XyZ123",
      "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mde-bridge/webhook-partner-keys-GhIjKl",
    ]
  }

  expect_failures = [check.only_the_broker_reads_the_credential]
}

run "bad_webhook_inputs_are_refused" {
  command = plan

  variables {
    enable_alert_webhook               = true
    webhook_settings                   = { queue_url = "https://sqs.example/q.fifo" }
    alert_webhook_reserved_concurrency = 0
  }

  expect_failures = [var.webhook_settings, var.alert_webhook_reserved_concurrency]
}

# action-executor (deployed with the webhook, by default): the FIFO action queue and its own standard poll queue
# feed it in batches of 10 with partial batch failures, 2 copies each; it gets tokens from the broker like
# indicator-push, reads and writes its own prefixes of the bucket only, sends only polls to itself, and reads no
# secret.
run "action_executor" {
  command = apply

  variables {
    indicator_settings = { active_cap = "14000" }
    executor_settings  = { poll_interval_seconds = "120" }
  }

  assert {
    condition = (
      output.action_executor_function == "mde-bridge-action-executor"
      && module.action_executor[0].function_arn == "arn:aws:lambda:eu-west-1:123456789012:function:mde-bridge-action-executor"
      && module.action_executor[0].settings.timeout_seconds == 300
      && module.action_executor[0].settings.memory_mb == 512
    )
    error_message = "action-executor is mde-bridge-action-executor: 512 MB, 300 s."
  }

  assert {
    condition = (
      aws_lambda_event_source_mapping.executor_requests[0].event_source_arn == output.action_queue_arn
      && aws_lambda_event_source_mapping.executor_requests[0].function_name == module.action_executor[0].function_arn
      && aws_lambda_event_source_mapping.executor_requests[0].batch_size == 10
      && toset(aws_lambda_event_source_mapping.executor_requests[0].function_response_types) == toset(["ReportBatchItemFailures"])
      && aws_lambda_event_source_mapping.executor_requests[0].scaling_config[0].maximum_concurrency == 2
    )
    error_message = "The action queue (FIFO) feeds action-executor in batches of 10, with partial batch failures, at most 2 copies."
  }

  assert {
    condition = (
      aws_lambda_event_source_mapping.executor_polls[0].event_source_arn == module.executor_polls[0].arn
      && module.executor_polls[0].arn == "arn:aws:sqs:eu-west-1:123456789012:mde-bridge-executor-polls"
      && aws_lambda_event_source_mapping.executor_polls[0].function_name == module.action_executor[0].function_arn
      && aws_lambda_event_source_mapping.executor_polls[0].batch_size == 10
      && toset(aws_lambda_event_source_mapping.executor_polls[0].function_response_types) == toset(["ReportBatchItemFailures"])
      && aws_lambda_event_source_mapping.executor_polls[0].scaling_config[0].maximum_concurrency == 2
    )
    error_message = "The poll queue feeds action-executor in batches of 10, with partial batch failures, at most 2 copies."
  }

  # Each copy keeps to 1/concurrency of Defender's rate limits: concurrency is what both mappings may run, and no
  # more copies than that may run at all.
  assert {
    condition = (
      module.action_executor[0].environment["MDE_BRIDGE_EXECUTOR_CONCURRENCY"] == tostring(
        aws_lambda_event_source_mapping.executor_requests[0].scaling_config[0].maximum_concurrency
        + aws_lambda_event_source_mapping.executor_polls[0].scaling_config[0].maximum_concurrency
      )
      && module.action_executor[0].environment["MDE_BRIDGE_EXECUTOR_CONCURRENCY"] == "4"
      && module.action_executor[0].settings.reserved_concurrency == 4
    )
    error_message = "MDE_BRIDGE_EXECUTOR_CONCURRENCY is the sum of both mappings' maximum concurrency (4), which is also the reserved concurrency."
  }

  assert {
    condition = (
      module.action_executor[0].environment["MDE_BRIDGE_WEBHOOK_QUEUE_URL"] == output.action_queue_url
      && module.action_executor[0].environment["MDE_BRIDGE_WEBHOOK_QUEUE_URL"] == module.alert_webhook[0].environment["MDE_BRIDGE_WEBHOOK_QUEUE_URL"]
      && module.action_executor[0].environment["MDE_BRIDGE_EXECUTOR_POLL_QUEUE_URL"] == output.executor_poll_queue_url
      && output.executor_poll_queue_url == "https://sqs.eu-west-1.amazonaws.com/123456789012/mde-bridge-executor-polls"
      && module.action_executor[0].environment["MDE_BRIDGE_EXECUTOR_POLL_INTERVAL_SECONDS"] == "120"
    )
    error_message = "action-executor gets the action queue (the webhook's), its poll queue and MDE_BRIDGE_EXECUTOR_<KEY> settings."
  }

  # Bucket, prefix, tokens, registry and [indicators] exactly as indicator-push gets them.
  assert {
    condition = alltrue([
      for k in [
        "MDE_BRIDGE_STORAGE_BUCKET", "MDE_BRIDGE_STORAGE_PREFIX", "MDE_BRIDGE_TOKENS_SOURCE", "MDE_BRIDGE_TOKENS_BROKER_FUNCTION",
        "MDE_BRIDGE_REGISTRY_BACKEND", "MDE_BRIDGE_REGISTRY_TABLE", "MDE_BRIDGE_INDICATORS_ACTIVE_CAP", "MDE_BRIDGE_PARTNER_COMPANY",
        "MDE_BRIDGE_CLOUD_NAME",
      ] :
      module.action_executor[0].environment[k] == module.indicator_push[0].environment[k]
    ]) && module.action_executor[0].environment["MDE_BRIDGE_TOKENS_SOURCE"] == "broker"
    error_message = "action-executor gets the bucket, prefix, token source, registry and [indicators] settings of indicator-push."
  }

  assert {
    condition = alltrue([
      !contains(keys(module.action_executor[0].environment), "MDE_BRIDGE_CREDENTIAL_SECRET_ID"),
      !contains(keys(module.action_executor[0].environment), "MDE_BRIDGE_WEBHOOK_PARTNER_KEYS_SECRET_ID"),
      !anytrue([for k in keys(module.action_executor[0].environment) : startswith(k, "MDE_BRIDGE_EXPORT_")]),
      !anytrue([for k in keys(module.alert_webhook[0].environment) : startswith(k, "MDE_BRIDGE_EXECUTOR_")]),
      !anytrue([for k in keys(module.indicator_push[0].environment) : startswith(k, "MDE_BRIDGE_EXECUTOR_")]),
    ])
    error_message = "action-executor knows no secret; executor settings are its own."
  }

  # The role, statement by statement (besides the module's own log and tracing statements).
  assert {
    condition = {
      for s in output.action_executor_statements : s.sid => { actions = toset(s.actions), resources = toset(s.resources) }
      if !contains(["WriteOwnLogs", "Tracing"], s.sid)
      } == {
      GetTokensFromTheBroker = {
        actions   = toset(["lambda:InvokeFunction"])
        resources = toset(["arn:aws:lambda:eu-west-1:123456789012:function:mde-bridge-token-broker"])
      }
      ReadAndWriteOwnObjects = {
        actions = toset(["s3:GetObject", "s3:PutObject"])
        resources = toset([
          "arn:aws:s3:::mock/indicators/audit/requests/*",
          "arn:aws:s3:::mock/indicators/hunting/*",
          "arn:aws:s3:::mock/indicators/rejects/*",
          "arn:aws:s3:::mock/indicators/plans/*",
        ])
      }
      ListTheAuditRecords = {
        actions   = toset(["s3:ListBucket"])
        resources = toset(["arn:aws:s3:::mock"])
      }
      UseTheStackKey = {
        actions   = toset(["kms:GenerateDataKey", "kms:Decrypt"])
        resources = toset([output.kms_key_arn])
      }
      ConsumeTheRequestsAndPolls = {
        actions   = toset(["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"])
        resources = toset([output.action_queue_arn, "arn:aws:sqs:eu-west-1:123456789012:mde-bridge-executor-polls"])
      }
      SchedulePolls = {
        actions   = toset(["sqs:SendMessage"])
        resources = toset(["arn:aws:sqs:eu-west-1:123456789012:mde-bridge-executor-polls"])
      }
      ReadTheTenantRegistry = {
        actions   = toset(["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"])
        resources = toset([output.registry_table_arn])
      }
      DecryptTheTenantRegistry = {
        actions   = toset(["kms:Decrypt"])
        resources = toset([output.kms_key_arn])
      }
    }
    error_message = "action-executor's role has exactly: the broker, its four bucket prefixes (and ListBucket for the audit records), the stack's key, both queues consumed, polls sent, the registry read."
  }

  assert {
    condition = (
      toset(flatten([for s in output.action_executor_statements : s.resources if contains(s.actions, "sqs:SendMessage")]))
      == toset([module.executor_polls[0].arn])
      && !anytrue([for s in output.action_executor_statements : contains(s.resources, output.action_queue_arn) && contains(s.actions, "sqs:SendMessage")])
    )
    error_message = "action-executor sends to its poll queue only: no sqs:SendMessage on the FIFO action queue (only the webhook enqueues requests)."
  }

  assert {
    condition = alltrue([
      for s in output.action_executor_statements :
      toset(s.resources) == toset([output.action_queue_arn, module.executor_polls[0].arn])
      if anytrue([for a in s.actions : startswith(a, "sqs:") && a != "sqs:SendMessage"])
    ])
    error_message = "action-executor consumes the action queue and its poll queue only."
  }

  # No S3 access outside <indicator_prefix>/{audit/requests,hunting,rejects,plans}/: object actions name those
  # prefixes only; listing (for 404s on unwritten audit records) is conditioned on the audit prefix.
  assert {
    condition = alltrue(flatten([
      for s in output.action_executor_statements : [
        for r in s.resources : contains([
          "arn:aws:s3:::mock/indicators/audit/requests/*",
          "arn:aws:s3:::mock/indicators/hunting/*",
          "arn:aws:s3:::mock/indicators/rejects/*",
          "arn:aws:s3:::mock/indicators/plans/*",
        ], r) || (r == module.exports.arn && toset(s.actions) == toset(["s3:ListBucket"]))
      ]
      if anytrue([for a in s.actions : startswith(lower(a), "s3:")])
    ]))
    error_message = "action-executor may touch S3 objects under its four prefixes only (and list the bucket for the audit records)."
  }

  assert {
    condition = alltrue([
      for s in output.action_executor_statements :
      length(s.conditions) == 1 && s.conditions[0].test == "StringLike" && s.conditions[0].variable == "s3:prefix"
      && toset(s.conditions[0].values) == toset(["indicators/audit/requests/*"])
      if contains(s.actions, "s3:ListBucket")
    ])
    error_message = "action-executor may list the bucket only under <indicator_prefix>/audit/requests/ (a condition on s3:prefix)."
  }

  assert {
    condition = toset(flatten([
      for s in output.action_executor_statements : [for a in s.actions : a if startswith(lower(a), "s3:")]
    ])) == toset(["s3:GetObject", "s3:PutObject", "s3:ListBucket"])
    error_message = "action-executor has no other S3 action (no delete, no s3:*)."
  }

  assert {
    condition = alltrue([
      !anytrue(flatten([for s in output.action_executor_statements : [for a in s.actions : strcontains(lower(a), "secretsmanager") || strcontains(a, "*")]])),
      alltrue([for s in output.action_executor_statements : !contains(s.resources, "*") if s.sid != "Tracing"]),
      alltrue([
        for s in output.action_executor_statements :
        length(setintersection(s.resources, concat([output.credential_secret_arn, output.webhook_partner_keys_secret_arn], var.extra_credential_secret_arns))) == 0
      ]),
    ])
    error_message = "action-executor has no secretsmanager permission, no wildcard action, no resource \"*\" but X-Ray's, and names no secret."
  }

  # The credential check covers action-executor, with no readable secret.
  assert {
    condition = (
      length(local.non_broker_functions) == 4
      && contains([for f in local.non_broker_functions : f.statements if length(f.readable_secrets) == 0], module.action_executor[0].policy_statements)
    )
    error_message = "check.only_the_broker_reads_the_credential covers action-executor, which may read no secret."
  }

  assert {
    condition = (
      module.executor_polls[0].settings.fifo == false && module.executor_polls[0].settings.dlq_fifo == false
      && module.executor_polls[0].settings.name == "mde-bridge-executor-polls"
      && module.executor_polls[0].settings.dlq_name == "mde-bridge-executor-polls-dlq"
      && module.executor_polls[0].settings.kms_master_key_id == output.kms_key_arn
      && module.executor_polls[0].settings.dlq_kms_master_key_id == output.kms_key_arn
      && module.executor_polls[0].settings.visibility_timeout_seconds >= 6 * module.action_executor[0].settings.timeout_seconds
    )
    error_message = "The poll queue and its dead-letter queue are standard queues (per-message delays), encrypted with the stack's key, with a visibility timeout of at least 6 x the executor's timeout."
  }

  assert {
    condition = (
      jsondecode(module.executor_polls[0].redrive_policy).deadLetterTargetArn == module.executor_polls[0].dlq_arn
      && module.executor_polls[0].dlq_arn == "arn:aws:sqs:eu-west-1:123456789012:mde-bridge-executor-polls-dlq"
      && jsondecode(module.executor_polls[0].redrive_policy).maxReceiveCount == 10
      && jsondecode(module.action_queue[0].redrive_policy).maxReceiveCount == 10
      && output.executor_poll_dlq_url == "https://sqs.eu-west-1.amazonaws.com/123456789012/mde-bridge-executor-polls-dlq"
      && contains([for q in output.queues : q.arn], module.executor_polls[0].arn)
    )
    error_message = "The poll queue redrives to its own dead-letter queue after 10 receives, like the action queue (beyond the executor's own 8 attempts); it is among the stack's queues."
  }

  # Alarms: the executor's errors and throttles (as every function's), and both dead-letter queues not empty.
  assert {
    condition = alltrue([
      for name, a in module.action_executor[0].alarms :
      a.namespace == "AWS/Lambda" && length(a.dimensions) == 1 && a.dimensions["FunctionName"] == "mde-bridge-action-executor"
      && a.statistic == "Sum" && a.threshold == 0 && a.comparison_operator == "GreaterThanThreshold"
    ]) && module.action_executor[0].alarms.errors.metric_name == "Errors" && module.action_executor[0].alarms.throttles.metric_name == "Throttles"
    error_message = "action-executor has an Errors > 0 alarm and a Throttles > 0 alarm."
  }

  assert {
    condition = alltrue([
      for q in [module.action_queue[0], module.executor_polls[0]] :
      q.dlq_alarm.namespace == "AWS/SQS" && q.dlq_alarm.metric_name == "ApproximateNumberOfMessagesVisible"
      && length(q.dlq_alarm.dimensions) == 1 && q.dlq_alarm.dimensions["QueueName"] == q.settings.dlq_name
      && q.dlq_alarm.threshold == 0 && q.dlq_alarm.comparison_operator == "GreaterThanThreshold"
    ])
    error_message = "The action queue's and the poll queue's dead-letter queues each alarm when a message is visible."
  }

  assert {
    condition = (
      contains([for g in output.log_groups : g.name], "/aws/lambda/mde-bridge-action-executor")
      && alltrue([for g in output.log_groups : g.retention_in_days == 365 && g.kms_key_id == output.kms_key_arn])
    )
    error_message = "action-executor's log group is among the stack's log groups, with the retention and the stack's key."
  }
}

# The alarms notify the stack's topics, the executor's and its queues' included.
run "action_executor_alarms_notify" {
  command = plan

  variables {
    alarm_actions = ["arn:aws:sns:eu-west-1:123456789012:mde-bridge-alarms"]
  }

  assert {
    condition = alltrue(concat(
      [for a in module.action_executor[0].alarms : toset(a.alarm_actions) == toset(var.alarm_actions)],
      [for q in [module.action_queue[0], module.executor_polls[0]] : toset(q.dlq_alarm.alarm_actions) == toset(var.alarm_actions)],
    ))
    error_message = "The executor's and its queues' alarms notify alarm_actions."
  }
}

# More attempts of the executor move the queues' redrive further out: the executor always records a failure
# before SQS moves the message to a dead-letter queue.
run "executor_attempts_move_the_redrive" {
  command = plan

  variables {
    executor_settings = { max_attempts = "12" }
  }

  assert {
    condition = (
      module.executor_polls[0].settings.max_receive_count == 14 && module.action_queue[0].settings.max_receive_count == 14
      && module.action_executor[0].environment["MDE_BRIDGE_EXECUTOR_MAX_ATTEMPTS"] == "12"
    )
    error_message = "With max_attempts = 12 both queues redrive after 14 receives."
  }
}

run "bad_executor_settings_are_refused" {
  command = plan

  variables {
    executor_settings = { concurrency = "8", audit_prefix = "elsewhere/", max_attempts = "many" }
  }

  expect_failures = [var.executor_settings]
}

# The executor writes under indicator_prefix, so the prefix must stay apart from export_prefix even without
# indicator-push.
run "an_indicator_prefix_inside_the_export_prefix_is_caught_for_the_executor" {
  command = apply

  variables {
    enable_indicator_push = false
    indicator_prefix      = "exports/webhook"
  }

  expect_failures = [check.indicator_prefix_apart_from_export_prefix]
}

run "the_operators_dashboard" {
  command = apply

  assert {
    condition     = aws_cloudwatch_dashboard.this.dashboard_name == var.name_prefix
    error_message = "one dashboard per deployment, named after it"
  }
  assert {
    condition = alltrue([for ns in ["MdeBridge/IncidentExport", "MdeBridge/IndicatorPush", "MdeBridge/AlertWebhook", "MdeBridge/ActionExecutor", "MdeBridge/TokenBroker"] :
    strcontains(aws_cloudwatch_dashboard.this.dashboard_body, ns)])
    error_message = "the dashboard shows every function's metrics"
  }
  assert {
    condition     = length(jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets) == 8
    error_message = "the dashboard's body is valid JSON with its eight widgets"
  }
}
