# Terraform helpers of scripts/test-infra. Source after common.sh.

# tf_mirror : the filesystem mirror holding registry.terraform.io/hashicorp/aws, from TF_PROVIDER_MIRROR or
# searched in the usual places; empty when there is none.
tf_mirror() {
  if [ -n "${TF_PROVIDER_MIRROR:-}" ]; then
    [ -d "$TF_PROVIDER_MIRROR/registry.terraform.io/hashicorp/aws" ] && { printf '%s\n' "$TF_PROVIDER_MIRROR"; return; }
    warn "TF_PROVIDER_MIRROR=$TF_PROVIDER_MIRROR holds no registry.terraform.io/hashicorp/aws"
  fi
  local dir
  for root in /opt /usr/local/share /usr/share "$HOME/.terraform.d" /usr/local/lib; do
    [ -d "$root" ] || continue
    dir=$(find "$root" -maxdepth 5 -type d -path '*/registry.terraform.io/hashicorp/aws' 2>/dev/null | head -n 1)
    if [ -n "$dir" ]; then
      dirname "$(dirname "$(dirname "$dir")")"
      return
    fi
  done
}

# tf_offline_config MIRROR FILE : a Terraform CLI configuration installing hashicorp providers from MIRROR only.
tf_offline_config() {
  cat > "$2" <<CFG
provider_installation {
  filesystem_mirror {
    path    = "$1"
    include = ["registry.terraform.io/hashicorp/*"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/*"]
  }
}
CFG
}

# fixture_zips DIR : stand-in deployment packages (a bootstrap that exits) for plans and emulator applies,
# where the function code itself never runs.
fixture_zips() {
  python3 - "$1" <<'PY'
import os, sys, zipfile
root = sys.argv[1]
for fn in ("token-broker", "incident-export", "indicator-push", "alert-webhook", "action-executor"):
    os.makedirs(os.path.join(root, fn), exist_ok=True)
    with zipfile.ZipFile(os.path.join(root, fn, "bootstrap.zip"), "w") as z:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        z.writestr(info, "#!/bin/sh\necho 'fixture package: build the real one with scripts/build' >&2\nexit 1\n")
PY
}
