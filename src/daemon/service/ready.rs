//! Waiting on the supervisor's published view until a start (a restore, an
//! operator start) has brought its generation up, has failed, or time runs
//! out. Shared so every way of starting a runtime reports the same way.

use crate::protocol::status::{BudgetView, RestoreOutcome, State, SupervisorView};
use crate::protocol::{ErrorBody, ErrorKind};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How the wait ended, and the runtime as it was then.
pub struct Waited {
    pub outcome: RestoreOutcome,
    pub state: State,
    pub message: String,
    pub pid: Option<u32>,
    pub restart_budget: BudgetView,
    /// From `started` to ready.
    pub ready_ms: Option<u64>,
}

/// Waits until runtime `id` reaches `generation` and is ready, or is in
/// `error` there, or `wait` passes. `failed` names the failure ("failed to
/// come back"). `views` must be subscribed before the start was asked
/// for, so no change is missed.
pub async fn until_ready(
    views: &mut watch::Receiver<Arc<SupervisorView>>,
    id: &str,
    generation: u64,
    wait: Duration,
    started: Instant,
    failed: &str,
) -> Result<Waited, ErrorBody> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let (state, current, reason, budget, exit, pid) = {
            let view = views.borrow_and_update();
            let rt = view
                .runtime(id)
                .ok_or_else(|| ErrorBody::new(ErrorKind::Internal, format!("`{id}` disappeared while starting")))?;
            (rt.state, rt.generation, rt.reason.clone(), rt.restart_budget.clone(), rt.last_exit.clone(), rt.pid)
        };
        let ours = current >= generation;
        let done = match state {
            State::Ready if ours => Some((RestoreOutcome::Ready, format!("`{id}` is ready"))),
            State::Error if ours => {
                // Name what happened to the process, not only the state it left.
                let mut why = reason.clone().unwrap_or_else(|| "error".into());
                if let Some(exit) = &exit {
                    // The reason often starts with the exit already.
                    if !why.starts_with(&exit.detail) {
                        why = format!("{}; {why}", exit.detail);
                    }
                    if let Some(line) = &exit.error_line {
                        why.push_str(&format!("; it said: {line}"));
                    }
                }
                Some((RestoreOutcome::Failed, format!("`{id}` {failed}: {why}")))
            }
            // Someone ran `arw runtime stop` meanwhile: nothing is coming.
            State::Offline if reason.as_deref() == Some(crate::supervisor::OPERATOR_STOPPED) => {
                Some((RestoreOutcome::Failed, format!("`{id}` was stopped by the operator meanwhile")))
            }
            _ => None,
        };
        if let Some((outcome, message)) = done {
            let ready_ms = (outcome == RestoreOutcome::Ready).then(|| started.elapsed().as_millis() as u64);
            return Ok(Waited { outcome, state, message, pid, restart_budget: budget, ready_ms });
        }
        match tokio::time::timeout_at(deadline, views.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                return Err(ErrorBody::new(
                    ErrorKind::Internal,
                    format!("the supervisor stopped while `{id}` was starting"),
                ))
            }
            Err(_) => {
                return Ok(Waited {
                    outcome: RestoreOutcome::Timeout,
                    state,
                    message: format!(
                        "`{id}` was not ready within {} ms (state {}{})",
                        wait.as_millis(),
                        state.as_str(),
                        reason.map(|r| format!(": {r}")).unwrap_or_default()
                    ),
                    pid,
                    restart_budget: budget,
                    ready_ms: None,
                })
            }
        }
    }
}
