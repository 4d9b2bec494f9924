//! Downloads owned by the daemon, not by the client that asked.
//!
//! A fetch runs as a spawned task registered here under a key (cache,
//! repo, revision, file). The request handler only watches it: a client
//! that detaches leaves the download running, and a second fetch of the
//! same file attaches to the running task instead of starting another.
//! While any task runs, the daemon does not exit for idleness. On shutdown
//! the tasks are aborted; their `.incomplete` files resume next time.

use crate::protocol::{ModelReport, WeightsProgress};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Publishes a task's progress; cheap to clone.
#[derive(Clone)]
pub struct Reporter {
    tx: Arc<watch::Sender<WeightsProgress>>,
}

impl Reporter {
    /// A reporter for `repo::file` and the receiver that watches it.
    pub fn new(repo: &str, file: &str) -> (Reporter, watch::Receiver<WeightsProgress>) {
        let (tx, rx) = watch::channel(WeightsProgress {
            repo: repo.into(),
            file: file.into(),
            phase: "resolving".into(),
            ..Default::default()
        });
        (Reporter { tx: Arc::new(tx) }, rx)
    }

    pub fn subscribe(&self) -> watch::Receiver<WeightsProgress> {
        self.tx.subscribe()
    }

    pub fn phase(&self, phase: &str, message: Option<String>) {
        self.tx.send_modify(|p| {
            p.phase = phase.into();
            p.message = message;
        });
    }

    /// Announces the source about to be asked, and the attempt number.
    pub fn source(&self, label: &str, attempt: u32) {
        self.tx.send_modify(|p| {
            p.phase = "downloading".into();
            p.source = Some(label.into());
            p.attempt = attempt;
            p.message = None;
        });
    }

    pub fn retrying(&self, attempt: u32, message: String) {
        self.tx.send_modify(|p| {
            p.phase = "retrying".into();
            p.attempt = attempt;
            p.message = Some(message);
        });
    }

    pub fn bytes(&self, done: u64, total: u64) {
        self.tx.send_modify(|p| {
            p.done_bytes = done;
            p.total_bytes = Some(total);
        });
    }
}

/// One running download.
pub struct Job {
    pub progress: watch::Receiver<WeightsProgress>,
    /// `Some` once finished; the sender is dropped without a value if the
    /// task was aborted.
    pub result: watch::Receiver<Option<ModelReport>>,
}

type Table = Arc<Mutex<HashMap<String, (Arc<Job>, tokio::task::AbortHandle)>>>;

/// The daemon's running downloads, and the HTTP client they share.
pub struct Jobs {
    table: Table,
    active: Arc<watch::Sender<usize>>,
    http: std::sync::OnceLock<Arc<super::hub::Http>>,
}

impl Default for Jobs {
    fn default() -> Self {
        Jobs { table: Arc::default(), active: Arc::new(watch::channel(0).0), http: std::sync::OnceLock::new() }
    }
}

/// Removes a finished (or aborted) task from the table.
struct Registration {
    table: Table,
    active: Arc<watch::Sender<usize>>,
    key: String,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.table.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.key);
        self.active.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Jobs {
    /// The shared HTTP client (built on first use: loading TLS roots costs
    /// time a daemon that never downloads should not pay).
    pub fn http(&self) -> Arc<super::hub::Http> {
        self.http.get_or_init(|| Arc::new(super::hub::Http::new())).clone()
    }

    /// The running task for `key`, or a new one made by `start`. The bool
    /// is true when an existing task was joined.
    pub fn start_or_attach<F>(
        &self,
        key: String,
        reporter: Reporter,
        start: impl FnOnce(Reporter) -> F,
    ) -> (Arc<Job>, bool)
    where
        F: Future<Output = ModelReport> + Send + 'static,
    {
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((job, _)) = table.get(&key) {
            return (job.clone(), true);
        }
        let (result_tx, result_rx) = watch::channel(None);
        let job = Arc::new(Job { progress: reporter.subscribe(), result: result_rx });
        self.active.send_modify(|n| *n += 1);
        let registration = Registration { table: self.table.clone(), active: self.active.clone(), key: key.clone() };
        let task = start(reporter);
        let handle = tokio::spawn(async move {
            let _registration = registration;
            let report = task.await;
            let _ = result_tx.send(Some(report));
        });
        table.insert(key, (job.clone(), handle.abort_handle()));
        (job, false)
    }

    /// How many downloads are running; changes wake the idle timer.
    pub fn active(&self) -> watch::Receiver<usize> {
        self.active.subscribe()
    }

    /// Stops every download (daemon shutdown).
    pub fn abort_all(&self) {
        for (_, handle) in self.table.lock().unwrap_or_else(|p| p.into_inner()).values() {
            handle.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ModelStatus;

    /// A second start with the same key joins the first task; the table
    /// empties and the active count drops when it ends.
    #[tokio::test]
    async fn second_start_attaches() {
        let jobs = Jobs::default();
        let (gate_tx, gate_rx) = tokio::sync::oneshot::channel::<()>();
        let (r1, _) = Reporter::new("o/n", "f");
        let (job, attached) = jobs.start_or_attach("k".into(), r1, |_| async move {
            let _ = gate_rx.await;
            ModelReport { status: ModelStatus::Downloaded, ..Default::default() }
        });
        assert!(!attached);
        assert_eq!(*jobs.active().borrow(), 1);
        let (r2, _) = Reporter::new("o/n", "f");
        let (again, attached) = jobs.start_or_attach("k".into(), r2, |_| async { unreachable!("joined, not started") });
        assert!(attached && Arc::ptr_eq(&job, &again));
        gate_tx.send(()).unwrap();
        let mut result = job.result.clone();
        let report = result.wait_for(Option::is_some).await.unwrap().clone().unwrap();
        assert_eq!(report.status, ModelStatus::Downloaded);
        let mut active = jobs.active();
        active.wait_for(|n| *n == 0).await.unwrap();
    }
}
