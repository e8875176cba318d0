# One key for the secrets, the registry, the token cache and the webhook table, the bucket, the queues and the logs.
data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_111:A key policy's Resource "*" means this key only; write access is limited to the account and named services.
  #checkov:skip=CKV_AWS_356:A key policy's Resource "*" means this key only (AWS's documented form of key policies).
  #checkov:skip=CKV_AWS_109:The account root statement is AWS's default key policy, so IAM policies can delegate use of the key.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account}:root"]
    }
  }
  statement {
    sid       = "CloudWatchLogsEncrypts"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/aws/lambda/${var.name_prefix}-*"]
    }
  }
  statement {
    sid       = "SchedulerAndSqsUseTheQueues"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com", "sqs.amazonaws.com", "lambda.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "mde-bridge (${var.name_prefix}): credential secret, tenant registry, exports, queues, logs"
  enable_key_rotation     = true
  deletion_window_in_days = 7
  policy                  = data.aws_iam_policy_document.key.json
  tags                    = local.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name_prefix}"
  target_key_id = aws_kms_key.this.key_id
}
