# The export bucket: exports and checkpoints under var.export_prefix; indicator-push's feeds, rejects and plans under
# var.indicator_prefix (indicators.tf).
module "exports" {
  source           = "../../modules/bucket"
  name             = local.bucket
  kms_key_arn      = aws_kms_key.this.arn
  enable_lifecycle = var.enable_bucket_lifecycle
  force_destroy    = var.force_destroy
  tags             = local.tags
}
