//! The event bus's wire shape (SPEC §8): every event is
//! `{"id", "topic", "time", "data"}`, the same object on `GET /events`,
//! in `arw events --json` and in a socket frame.

use serde::{Deserialize, Serialize};

/// Topics the daemon publishes. Lease and fleet topics carry a suffix
/// (`policy.lease.expired`, `fleet.node.expired`).
pub mod topic {
    pub const RUNTIME_UPDATED: &str = "runtime.updated";
    pub const RUNTIME_HEALTH: &str = "runtime.health";
    pub const RUNTIME_EXIT: &str = "runtime.exit";
    pub const RUNTIME_RESTART: &str = "runtime.restart";
    pub const SMOKE_STAGE: &str = "smoke.stage";
    pub const WEIGHTS_PROGRESS: &str = "weights.progress";
    pub const MODELS_CHANGED: &str = "models.changed";
    /// Sent instead of a replay when the resume point is no longer kept.
    pub const EVENTS_RESET: &str = "events.reset";
}

/// One published event, as every reader sees it. `data` stays raw: the
/// daemon serialises an event once, whoever reads it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    pub id: u64,
    pub topic: String,
    pub time: String,
    pub data: Box<serde_json::value::RawValue>,
}

/// `data` of `runtime.health`: one runtime's state changed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HealthChange {
    pub runtime: String,
    pub state: super::status::State,
    pub previous: Option<super::status::State>,
    pub reason: Option<String>,
}

/// `data` of `runtime.exit`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuntimeExit {
    pub runtime: String,
    #[serde(flatten)]
    pub exit: super::status::ExitRecord,
}

/// `data` of `runtime.restart`: a new generation was started.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuntimeRestart {
    pub runtime: String,
    /// `automatic` (the supervisor, within the budget) or `manual` (a restore).
    pub kind: String,
    pub generation: u64,
    pub restart_budget: super::status::BudgetView,
}

/// `data` of `events.reset`: what was lost and the state to start from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reset {
    pub reason: String,
    /// `{"supervisor", "matrix"}` as of the reset; absent only before the
    /// daemon's first matrix.
    pub snapshot: Option<std::sync::Arc<super::StatusReport>>,
}

/// Which topics a reader wants: `runtime.*,models.changed`. Empty: all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicFilter(Vec<String>);

/// More patterns than this in one filter is a mistake, not a use.
const MAX_PATTERNS: usize = 32;

impl TopicFilter {
    pub fn all() -> TopicFilter {
        TopicFilter(Vec::new())
    }

    /// Comma-separated patterns; a pattern is a topic, `prefix.*` or `*`.
    pub fn parse(spec: &str) -> Result<TopicFilter, String> {
        let mut patterns = Vec::new();
        for p in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let name = p.strip_suffix(".*").unwrap_or(p);
            let valid = p == "*"
                || (!name.is_empty()
                    && name.len() <= 64
                    && name.split('.').all(|part| {
                        !part.is_empty()
                            && part
                                .bytes()
                                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
                    }));
            if !valid {
                return Err(format!(
                    "`{}` is not a topic pattern; use names like `runtime.health`, `runtime.*` or `*`",
                    crate::text::quote(p, 40)
                ));
            }
            patterns.push(p.to_string());
        }
        if patterns.len() > MAX_PATTERNS {
            return Err(format!("{} topic patterns is more than the {MAX_PATTERNS} a filter may hold", patterns.len()));
        }
        if patterns.iter().any(|p| p == "*") {
            patterns.clear();
        }
        Ok(TopicFilter(patterns))
    }

    pub fn matches(&self, topic: &str) -> bool {
        self.0.is_empty()
            || self.0.iter().any(|p| match p.strip_suffix(".*") {
                Some(prefix) => topic.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('.')),
                None => p == topic,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_topics_and_prefixes() {
        let f = TopicFilter::parse("runtime.*, models.changed").unwrap();
        assert!(f.matches("runtime.health"));
        assert!(f.matches("runtime.updated"));
        assert!(f.matches("models.changed"));
        assert!(!f.matches("runtimes.x"));
        assert!(!f.matches("runtime"));
        assert!(!f.matches("smoke.stage"));
        assert!(TopicFilter::parse("").unwrap().matches("anything"));
        assert!(TopicFilter::parse("*,smoke.stage").unwrap().matches("fleet.node.expired"));
    }

    #[test]
    fn bad_patterns_are_refused_with_the_pattern_named() {
        for bad in ["runtime.", "Runtime.health", "a..b", "run time", "runtime.*.x", "x\u{7}"] {
            let e = TopicFilter::parse(bad).unwrap_err();
            assert!(e.contains("is not a topic pattern"), "{bad}: {e}");
        }
        let many = vec!["a"; 40].join(",");
        assert!(TopicFilter::parse(&many).unwrap_err().contains("more than"));
    }
}
