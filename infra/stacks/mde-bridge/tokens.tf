# The token-broker's shared token cache: one item per tenant and audience (key "<tenant id>/<audience>"), shared
# by every copy of the broker, so that a tenant's token is fetched from Entra ID once an hour, not once per warm
# copy. The broker seals each token (attribute sealed, AES-256-GCM) under a key derived from the application
# credential: the table alone reveals no token. DynamoDB's TTL on ttl (epoch seconds) removes expired tokens; the
# broker also ignores them (expires_at), since DynamoDB deletes them late.
#
# No point-in-time recovery and no deletion protection: a token lives an hour, so a restore is useless and would
# only keep bearer tokens longer; a lost table is refilled by the next fetch. Only the token-broker may use it
# (check.only_the_broker_uses_the_token_cache in checks.tf).
module "token_cache" {
  #checkov:skip=CKV_AWS_28:Tokens live an hour: a point-in-time restore is useless and would keep bearer tokens longer; the next fetch refills a lost table.
  source                 = "../../modules/table"
  name                   = "${var.name_prefix}-tokens"
  hash_key               = "key"
  ttl_attribute          = "ttl"
  kms_key_arn            = aws_kms_key.this.arn
  deletion_protection    = false
  point_in_time_recovery = false
  tags                   = local.tags
}

locals {
  # The token-broker's statements for the cache: read, write, claim (a conditional UpdateItem, so that of the
  # copies missing a token at once only one asks Entra ID) and (conditionally) delete an item, nothing else; and
  # the stack's key, through DynamoDB only (the table is encrypted with it).
  token_cache_statements = [
    {
      sid       = "UseTheSharedTokenCache"
      actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
      resources = [module.token_cache.arn]
    },
    {
      sid       = "UseTheKeyThroughDynamoDb"
      actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
      resources = [aws_kms_key.this.arn]
      conditions = [{
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["dynamodb.${local.region}.amazonaws.com"]
      }]
    },
  ]
}
