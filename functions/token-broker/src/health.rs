//! Tenant health: can a token be had for every API the tenant's datasets and actions use, with every role?

use std::collections::BTreeMap;

use mde_contracts::{Audience, AudienceHealth, TenantConfig, TenantHealth};
use mde_defender::TokenSource;

/// Checks every API the tenant needs (all three when it has no datasets or actions configured).
pub(crate) async fn check(tokens: &dyn TokenSource, tenant: &TenantConfig) -> TenantHealth {
    let mut needs: BTreeMap<Audience, Vec<&str>> = BTreeMap::new();
    for (audience, role) in tenant.required_roles() {
        needs.entry(audience).or_default().push(role);
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
                missing_roles: required.iter().map(|r| r.to_string()).collect(),
                problem: Some(e.to_string()),
            },
            Ok(token) => {
                let missing: Vec<String> = token
                    .missing_roles(&required)
                    .into_iter()
                    .map(str::to_string)
                    .collect();
                // The cached token answers again, now with the consent error that carries the fix.
                let problem = match missing.is_empty() {
                    true => None,
                    false => tokens
                        .token(&tenant.tenant_id, audience, &required)
                        .await
                        .err()
                        .map(|e| e.to_string()),
                };
                AudienceHealth {
                    audience,
                    token_obtainable: true,
                    roles: token.roles.clone(),
                    missing_roles: missing,
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
    }
}
