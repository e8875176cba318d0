//! Admin-consent links: what a customer's administrator opens to grant the application its permissions.

use mde_contracts::{ClientId, TenantId};
use url::Url;

/// The v2 admin-consent URL for one tenant:
/// `{login}/{tenant}/adminconsent?client_id=…`.
pub fn admin_consent_url(login: &Url, tenant: &TenantId, client_id: &ClientId) -> String {
    let mut url = login.clone();
    url.set_path(&format!("{tenant}/adminconsent"));
    url.query_pairs_mut().append_pair("client_id", client_id.as_str());
    url.to_string()
}

/// The link Microsoft's Defender partner documentation gives customers:
/// `{login}/common/oauth2/authorize?prompt=consent&client_id=…&response_type=code&sso_reload=true`.
pub fn legacy_consent_url(login: &Url, client_id: &ClientId) -> String {
    let mut url = login.clone();
    url.set_path("common/oauth2/authorize");
    url.query_pairs_mut()
        .append_pair("prompt", "consent")
        .append_pair("client_id", client_id.as_str())
        .append_pair("response_type", "code")
        .append_pair("sso_reload", "true");
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consent_urls_have_the_documented_shapes() {
        let login = Url::parse("https://login.microsoftonline.com").expect("url");
        let tenant: TenantId = "72f988bf-86f1-41af-91ab-2d7cd011db47".parse().expect("tenant");
        let app: ClientId = "5e1b7c3a-2f4d-4a9e-b8c6-0d7e3f1a9b24".parse().expect("client");
        assert_eq!(
            admin_consent_url(&login, &tenant, &app),
            "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/adminconsent?client_id=5e1b7c3a-2f4d-4a9e-b8c6-0d7e3f1a9b24"
        );
        assert_eq!(
            legacy_consent_url(&login, &app),
            "https://login.microsoftonline.com/common/oauth2/authorize?prompt=consent&client_id=5e1b7c3a-2f4d-4a9e-b8c6-0d7e3f1a9b24&response_type=code&sso_reload=true"
        );
    }
}
