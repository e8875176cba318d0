terraform {
  # 1.7: tests/ use mock_provider (optional() attributes with defaults need 1.3).
  required_version = ">= 1.7"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 6.0"
    }
  }
}
