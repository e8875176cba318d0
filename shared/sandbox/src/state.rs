//! The state every handler shares.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::adversarial::Adversary;
use crate::clock::SimClock;
use crate::config::{AdversarialSettings, MachineActionSettings, SandboxConfig};
use crate::error::SandboxError;
use crate::faults::FaultInjector;
use crate::hunting_limits::HuntingGuard;
use crate::keys::{ClientCertificate, SigningKeys};
use crate::rate_limit::RateLimiter;
use crate::request_log::RequestLog;
use crate::store::World;

/// Shared state of a running sandbox.
pub struct Shared {
    /// The configuration in force.
    pub config: SandboxConfig,
    /// Token signing key.
    pub keys: SigningKeys,
    /// Registered client certificates, by lower-case client id.
    pub certificates: HashMap<String, Vec<ClientCertificate>>,
    /// Simulated clock.
    pub clock: SimClock,
    /// Data.
    pub world: Mutex<World>,
    /// Request log.
    pub log: RequestLog,
    /// Rate limiter.
    pub limiter: RateLimiter,
    /// Fault injector.
    pub faults: FaultInjector,
    /// Adversarial settings in force.
    pub adversary: Adversary,
    /// Per-item import failures injected by tests.
    pub import_failures: crate::api_indicators::ImportFailures,
    /// Machine action timing, rules and repeats in force (`POST /_sandbox/machine_actions`).
    pub machine_actions: Mutex<MachineActionSettings>,
    /// Advanced hunting limits in force and exhausted CPU quotas (`POST /_sandbox/hunting`).
    pub hunting: HuntingGuard,
}

/// Handle passed to handlers.
pub type AppState = Arc<Shared>;

impl Shared {
    /// Builds the state: keys, certificates, seeded world.
    pub fn new(config: SandboxConfig) -> Result<Self, SandboxError> {
        for (i, t) in config.tenants.iter().enumerate() {
            uuid::Uuid::parse_str(&t.id)
                .map_err(|_| SandboxError::Config(format!("tenant id '{}' is not a GUID", t.id)))?;
            if config.tenants[..i]
                .iter()
                .any(|o| o.id.eq_ignore_ascii_case(&t.id))
            {
                return Err(SandboxError::Config(format!(
                    "tenant id '{}' is listed twice",
                    t.id
                )));
            }
        }
        for rule in &config.faults {
            if let crate::faults::FaultKind::Status { status } = rule.fault
                && !(400..=599).contains(&status)
            {
                return Err(SandboxError::Config(format!(
                    "fault status {status} is not a 4xx or 5xx status"
                )));
            }
        }
        let mut certificates = HashMap::new();
        for app in &config.apps {
            uuid::Uuid::parse_str(&app.client_id)
                .map_err(|_| SandboxError::Config(format!("client id '{}' is not a GUID", app.client_id)))?;
            let certs = app
                .certificates_pem
                .iter()
                .map(|pem| ClientCertificate::from_pem(pem))
                .collect::<Result<Vec<_>, _>>()?;
            certificates.insert(app.client_id.to_lowercase(), certs);
        }
        config.adversarial.validate().map_err(SandboxError::Config)?;
        config.machine_actions.validate().map_err(SandboxError::Config)?;
        let hunting = HuntingGuard::default();
        hunting
            .replace(config.hunting.clone())
            .map_err(SandboxError::Config)?;
        let clock = SimClock::default();
        clock.set_skew(skew(&config.adversarial));
        let world = World::seed(&config, clock.now());
        let faults = FaultInjector::new(config.faults.clone(), config.data.seed);
        let adversary = Adversary::new(config.adversarial.clone(), config.data.seed);
        Ok(Self {
            keys: SigningKeys::demo()?,
            certificates,
            clock,
            world: Mutex::new(world),
            log: RequestLog::default(),
            limiter: RateLimiter::default(),
            faults,
            adversary,
            import_failures: Default::default(),
            machine_actions: Mutex::new(config.machine_actions.clone()),
            hunting,
            config,
        })
    }

    /// Replaces the adversarial settings: the clock skew changes at once and the list calls counted for
    /// `mutate` start again from zero.
    pub fn set_adversarial(&self, settings: AdversarialSettings) -> Result<(), String> {
        settings.validate()?;
        self.clock.set_skew(skew(&settings));
        self.adversary.replace(settings);
        for data in self.world().tenants_mut() {
            data.exposure.reset_calls();
        }
        Ok(())
    }

    /// The configuration in force, with the adversarial, machine action and hunting settings as they are now.
    pub fn config_in_force(&self) -> SandboxConfig {
        SandboxConfig {
            adversarial: self.adversary.settings(),
            machine_actions: self.machine_action_settings(),
            hunting: self.hunting.settings(),
            ..self.config.clone()
        }
    }

    /// The machine action settings in force.
    pub fn machine_action_settings(&self) -> MachineActionSettings {
        self.machine_actions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Applies a runtime change to the machine action settings; answers the settings now in force.
    pub fn change_machine_actions(
        &self,
        change: crate::action_rules::MachineActionBehaviour,
    ) -> Result<MachineActionSettings, String> {
        let mut settings = self
            .machine_actions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *settings = settings.with(change)?;
        Ok(settings.clone())
    }

    /// Locks the world (a poisoned lock is still usable: every mutation is a complete assignment).
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The clock skew of some settings.
fn skew(settings: &AdversarialSettings) -> time::Duration {
    time::Duration::seconds(settings.clock_skew_seconds)
}
