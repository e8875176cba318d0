# The stack's inventory: every function, queue, table and bucket it deploys (the module instances of whatever is
# enabled). The checks below iterate over it, and so do the outputs log_groups and queues: a module instance listed
# here is held to every guarantee at once. A new one must be listed; check.the_inventory_is_complete catches a
# queue, table, bucket or function handed to a function (its environment) that is not.
locals {
  functions = merge(
    { "token-broker" = module.token_broker, "incident-export" = module.incident_export },
    { for m in module.indicator_push : "indicator-push" => m },
    { for m in module.alert_webhook : "alert-webhook" => m },
    { for m in module.action_executor : "action-executor" => m },
  )
  queues  = concat([module.export_failures], module.fan_out, module.indicator_queue, module.action_queue, module.executor_polls)
  tables  = concat([module.registry, module.token_cache], module.webhook_requests)
  buckets = [module.exports]
}

check "the_inventory_is_complete" {
  assert {
    condition = alltrue(flatten([
      for f in local.functions : [
        for k, v in f.environment :
        endswith(k, "_QUEUE_URL") ? contains(concat(local.queues[*].url, local.queues[*].dlq_url), v) :
        endswith(k, "_TABLE") ? contains(local.tables[*].name, v) :
        endswith(k, "_BUCKET") ? contains(local.buckets[*].bucket, v) :
        endswith(k, "_FUNCTION") ? contains([for g in local.functions : g.function_name], v) : true
      ]
    ]))
    error_message = "A function's environment names a queue (*_QUEUE_URL), table (*_TABLE), bucket (*_BUCKET) or function (*_FUNCTION) missing from the inventory in checks.tf: list it there, so the stack's checks cover it."
  }
}

# Every queue redrives to a dead-letter queue of its own, which an alarm watches (a message visible: ALARM,
# notifying alarm_actions).
check "every_queue_has_a_dead_letter_queue_and_an_alarm" {
  assert {
    condition = alltrue([
      for q in local.queues : try(
        jsondecode(q.redrive_policy).deadLetterTargetArn == q.dlq_arn && jsondecode(q.redrive_policy).maxReceiveCount >= 1
        && q.settings.dlq_name != q.settings.name
        && q.dlq_alarm.namespace == "AWS/SQS" && q.dlq_alarm.metric_name == "ApproximateNumberOfMessagesVisible"
        && length(q.dlq_alarm.dimensions) == 1 && q.dlq_alarm.dimensions.QueueName == q.settings.dlq_name
        && q.dlq_alarm.threshold == 0 && q.dlq_alarm.comparison_operator == "GreaterThanThreshold"
        && toset(q.dlq_alarm.alarm_actions) == toset(var.alarm_actions),
        false
      )
    ])
    error_message = "Every queue must redrive to its own dead-letter queue, and an alarm (notifying alarm_actions) must watch that dead-letter queue for visible messages: create queues with modules/queue and list them in local.queues."
  }
}

# Data at rest is encrypted with the stack's key: both queues of every queue pair, every table, every bucket
# (SSE-KMS) and every function's log group.
check "everything_is_encrypted_with_the_stack_key" {
  assert {
    condition = alltrue(concat(
      [for q in local.queues : try(q.settings.kms_master_key_id == aws_kms_key.this.arn && q.settings.dlq_kms_master_key_id == aws_kms_key.this.arn, false)],
      [for t in local.tables : try(t.settings.sse_enabled && t.settings.sse_kms_key_arn == aws_kms_key.this.arn, false)],
      [for b in local.buckets : try(b.encryption.sse_algorithm == "aws:kms" && b.encryption.kms_master_key_id == aws_kms_key.this.arn, false)],
      [for f in local.functions : try(f.log_group.kms_key_id == aws_kms_key.this.arn, false)],
    ))
    error_message = "Every queue and dead-letter queue, table, bucket (SSE-KMS) and log group must be encrypted with the stack's KMS key."
  }
}

# Every function has an alarm on its Errors (any error: ALARM, notifying alarm_actions) and its own log group
# with a retention (0 would keep the logs forever).
check "every_function_alarms_on_errors_and_keeps_its_logs" {
  assert {
    condition = alltrue([
      for f in local.functions : try(
        f.alarms.errors.namespace == "AWS/Lambda" && f.alarms.errors.metric_name == "Errors"
        && length(f.alarms.errors.dimensions) == 1 && f.alarms.errors.dimensions.FunctionName == f.function_name
        && f.alarms.errors.threshold == 0 && f.alarms.errors.comparison_operator == "GreaterThanThreshold"
        && toset(f.alarms.errors.alarm_actions) == toset(var.alarm_actions)
        && f.log_group.name == "/aws/lambda/${f.function_name}" && f.log_group.retention_in_days > 0,
        false
      )
    ])
    error_message = "Every function must have an Errors alarm (notifying alarm_actions) and its log group /aws/lambda/<name> with a retention: create functions with modules/function and list them in local.functions."
  }
}

# Only the token-broker may read a credential (the application's and every extra one). A statement of any other
# function (every one of local.functions), or of the stack's other IAM policies (the scheduler's role policy, the
# operators' registry writer policy), fails this check if it names a credential secret's ARN (any action), or if it
# could read a secret - it names the secretsmanager service (any action, any case) or a wildcard that matches
# GetSecretValue (e.g. "*", "secretsmanager:G*", "secrets*:*") - on anything but the secrets it may read:
# alert-webhook its partner-keys secret, by exact ARN; every other one none (action-executor, like indicator-push,
# gets its tokens from the broker).
locals {
  readable_secrets = { "alert-webhook" = aws_secretsmanager_secret.webhook_partner_keys[*].arn }
  non_broker_functions = [
    for name, f in local.functions : { statements = f.policy_statements, readable_secrets = try(local.readable_secrets[name], []) }
    if name != "token-broker"
  ]
  # As AWS gets them: Action and Resource may be a string or a list; NotAction and NotResource count as "*".
  other_policies = [
    for p in [aws_iam_role_policy.scheduler.policy, aws_iam_policy.registry_writer.policy] : {
      statements = [
        for s in jsondecode(p).Statement : { actions = flatten([try(s.Action, "*")]), resources = flatten([try(s.Resource, "*")]) }
        if s.Effect == "Allow"
      ]
      readable_secrets = []
    }
  ]
  secret_read_actions = ["secretsmanager:getsecretvalue", "secretsmanager:batchgetsecretvalue"]
}

check "only_the_broker_reads_the_credential" {
  assert {
    condition = alltrue(flatten([
      for f in concat(local.non_broker_functions, local.other_policies) : [
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
    error_message = "No IAM policy of the stack but the token-broker's may read the credential secrets: only the token-broker holds the application credential and the extra credentials (alert-webhook reads its partner-keys secret only)."
  }
}

# Only the token-broker may use the shared token cache (tokens.tf). Its tokens are sealed under a key only the
# broker derives, but another holder could still delete or overwrite them. A statement of any other function, or
# of the stack's other IAM policies (the same lists as above), fails this check if it names the table's ARN (or
# anything under it, e.g. an index), whatever the action; or if it could use DynamoDB on the table: one of its
# resources matches the table's ARN (an IAM wildcard, e.g. "*" or "arn:aws:dynamodb:*:*:table/mde-bridge-*") and
# one of its actions is a DynamoDB action or a wildcard that matches one (e.g. "*", "Dynamo*:*"). The broker's own
# statements are in tokens.tf.
locals {
  token_cache_arn = module.token_cache.arn
  # What another holder could do to the cache: read, write or delete its items, change or delete the table (lower
  # case: IAM matches actions case-insensitively).
  token_cache_actions = [
    "dynamodb:getitem", "dynamodb:batchgetitem", "dynamodb:query", "dynamodb:scan", "dynamodb:partiqlselect",
    "dynamodb:putitem", "dynamodb:updateitem", "dynamodb:deleteitem", "dynamodb:batchwriteitem",
    "dynamodb:partiqlinsert", "dynamodb:partiqlupdate", "dynamodb:partiqldelete",
    "dynamodb:deletetable", "dynamodb:updatetable", "dynamodb:updatetimetolive",
  ]
  # IAM patterns (* and ?) are matched as regular expressions: first these metacharacters are escaped.
  regex_metacharacters = "/[.+^$()|{}\\[\\]\\\\]/"
  # Every statement of every policy but the broker's, and how it reaches the cache.
  token_cache_reach = flatten([
    for f in concat(local.non_broker_functions, local.other_policies) : [
      for s in f.statements : {
        names_the_table = anytrue([for r in s.resources : r == local.token_cache_arn || startswith(r, "${local.token_cache_arn}/")])
        matches_the_table = anytrue([
          for r in s.resources :
          can(regex("^${replace(replace(replace(r, local.regex_metacharacters, "\\$0"), "*", ".*"), "?", ".")}$", local.token_cache_arn))
        ])
        uses_dynamodb = anytrue([
          for a in s.actions : startswith(lower(a), "dynamodb:") || anytrue([
            for d in local.token_cache_actions :
            can(regex("^${replace(replace(replace(lower(a), local.regex_metacharacters, "\\$0"), "*", ".*"), "?", ".")}$", d))
          ])
        ])
      }
    ]
  ])
}

check "only_the_broker_uses_the_token_cache" {
  assert {
    condition     = !anytrue([for s in local.token_cache_reach : s.names_the_table || (s.matches_the_table && s.uses_dynamodb)])
    error_message = "No IAM policy of the stack but the token-broker's may name the shared token cache table or reach it with a DynamoDB action (a wildcard resource included): the cache is the token-broker's alone."
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
