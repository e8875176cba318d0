//! Tenant health: can a token be had for every API the tenant's datasets and actions use, with a role that
//! satisfies each of their permissions?

use std::collections::BTreeMap;

use mde_contracts::{Audience, AudienceHealth, Permission, TenantConfig, TenantHealth};
use mde_defender::TokenSource;

/// Checks every API the tenant needs (all three when it has no datasets or actions configured).
pub(crate) async fn check(tokens: &dyn TokenSource, tenant: &TenantConfig) -> TenantHealth {
    let mut needs: BTreeMap<Audience, Vec<Permission>> = BTreeMap::new();
    for p in tenant.permissions() {
        needs.entry(p.audience).or_default().push(p);
    }
    if needs.is_empty() {
        needs = Audience::ALL.into_iter().map(|a| (a, Vec::new())).collect();
    }
    let mut audiences = Vec::new();
    for (audience, required) in needs {
        audiences.push(match tokens.token(&tenant.tenant_id, audience, &[]).await {
            Err(e) => AudienceHealth {
                audience,
                token_obtainable: false,
                roles: Vec::new(),
                missing_roles: required.iter().map(|p| p.least().to_string()).collect(),
                problem: Some(e.to_string()),
            },
            Ok(token) => {
                // For each unmet requirement, the least privileged role that would meet it.
                let missing: Vec<&str> = required
                    .iter()
                    .filter(|p| !p.is_granted_by(&token.roles))
                    .map(|p| p.least())
                    .collect();
                // The cached token answers again, now with the consent error that carries the fix.
                let problem = match missing.is_empty() {
                    true => None,
                    false => tokens
                        .token(&tenant.tenant_id, audience, &missing)
                        .await
                        .err()
                        .map(|e| e.to_string()),
                };
                AudienceHealth {
                    audience,
                    token_obtainable: true,
                    roles: token.roles.clone(),
                    missing_roles: missing.into_iter().map(str::to_string).collect(),
                    problem,
                }
            }
        });
    }
    TenantHealth {
        tenant_id: tenant.tenant_id.clone(),
        healthy: audiences
            .iter()
            .all(|a| a.token_obtainable && a.missing_roles.is_empty()),
        audiences,
        credential: None,
    }
}
