//! Restart budget: how many restarts a runtime may have per window, and the
//! backoff before the next one. Pure: every function takes `now`.

use crate::protocol::status::BudgetView;
use crate::registry::RestartPolicy;
use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartKind {
    Automatic,
    Manual,
}

/// Restarts inside a sliding window of `window_secs`.
#[derive(Debug, Clone)]
pub struct Budget {
    policy: RestartPolicy,
    restarts: VecDeque<(SystemTime, RestartKind)>,
}

impl Budget {
    pub fn new(policy: RestartPolicy) -> Budget {
        Budget { policy, restarts: VecDeque::new() }
    }

    /// A reload may change the policy; history within the window is kept.
    pub fn set_policy(&mut self, policy: RestartPolicy) {
        self.policy = policy;
    }

    fn window(&self) -> Duration {
        Duration::from_secs(self.policy.window_secs)
    }

    fn in_window(&self, now: SystemTime) -> impl Iterator<Item = &(SystemTime, RestartKind)> {
        let window = self.window();
        self.restarts.iter().filter(move |(at, _)| now.duration_since(*at).map(|age| age < window).unwrap_or(true))
    }

    pub fn record(&mut self, now: SystemTime, kind: RestartKind) {
        let window = self.window();
        while let Some((at, _)) = self.restarts.front() {
            if now.duration_since(*at).map(|age| age >= window).unwrap_or(false) {
                self.restarts.pop_front();
            } else {
                break;
            }
        }
        self.restarts.push_back((now, kind));
    }

    /// Takes back the restarts a previous daemon journaled (oldest first),
    /// so a daemon restart neither refills the budget nor moves `reset_at`.
    pub fn restore(&mut self, restarts: impl IntoIterator<Item = (SystemTime, RestartKind)>) {
        for (at, kind) in restarts {
            self.record(at, kind);
        }
    }

    /// Automatic restarts in the window: what the budget limits. Operator
    /// restores are recorded and shown, but never spend it.
    pub fn used(&self, now: SystemTime) -> u32 {
        self.in_window(now).filter(|(_, k)| *k == RestartKind::Automatic).count() as u32
    }

    pub fn remaining(&self, now: SystemTime) -> u32 {
        self.policy.max_restarts.saturating_sub(self.used(now))
    }

    /// Spent: every allowed restart used. A budget of zero means "never
    /// restart automatically", not "exhausted": restores stay allowed.
    pub fn exhausted(&self, now: SystemTime) -> bool {
        self.policy.max_restarts > 0 && self.remaining(now) == 0
    }

    /// Whether the supervisor may restart a crashed runtime by itself now.
    pub fn allows_automatic(&self, now: SystemTime) -> bool {
        self.remaining(now) > 0
    }

    /// When the oldest automatic restart still in the window drops out of it.
    pub fn reset_at(&self, now: SystemTime) -> Option<SystemTime> {
        self.in_window(now).find(|(_, k)| *k == RestartKind::Automatic).map(|(at, _)| *at + self.window())
    }

    /// Wait before the next automatic restart: `backoff_initial_ms` doubled
    /// for every automatic restart already in the window, capped.
    pub fn backoff(&self, now: SystemTime) -> Duration {
        let prior = self.in_window(now).filter(|(_, k)| *k == RestartKind::Automatic).count() as u32;
        let initial = self.policy.backoff_initial_ms;
        let ms = initial.saturating_mul(1u64.checked_shl(prior.min(32)).unwrap_or(u64::MAX));
        Duration::from_millis(ms.min(self.policy.backoff_max_ms.max(initial)))
    }

    pub fn view(&self, now: SystemTime) -> BudgetView {
        let (mut automatic, mut manual) = (0, 0);
        for (_, kind) in self.in_window(now) {
            match kind {
                RestartKind::Automatic => automatic += 1,
                RestartKind::Manual => manual += 1,
            }
        }
        BudgetView {
            max_restarts: self.policy.max_restarts,
            window_secs: self.policy.window_secs,
            used: automatic,
            remaining: self.remaining(now),
            reset_at: self.reset_at(now).map(crate::time::rfc3339),
            automatic,
            manual,
            exhausted: self.exhausted(now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max: u32, window: u64) -> RestartPolicy {
        RestartPolicy { max_restarts: max, window_secs: window, backoff_initial_ms: 1000, backoff_max_ms: 5000 }
    }

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    /// Three automatic restarts spend a budget of three; the window frees
    /// them again; a restore in between is counted but spends nothing.
    #[test]
    fn budget_spends_and_resets_with_the_window() {
        let mut b = Budget::new(policy(3, 600));
        assert_eq!(b.remaining(t(0)), 3);
        b.record(t(0), RestartKind::Automatic);
        b.record(t(5), RestartKind::Manual);
        b.record(t(10), RestartKind::Automatic);
        assert!(!b.exhausted(t(15)), "an operator restore does not spend the budget");
        b.record(t(20), RestartKind::Automatic);
        assert!(b.exhausted(t(30)));
        assert_eq!(b.reset_at(t(30)), Some(t(600)));
        assert_eq!(b.remaining(t(599)), 0);
        assert_eq!(b.remaining(t(600)), 1);
        assert_eq!(b.remaining(t(621)), 3);
        let v = b.view(t(30));
        assert_eq!((v.used, v.automatic, v.manual, v.exhausted), (3, 3, 1, true));
    }

    /// Backoff doubles per automatic restart in the window and is capped.
    #[test]
    fn backoff_doubles_and_caps() {
        let mut b = Budget::new(policy(10, 600));
        let ms = |b: &Budget| b.backoff(t(100)).as_millis();
        assert_eq!(ms(&b), 1000);
        b.record(t(1), RestartKind::Automatic);
        assert_eq!(ms(&b), 2000);
        b.record(t(2), RestartKind::Automatic);
        assert_eq!(ms(&b), 4000);
        b.record(t(3), RestartKind::Automatic);
        assert_eq!(ms(&b), 5000);
        b.record(t(4), RestartKind::Manual);
        assert_eq!(ms(&b), 5000, "manual restores do not grow the backoff");
    }

    /// Restarts taken back from the journal spend the budget and keep the
    /// reset time they had.
    #[test]
    fn restored_restarts_keep_the_window() {
        let mut b = Budget::new(policy(2, 600));
        b.restore([(t(10), RestartKind::Automatic), (t(11), RestartKind::Manual), (t(20), RestartKind::Automatic)]);
        assert!(b.exhausted(t(30)));
        assert_eq!(b.reset_at(t(30)), Some(t(610)));
        assert_eq!(b.view(t(30)).manual, 1);
        assert!(b.allows_automatic(t(610)));
    }

    /// A budget of zero never restarts by itself but is not "exhausted".
    #[test]
    fn zero_budget_disables_automatic_restarts() {
        let b = Budget::new(policy(0, 60));
        assert!(!b.allows_automatic(t(0)));
        assert!(!b.exhausted(t(0)));
        assert_eq!(b.reset_at(t(0)), None);
    }
}
