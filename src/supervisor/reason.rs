//! Why a runtime is in its state, as the supervisor decides on it: a typed
//! value inside, the same one-line text on the wire (`RuntimeView.reason`).

use std::fmt;
use std::time::Duration;

/// The reason of a runtime held offline by `arw runtime stop`.
pub const OPERATOR_STOPPED: &str = "stopped by the operator; it stays offline until `arw runtime start`";

#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// `auto_start = false` and nobody restored it yet.
    NotAutoStarted,
    WaitingForProbe,
    LoadingModel,
    /// A restore is stopping the current process to start a new one.
    Restoring,
    Stopped,
    /// `arw runtime stop`: held offline until an operator starts it.
    OperatorStopped,
    /// Crashed with the automatic budget spent: waits for the window.
    BudgetExhausted,
    /// Crashed and `max_restarts = 0`.
    RestartsOff {
        exit: String,
    },
    /// Crashed; an automatic restart is scheduled.
    RestartScheduled {
        exit: String,
        used: u32,
        max: u32,
        delay: Duration,
    },
    StartupTimeout {
        ms: u64,
    },
    Unhealthy {
        why: String,
        failures: u32,
        threshold: u32,
    },
    /// The process could not be started; the text says why and what to do.
    StartFailed(String),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NotAutoStarted => f.write_str("not started (auto_start = false)"),
            Reason::WaitingForProbe => f.write_str("waiting for the health probe"),
            Reason::LoadingModel => f.write_str("loading model"),
            Reason::Restoring => f.write_str("restoring: stopping the current process"),
            Reason::Stopped => f.write_str("stopped"),
            Reason::OperatorStopped => f.write_str(OPERATOR_STOPPED),
            Reason::BudgetExhausted => f.write_str("restart budget exhausted"),
            Reason::RestartsOff { exit } => write!(f, "{exit}; automatic restarts are off (max_restarts = 0)"),
            Reason::RestartScheduled { exit, used, max, delay } => {
                write!(f, "{exit}; restart {used} of {max} in {:.1}s", delay.as_secs_f64())
            }
            Reason::StartupTimeout { ms } => write!(f, "not ready after {ms} ms; stopping it"),
            Reason::Unhealthy { why, failures, threshold } => {
                write!(f, "{why} ({failures} of {threshold} failed probes)")
            }
            Reason::StartFailed(why) => f.write_str(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wire text is what `status --json` has always said.
    #[test]
    fn wire_texts() {
        assert_eq!(Reason::BudgetExhausted.to_string(), "restart budget exhausted");
        assert_eq!(Reason::NotAutoStarted.to_string(), "not started (auto_start = false)");
        let scheduled = Reason::RestartScheduled {
            exit: "exited with code 3".into(),
            used: 1,
            max: 3,
            delay: Duration::from_millis(100),
        };
        assert_eq!(scheduled.to_string(), "exited with code 3; restart 1 of 3 in 0.1s");
        assert_eq!(Reason::StartupTimeout { ms: 1500 }.to_string(), "not ready after 1500 ms; stopping it");
    }
}
