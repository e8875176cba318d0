//! The triage vocabulary of `alert_update.v1` / `incident_update.v1`: one snake_case spelling per value, mapped to
//! each API's casing (MDE and Microsoft 365 Defender PascalCase, Graph camelCase). Only values Microsoft documents
//! as accepted today (`shared/defender-api.md` 4.2, 5.1, 6.1, 8); retired ones are refused with the reason.

/// Alert statuses (MDE `New, InProgress, Resolved`; Graph `new, inProgress, resolved`).
pub const ALERT_STATUSES: [&str; 3] = ["new", "in_progress", "resolved"];
/// Incident statuses (Microsoft 365 Defender `Active, InProgress, Resolved, Redirected`; Graph's update accepts
/// `active, resolved, redirected` only).
pub const INCIDENT_STATUSES: [&str; 4] = ["active", "in_progress", "resolved", "redirected"];
/// Classifications.
pub const CLASSIFICATIONS: [&str; 3] = [
    "true_positive",
    "informational_expected_activity",
    "false_positive",
];
/// Determinations (true positive: the first seven; informational: security_testing, line_of_business_application,
/// confirmed_user_activity, other; false positive: clean, insufficient_data, other).
pub const DETERMINATIONS: [&str; 12] = [
    "multi_staged_attack",
    "malicious_user_activity",
    "compromised_user",
    "malware",
    "phishing",
    "unwanted_software",
    "other",
    "security_testing",
    "line_of_business_application",
    "confirmed_user_activity",
    "clean",
    "insufficient_data",
];
/// Determinations Microsoft no longer accepts (August 2022).
pub const RETIRED_DETERMINATIONS: [&str; 2] = ["apt", "security_personnel"];

/// Why `value` is not one of `allowed`, or `None` when it is.
pub fn check(value: &str, allowed: &[&str]) -> Option<String> {
    if allowed.contains(&value) {
        return None;
    }
    if RETIRED_DETERMINATIONS.contains(&value) {
        return Some(format!(
            "{value} was retired by Microsoft in August 2022 and is refused; one of: {}",
            allowed.join(", ")
        ));
    }
    Some(format!("one of: {}", allowed.join(", ")))
}

/// `in_progress` → `InProgress` (MDE, Microsoft 365 Defender).
pub fn pascal(value: &str) -> String {
    value
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// `in_progress` → `inProgress` (Graph).
pub fn camel(value: &str) -> String {
    let p = pascal(value);
    let mut c = p.chars();
    c.next()
        .map(|f| f.to_ascii_lowercase().to_string() + c.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_map_to_each_apis_casing() {
        assert_eq!(
            pascal("informational_expected_activity"),
            "InformationalExpectedActivity"
        );
        assert_eq!(
            camel("informational_expected_activity"),
            "informationalExpectedActivity"
        );
        assert_eq!(pascal("in_progress"), "InProgress");
        assert_eq!(camel("multi_staged_attack"), "multiStagedAttack");
        assert_eq!(camel("new"), "new");
    }

    #[test]
    fn retired_values_are_refused_with_the_reason() {
        assert!(check("malware", &DETERMINATIONS).is_none());
        let why = check("apt", &DETERMINATIONS).expect("refused");
        assert!(why.contains("retired"), "{why}");
        assert!(check("Malware", &DETERMINATIONS).is_some(), "one spelling only");
    }
}
