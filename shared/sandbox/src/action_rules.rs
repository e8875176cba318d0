//! How machine actions behave: per-type / per-machine timing and end state, and the answer to a repeat while one of
//! the same type is pending (defender-api.md §4.4, §8).
//!
//! A rule is resolved when an action is **created** and its timing is stored on the action, so replacing the rules
//! later never rewrites an action's history.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::MachineActionSettings;

/// The MachineAction `type` values the sandbox creates (the response actions of defender-api.md §4).
pub const ACTION_TYPES: [&str; 8] = [
    "Isolate",
    "Unisolate",
    "RunAntiVirusScan",
    "RestrictCodeExecution",
    "UnrestrictCodeExecution",
    "CollectInvestigationPackage",
    "StopAndQuarantineFile",
    "Offboard",
];

/// Longest `pending_seconds` / `in_progress_seconds` accepted (ten years): keeps every derived time representable.
const MAX_SECONDS: u64 = 10 * 366 * 24 * 3600;

/// The final status an action reaches when nobody cancels it (MachineAction `status`, defender-api.md §4.4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ActionEnd {
    /// The action took effect.
    #[default]
    Succeeded,
    /// The device reported a failure; the action has no effect.
    Failed,
    /// The device never completed it; the action has no effect.
    TimeOut,
}

impl ActionEnd {
    /// The MachineAction `status` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::TimeOut => "TimeOut",
        }
    }
}

/// What a repeat of an action gets while one of the same type on the same machine is Pending or InProgress.
/// Microsoft documents both: it "returns the pending machine action or HTTP 400" `ActiveRequestAlreadyExists`
/// (defender-api.md §8; unisolate / unrestrict / collect-package pages).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RepeatWhilePending {
    /// 400 `ActiveRequestAlreadyExists` "Action is already in progress".
    #[default]
    Error,
    /// 201 with the pending MachineAction; no new action is created.
    Existing,
}

/// Timing and end state for the actions it matches. Absent filters match every type / machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MachineActionRule {
    /// MachineAction type (`Isolate`, `Unisolate`, `RunAntiVirusScan`, ...), exact case; any when absent.
    #[serde(default)]
    pub action_type: Option<String>,
    /// Machine id (case-insensitive); any when absent.
    #[serde(default)]
    pub machine_id: Option<String>,
    /// Seconds the action stays `Pending`.
    pub pending_seconds: u64,
    /// Seconds it then stays `InProgress` (0: straight from `Pending` to its end).
    pub in_progress_seconds: u64,
    /// Its final status.
    #[serde(default)]
    pub end: ActionEnd,
}

/// The timing of one action, fixed when it was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionTiming {
    /// Seconds `Pending`.
    pub pending_seconds: u64,
    /// Seconds `InProgress` after that.
    pub in_progress_seconds: u64,
    /// Final status.
    pub end: ActionEnd,
}

/// A runtime change of [`MachineActionSettings`] (`POST /_sandbox/machine_actions`,
/// `SandboxHandle::set_machine_action_behaviour`): every absent field keeps its value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MachineActionBehaviour {
    /// Replaces the rules (first match wins).
    pub rules: Option<Vec<MachineActionRule>>,
    /// Replaces the answer to a repeat while pending.
    pub repeat_while_pending: Option<RepeatWhilePending>,
    /// Replaces the default seconds `Pending`.
    pub pending_seconds: Option<u64>,
    /// Replaces the default seconds `InProgress`.
    pub in_progress_seconds: Option<u64>,
}

impl MachineActionSettings {
    /// The timing of a new action: the first matching rule's, else the defaults ending `Succeeded`.
    pub(crate) fn resolve(&self, action_type: &str, machine_id: &str) -> ActionTiming {
        self.rules
            .iter()
            .find(|r| {
                r.action_type.as_deref().is_none_or(|t| t == action_type)
                    && r.machine_id
                        .as_deref()
                        .is_none_or(|m| m.eq_ignore_ascii_case(machine_id))
            })
            .map_or(
                ActionTiming {
                    pending_seconds: self.pending_seconds,
                    in_progress_seconds: self.in_progress_seconds,
                    end: ActionEnd::Succeeded,
                },
                |r| ActionTiming {
                    pending_seconds: r.pending_seconds,
                    in_progress_seconds: r.in_progress_seconds,
                    end: r.end,
                },
            )
    }

    /// Checks rule types against [`ACTION_TYPES`] and durations against a ten-year ceiling.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let durations = std::iter::once((self.pending_seconds, self.in_progress_seconds)).chain(
            self.rules
                .iter()
                .map(|r| (r.pending_seconds, r.in_progress_seconds)),
        );
        for (pending, in_progress) in durations {
            if pending.max(in_progress) > MAX_SECONDS {
                return Err(format!(
                    "machine action durations must be at most {MAX_SECONDS} seconds"
                ));
            }
        }
        if let Some(t) = self
            .rules
            .iter()
            .filter_map(|r| r.action_type.as_deref())
            .find(|t| !ACTION_TYPES.contains(t))
        {
            return Err(format!(
                "unknown machine action type '{t}' in a rule; expected one of {}",
                ACTION_TYPES.join(", ")
            ));
        }
        Ok(())
    }

    /// These settings with `change` applied, validated.
    pub(crate) fn with(&self, change: MachineActionBehaviour) -> Result<Self, String> {
        let next = Self {
            pending_seconds: change.pending_seconds.unwrap_or(self.pending_seconds),
            in_progress_seconds: change.in_progress_seconds.unwrap_or(self.in_progress_seconds),
            rules: change.rules.unwrap_or_else(|| self.rules.clone()),
            repeat_while_pending: change.repeat_while_pending.unwrap_or(self.repeat_while_pending),
        };
        next.validate()?;
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(action_type: Option<&str>, machine_id: Option<&str>, end: ActionEnd) -> MachineActionRule {
        MachineActionRule {
            action_type: action_type.map(str::to_owned),
            machine_id: machine_id.map(str::to_owned),
            pending_seconds: 1,
            in_progress_seconds: 2,
            end,
        }
    }

    #[test]
    fn the_first_matching_rule_wins_and_no_match_takes_the_defaults() {
        let settings = MachineActionSettings {
            rules: vec![
                rule(Some("Isolate"), Some("ABC"), ActionEnd::TimeOut),
                rule(Some("Isolate"), None, ActionEnd::Failed),
            ],
            ..MachineActionSettings::default()
        };
        assert_eq!(settings.resolve("Isolate", "abc").end, ActionEnd::TimeOut);
        assert_eq!(settings.resolve("Isolate", "other").end, ActionEnd::Failed);
        let default = settings.resolve("Unisolate", "abc");
        assert_eq!(
            (default.pending_seconds, default.in_progress_seconds, default.end),
            (60, 300, ActionEnd::Succeeded)
        );
    }

    #[test]
    fn unknown_types_and_huge_durations_are_refused() {
        let mut settings = MachineActionSettings {
            rules: vec![rule(Some("isolate"), None, ActionEnd::Failed)],
            ..MachineActionSettings::default()
        };
        assert!(settings.validate().is_err());
        settings.rules = vec![rule(None, None, ActionEnd::Failed)];
        assert!(settings.validate().is_ok());
        settings.pending_seconds = u64::MAX;
        assert!(settings.validate().is_err());
    }
}
