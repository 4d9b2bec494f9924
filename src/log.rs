//! The daemon's log: timestamped lines on its stderr (`logs/daemon.log`),
//! and a limiter so a condition that repeats in a loop (accept failing
//! while out of file descriptors) writes one line and a count, not gigabytes.

use std::time::{Duration, Instant};

/// Appends a timestamped line to the daemon log (the daemon's stderr).
#[macro_export]
macro_rules! dlog {
    ($($arg:tt)*) => {
        eprintln!("{} {}", $crate::time::now_rfc3339(), format_args!($($arg)*))
    };
}

/// Lets one line through per `every`; counts what it held back.
pub struct RateLimited {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimited {
    pub const fn new(every: Duration) -> RateLimited {
        RateLimited { every, last: None, suppressed: 0 }
    }

    /// `Some(n)` when a line may be written now, `n` being how many were
    /// suppressed since the last one.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.duration_since(last) < self.every => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flood becomes one line per interval, with the count of the rest.
    #[test]
    fn rate_limit_counts_what_it_holds_back() {
        let mut limit = RateLimited::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(limit.allow(t0), Some(0));
        for i in 1..=1000 {
            assert_eq!(limit.allow(t0 + Duration::from_millis(i)), None);
        }
        assert_eq!(limit.allow(t0 + Duration::from_secs(11)), Some(1000));
    }
}
