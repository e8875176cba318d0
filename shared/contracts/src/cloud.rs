//! Microsoft cloud endpoints: presets for the public and US Government clouds, every URL overridable.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::ContractError;

/// A Microsoft cloud whose endpoints are known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CloudName {
    /// Commercial (worldwide) cloud.
    #[default]
    Public,
    /// US Government Community Cloud (GCC).
    Gcc,
    /// US Government GCC High.
    GccHigh,
    /// US Department of Defense.
    Dod,
}

/// One API: where requests go and which resource (token audience) they need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApiEndpoint {
    /// Base URL requests are sent to (no trailing path), e.g. `https://api.security.microsoft.com`.
    pub base_url: Url,
    /// The resource (App ID URI) tokens are requested for: `resource=` on the v1 endpoint,
    /// `scope=<resource>/.default` on the v2 endpoint.
    pub resource: String,
}

impl ApiEndpoint {
    /// The v2 `scope` parameter for this API.
    pub fn default_scope(&self) -> String {
        format!("{}/.default", self.resource.trim_end_matches('/'))
    }
}

/// The Microsoft API a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Microsoft Defender for Endpoint API (WindowsDefenderATP).
    Mde,
    /// Microsoft 365 Defender API (Microsoft Threat Protection).
    M365d,
    /// Microsoft Graph (security API).
    Graph,
}

impl Audience {
    /// Every audience.
    pub const ALL: [Audience; 3] = [Audience::Mde, Audience::M365d, Audience::Graph];

    /// The name used in requests and logs (`mde`, `m365d`, `graph`).
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Mde => "mde",
            Audience::M365d => "m365d",
            Audience::Graph => "graph",
        }
    }
}

impl std::fmt::Display for Audience {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every endpoint mde-bridge talks to, resolved from a preset and overrides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CloudEndpoints {
    /// Entra ID login host, e.g. `https://login.microsoftonline.com`.
    pub login: Url,
    /// Microsoft Defender for Endpoint API.
    pub mde: ApiEndpoint,
    /// Microsoft 365 Defender (XDR) API.
    pub m365d: ApiEndpoint,
    /// Microsoft Graph.
    pub graph: ApiEndpoint,
}

impl CloudEndpoints {
    /// The endpoint of one API.
    pub fn api(&self, audience: Audience) -> &ApiEndpoint {
        match audience {
            Audience::Mde => &self.mde,
            Audience::M365d => &self.m365d,
            Audience::Graph => &self.graph,
        }
    }
}

impl CloudName {
    /// The documented endpoints of this cloud.
    pub fn endpoints(self) -> CloudEndpoints {
        let (login, mde, m365d, graph) = match self {
            CloudName::Public => (
                "https://login.microsoftonline.com",
                (
                    "https://api.security.microsoft.com",
                    "https://api.securitycenter.microsoft.com",
                ),
                "https://api.security.microsoft.com",
                "https://graph.microsoft.com",
            ),
            CloudName::Gcc => (
                "https://login.microsoftonline.com",
                (
                    "https://api-gcc.securitycenter.microsoft.us",
                    "https://api-gcc.securitycenter.microsoft.us",
                ),
                "https://api-gcc.security.microsoft.us",
                "https://graph.microsoft.com",
            ),
            CloudName::GccHigh => (
                "https://login.microsoftonline.us",
                (
                    "https://api-gov.securitycenter.microsoft.us",
                    "https://api-gov.securitycenter.microsoft.us",
                ),
                "https://api-gov.security.microsoft.us",
                "https://graph.microsoft.us",
            ),
            CloudName::Dod => (
                "https://login.microsoftonline.us",
                (
                    "https://api-gov.securitycenter.microsoft.us",
                    "https://api-gov.securitycenter.microsoft.us",
                ),
                "https://api-gov.security.microsoft.us",
                "https://dod-graph.microsoft.us",
            ),
        };
        let url = |s: &str| Url::parse(s).expect("preset URLs are valid");
        CloudEndpoints {
            login: url(login),
            mde: ApiEndpoint {
                base_url: url(mde.0),
                resource: mde.1.into(),
            },
            m365d: ApiEndpoint {
                base_url: url(m365d),
                resource: m365d.into(),
            },
            graph: ApiEndpoint {
                base_url: url(graph),
                resource: graph.into(),
            },
        }
    }
}

/// The `[cloud]` configuration section: a preset plus optional overrides of any URL (regional API hosts such
/// as `https://eu.api.security.microsoft.com`, or a loopback sandbox for tests and demos).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudSettings {
    /// The preset; `public` when absent.
    #[serde(default)]
    pub name: CloudName,
    /// Overrides the Entra ID login host.
    pub login_url: Option<Url>,
    /// Overrides the MDE API base URL (e.g. a regional host).
    pub mde_api_url: Option<Url>,
    /// Overrides the Microsoft 365 Defender API base URL.
    pub m365d_api_url: Option<Url>,
    /// Overrides the Microsoft Graph base URL.
    pub graph_url: Option<Url>,
}

impl CloudSettings {
    /// The preset's endpoints with the overrides applied. Resources (token audiences) always come from the
    /// preset: pointing requests at another host never changes what a token is for.
    ///
    /// Every URL must be `https`, except on a loopback host (the sandbox), so that a token is never sent in
    /// clear over a network.
    pub fn endpoints(&self) -> Result<CloudEndpoints, ContractError> {
        let mut e = self.name.endpoints();
        for (field, over, target) in [
            ("cloud.login_url", &self.login_url, &mut e.login),
            ("cloud.mde_api_url", &self.mde_api_url, &mut e.mde.base_url),
            ("cloud.m365d_api_url", &self.m365d_api_url, &mut e.m365d.base_url),
            ("cloud.graph_url", &self.graph_url, &mut e.graph.base_url),
        ] {
            if let Some(url) = over {
                check_endpoint_url(field, url)?;
                *target = url.clone();
            }
        }
        Ok(e)
    }
}

fn check_endpoint_url(field: &str, url: &Url) -> Result<(), ContractError> {
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => return Err(ContractError::invalid(field, format!("{url} has no host"))),
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        other => Err(ContractError::invalid(
            field,
            format!(
                "{url} uses {other}; only https is allowed (http only on a loopback host such as 127.0.0.1)"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcc_high_uses_the_us_government_login_and_api_hosts() {
        let e = CloudName::GccHigh.endpoints();
        assert_eq!(e.login.as_str(), "https://login.microsoftonline.us/");
        assert_eq!(
            e.mde.base_url.host_str(),
            Some("api-gov.securitycenter.microsoft.us")
        );
        assert_eq!(e.graph.default_scope(), "https://graph.microsoft.us/.default");
    }

    #[test]
    fn an_override_moves_the_host_but_never_the_token_audience() {
        let s = CloudSettings {
            mde_api_url: Some(Url::parse("http://127.0.0.1:8080").expect("url")),
            ..CloudSettings::default()
        };
        let e = s.endpoints().expect("loopback http is allowed");
        assert_eq!(e.mde.base_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(
            e.mde.default_scope(),
            "https://api.securitycenter.microsoft.com/.default"
        );
    }

    #[test]
    fn plain_http_to_a_remote_host_is_refused_naming_the_key() {
        let s = CloudSettings {
            graph_url: Some(Url::parse("http://graph.example.com").expect("url")),
            ..CloudSettings::default()
        };
        let err = s.endpoints().expect_err("http off loopback");
        assert!(err.to_string().starts_with("cloud.graph_url:"), "{err}");
    }
}
