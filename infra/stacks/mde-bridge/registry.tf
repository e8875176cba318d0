# The tenant registry: one item per customer tenant (tenant_id, display name, datasets, actions, credential).
# Operators write it with `mde-bridge tenants add|import` under the writer policy below; the functions only read it.
module "registry" {
  source                 = "../../modules/table"
  name                   = "${var.name_prefix}-tenants"
  hash_key               = "tenant_id"
  kms_key_arn            = aws_kms_key.this.arn
  deletion_protection    = var.registry_deletion_protection
  point_in_time_recovery = true
  tags                   = local.tags
}

locals {
  # What a function needs to read the registry: items and the key that encrypts them. Nothing that writes.
  registry_read_statements = [
    {
      sid       = "ReadTheTenantRegistry"
      actions   = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"]
      resources = [module.registry.arn]
    },
    {
      sid       = "DecryptTheTenantRegistry"
      actions   = ["kms:Decrypt"]
      resources = [aws_kms_key.this.arn]
    },
  ]

  registry_writer_statements = [
    {
      Sid    = "WriteTheTenantRegistry"
      Effect = "Allow"
      Action = [
        "dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan",
        "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem",
      ]
      Resource = [module.registry.arn]
    },
    {
      # Only through DynamoDB: the policy does not let its holder decrypt anything else under the stack's key.
      Sid       = "UseTheKeyThroughDynamoDb"
      Effect    = "Allow"
      Action    = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
      Resource  = [aws_kms_key.this.arn]
      Condition = { StringEquals = { "kms:ViaService" = "dynamodb.${local.region}.amazonaws.com" } }
    },
  ]
}

# Attach to the operators' role (or user) that onboards tenants: `mde-bridge tenants add|import`.
resource "aws_iam_policy" "registry_writer" {
  name        = "${var.name_prefix}-registry-writer"
  description = "mde-bridge (${var.name_prefix}): onboard and offboard tenants in the tenant registry (mde-bridge tenants add|import)."
  policy      = jsonencode({ Version = "2012-10-17", Statement = local.registry_writer_statements })
  tags        = local.tags
}
