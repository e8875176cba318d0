# The stack's reliability and security guarantees, the check blocks of checks.tf, over its whole inventory
# (local.functions, queues, tables, buckets): a run fails when a check fails, so the first two runs hold every
# guarantee for every function, queue, table, bucket and log group, with the webhook and without it. The runs after
# them prove that each check fires (expect_failures), with a bad variable or a module replaced by a bad one
# (override_module). Checks are evaluated on applied values (at plan most are unknown): every run applies, to the
# mocked provider of tests/mocks (shared with stack.tftest.hcl).

mock_provider "aws" {
  source = "./tests/mocks"
}

# The partner-keys secret is not the credential secret (the mock's shared default ARN would make it one).
override_resource {
  target = aws_secretsmanager_secret.webhook_partner_keys[0]
  values = { arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mde-bridge/webhook-partner-keys-GhIjKl" }
}

# The token cache is not the registry (the mock's shared default ARN would make every registry statement name it).
override_resource {
  target = module.token_cache.aws_dynamodb_table.this
  values = { arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/mde-bridge-tokens" }
}

# Every optional feature on (fan-out too), alarms notifying a topic, an extra credential.
variables {
  partner                      = { company = "Contoso", product = "Soc", version = "1.0.0" }
  enable_fan_out               = true
  alarm_actions                = ["arn:aws:sns:eu-west-1:123456789012:mde-bridge-alarms"]
  extra_credential_secret_arns = ["arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:mde-bridge/gcc-high-credential-XyZ123"]
}

# With the webhook (the default): every queue has a dead-letter queue with an alarm; queues, tables, the bucket and
# log groups are encrypted with the stack's key; every function has an Errors alarm and a log retention; no policy
# but the token-broker's reads a credential or uses the token cache. The asserts show the checks did not pass on an
# empty inventory.
run "guarantees_hold_with_the_webhook" {
  command = apply

  assert {
    condition = (
      toset(keys(local.functions)) == toset(["token-broker", "incident-export", "indicator-push", "alert-webhook", "action-executor"])
      && length(local.queues) == 5 && length(local.tables) == 3 && length(local.buckets) == 1
    )
    error_message = "The inventory holds the five functions, the five queues (failures, jobs, indicators, actions, polls), the three tables (registry, token cache, webhook requests) and the bucket."
  }

  assert {
    condition = (
      length(local.non_broker_functions) == length(local.functions) - 1
      && length(local.other_policies) == 2 && alltrue([for p in local.other_policies : length(p.statements) > 0])
    )
    error_message = "The credential check reads the statements of every function but the token-broker, and of the scheduler's and the registry writer's policies."
  }
}

# Without the webhook: the same guarantees over what is left.
run "guarantees_hold_without_the_webhook" {
  command = apply

  variables {
    enable_alert_webhook = false
  }

  assert {
    condition = (
      toset(keys(local.functions)) == toset(["token-broker", "incident-export", "indicator-push"])
      && length(local.queues) == 3 && length(local.tables) == 2 && length(local.buckets) == 1
      && length(local.non_broker_functions) == 2
    )
    error_message = "Without the webhook the inventory holds three functions, three queues (failures, jobs, indicators), the registry, the token cache and the bucket."
  }
}

# Log groups that keep logs forever (retention 0) are caught.
run "a_log_group_without_retention_is_caught" {
  command = apply

  variables {
    log_retention_days = 0
  }

  expect_failures = [check.every_function_alarms_on_errors_and_keeps_its_logs]
}

# A queue that does not redrive to its dead-letter queue, and whose dead-letter queue no alarm watches, is caught.
run "a_queue_without_redrive_or_alarm_is_caught" {
  command = apply
  # A state of its own: replacing a module that an earlier run applied crashes Terraform 1.11.
  state_key = "queue_without_redrive"

  override_module {
    target = module.fan_out[0]
    outputs = {
      url            = "https://sqs.eu-west-1.amazonaws.com/123456789012/mde-bridge-export-jobs"
      arn            = "arn:aws:sqs:eu-west-1:123456789012:mde-bridge-export-jobs"
      dlq_arn        = "arn:aws:sqs:eu-west-1:123456789012:mde-bridge-export-jobs-dlq"
      redrive_policy = null
      dlq_alarm      = null
      settings = {
        name                  = "mde-bridge-export-jobs"
        dlq_name              = "mde-bridge-export-jobs-dlq"
        kms_master_key_id     = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
        dlq_kms_master_key_id = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
      }
    }
  }

  expect_failures = [check.every_queue_has_a_dead_letter_queue_and_an_alarm]
}

# A bucket encrypted with S3's own key (SSE-S3) instead of the stack's is caught.
run "a_bucket_without_the_stack_key_is_caught" {
  command = apply
  # A state of its own: replacing a module that an earlier run applied crashes Terraform 1.11.
  state_key = "bucket_without_the_key"

  override_module {
    target = module.exports
    outputs = {
      bucket     = "mde-bridge-exports-123456789012"
      arn        = "arn:aws:s3:::mde-bridge-exports-123456789012"
      encryption = { sse_algorithm = "AES256", kms_master_key_id = null, bucket_key_enabled = false }
    }
  }

  expect_failures = [check.everything_is_encrypted_with_the_stack_key]
}

# A function (here action-executor) that reads the credential secret and has no Errors alarm is caught by both
# checks; its log group is fine, so the alarm is what the second one catches.
run "a_function_reading_the_credential_without_an_alarm_is_caught" {
  command = apply
  # A state of its own: replacing a module that an earlier run applied crashes Terraform 1.11.
  state_key = "function_reading_the_credential"

  override_module {
    target = module.action_executor[0]
    outputs = {
      function_name = "mde-bridge-action-executor"
      function_arn  = "arn:aws:lambda:eu-west-1:123456789012:function:mde-bridge-action-executor"
      environment   = {}
      alarms        = {}
      log_group = {
        name              = "/aws/lambda/mde-bridge-action-executor"
        retention_in_days = 365
        kms_key_id        = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
      }
      policy_statements = [{
        sid        = "ReadTheCredential"
        actions    = ["secretsmanager:GetSecretValue"]
        resources  = ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:mde-bridge/app-credential-AbCdEf"]
        conditions = []
      }]
    }
  }

  expect_failures = [check.only_the_broker_reads_the_credential, check.every_function_alarms_on_errors_and_keeps_its_logs]
}

# A queue handed to a function but missing from the inventory (so no check would cover it) is caught.
run "a_queue_missing_from_the_inventory_is_caught" {
  command = apply

  variables {
    export_settings = { jobs_queue_url = "https://sqs.eu-west-1.amazonaws.com/123456789012/not-in-the-inventory" }
  }

  expect_failures = [check.the_inventory_is_complete]
}
