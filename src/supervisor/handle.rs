//! The supervisor's mailbox: the messages it takes and the cloneable
//! handle the daemon uses to send them.

use super::health::Probe;
use crate::knobs::Knobs;
use crate::protocol::status::{BudgetView, ExitRecord, State, SupervisorView};
use crate::protocol::{ErrorBody, ErrorKind, ReloadReport, RestoreRequest};
use crate::registry::{Registry, RuntimeSpec};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};

/// Messages to the supervisor actor.
pub enum Msg {
    Snapshot(oneshot::Sender<SupervisorView>),
    Restore {
        req: RestoreRequest,
        knobs: Knobs,
        reply: oneshot::Sender<Result<RestoreTicket, ErrorBody>>,
    },
    Reload {
        registry: Registry,
        reply: oneshot::Sender<ReloadReport>,
    },
    /// Adds a runtime that is not in the manifest (smoke runs) and starts it.
    Register {
        spec: Box<RuntimeSpec>,
        knobs: Knobs,
        log_path: PathBuf,
        reply: oneshot::Sender<Result<(), ErrorBody>>,
    },
    /// Stops and removes a registered runtime; replies once its process is gone.
    Unregister {
        id: String,
        reply: oneshot::Sender<()>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
    Exited {
        id: String,
        generation: u64,
        status: std::io::Result<std::process::ExitStatus>,
    },
    Health {
        id: String,
        generation: u64,
        probe: Probe,
    },
    StartupDeadline {
        id: String,
        generation: u64,
    },
    RestartDue {
        id: String,
        generation: u64,
    },
    WindowReset {
        id: String,
    },
    KillDeadline {
        id: String,
        generation: u64,
    },
    /// The running process's log was copy-truncated.
    LogRotated {
        id: String,
        generation: u64,
    },
    /// An operator start (`arw runtime start`): not a restart.
    Start {
        id: String,
        knobs: Knobs,
        reply: oneshot::Sender<Result<StartTicket, ErrorBody>>,
    },
    /// An operator stop: the whole group goes, the runtime stays offline.
    Stop {
        id: String,
        reply: oneshot::Sender<Result<StopTicket, ErrorBody>>,
    },
    /// `arw runtime reload ID`: apply only `only`'s entry of `registry`.
    ReloadOne {
        registry: Registry,
        only: String,
        reply: oneshot::Sender<Result<ReloadReport, ErrorBody>>,
    },
}

/// What the supervisor decided about a start request.
#[derive(Debug, Clone)]
pub struct StartTicket {
    /// The generation to wait for.
    pub generation: u64,
    /// Running or on its way up already: nothing new was started.
    pub already_running: bool,
    pub state: State,
    pub pid: Option<u32>,
    pub budget: BudgetView,
}

/// What the supervisor did about a stop request.
#[derive(Debug)]
pub struct StopTicket {
    /// The state before the stop.
    pub was: State,
    /// The process being stopped and the exit it will record.
    pub stopping: Option<(u32, oneshot::Receiver<ExitRecord>)>,
    pub auto_start: bool,
    pub budget: BudgetView,
    pub reason: Option<String>,
}

/// What the supervisor decided about a restore request.
#[derive(Debug, Clone)]
pub struct RestoreTicket {
    /// The generation the restored process will have.
    pub generation: u64,
    pub budget: BudgetView,
    pub state: State,
}

/// Cloneable handle to the actor.
#[derive(Clone)]
pub struct Handle {
    pub(super) tx: mpsc::UnboundedSender<Msg>,
    pub(super) view: watch::Receiver<Arc<SupervisorView>>,
}

impl Handle {
    /// The view as of now (uptimes and budget windows computed fresh).
    pub async fn snapshot(&self) -> Result<SupervisorView, ErrorBody> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Msg::Snapshot(reply)).map_err(|_| gone())?;
        rx.await.map_err(|_| gone())
    }
    pub async fn restore(&self, req: RestoreRequest, knobs: Knobs) -> Result<RestoreTicket, ErrorBody> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Msg::Restore { req, knobs, reply }).map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
    pub async fn reload(&self, registry: Registry) -> Option<ReloadReport> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Msg::Reload { registry, reply }).ok()?;
        rx.await.ok()
    }
    pub async fn register(&self, spec: RuntimeSpec, knobs: Knobs, log_path: PathBuf) -> Result<(), ErrorBody> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Msg::Register { spec: Box::new(spec), knobs, log_path, reply }).map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
    pub async fn unregister(&self, id: &str) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Msg::Unregister { id: id.to_string(), reply }).is_ok() {
            let _ = rx.await;
        }
    }
    pub async fn shutdown(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Msg::Shutdown { reply }).is_ok() {
            let _ = rx.await;
        }
    }
    pub async fn start(&self, id: &str, knobs: Knobs) -> Result<StartTicket, ErrorBody> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Msg::Start { id: id.to_string(), knobs, reply }).map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
    pub async fn stop(&self, id: &str) -> Result<StopTicket, ErrorBody> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Msg::Stop { id: id.to_string(), reply }).map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
    pub async fn reload_one(&self, registry: Registry, only: &str) -> Result<ReloadReport, ErrorBody> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Msg::ReloadOne { registry, only: only.to_string(), reply }).map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
    /// Changes to the published view.
    pub fn subscribe(&self) -> watch::Receiver<Arc<SupervisorView>> {
        self.view.clone()
    }
}

fn gone() -> ErrorBody {
    ErrorBody::new(ErrorKind::Internal, "the supervisor is shutting down")
}
