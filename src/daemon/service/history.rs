//! `runtime history`: one runtime's journaled lifecycle, oldest first.

use crate::daemon::Ctx;
use crate::protocol::history::{HistoryReport, HistoryRequest};
use crate::protocol::{ErrorBody, ErrorKind};

pub async fn history(ctx: &Ctx, req: HistoryRequest) -> Result<HistoryReport, ErrorBody> {
    if !crate::registry::valid_id(&req.id) {
        let shown: String = req.id.chars().take(64).flat_map(char::escape_debug).collect();
        return Err(ErrorBody::new(ErrorKind::BadRequest, format!("`{shown}` is not a runtime id"))
            .with_hint("ids are lower-case letters, digits, `.`, `-`, `_`; see `arw runtime status`"));
    }
    let view = ctx.supervisor.subscribe().borrow().clone();
    let registered: Vec<String> = view.runtimes.iter().filter(|r| !r.ephemeral).map(|r| r.id.clone()).collect();
    let is_registered = registered.contains(&req.id);
    let found = ctx.journal.history(&req.id, req.limit).await.map_err(|e| ErrorBody::new(ErrorKind::Internal, e))?;
    if !is_registered && !found.known {
        let mut hint = if registered.is_empty() {
            "no runtimes are registered; add one to runtimes.toml".to_string()
        } else {
            format!("known ids: {}", registered.join(", "))
        };
        let removed: Vec<&String> = found.journaled.iter().filter(|id| !registered.contains(id)).collect();
        if !removed.is_empty() {
            let removed: Vec<&str> = removed.iter().map(|s| s.as_str()).collect();
            hint.push_str(&format!("; the journal also has removed runtimes: {}", removed.join(", ")));
        }
        return Err(
            ErrorBody::new(ErrorKind::UnknownRuntime, format!("no runtime with id `{}`", req.id)).with_hint(hint)
        );
    }
    let mut notes = Vec::new();
    if !is_registered {
        notes.push(format!("`{}` is no longer in the manifest; this is the history the journal kept of it", req.id));
    }
    if ctx.journal.place() == "memory" {
        notes.push("the journal is in memory (see `arw runtime status`): only this daemon's life is shown".into());
    }
    Ok(HistoryReport {
        id: req.id,
        registered: is_registered,
        journal: ctx.journal.place().to_string(),
        total: found.total,
        events: found.events,
        notes,
    })
}
