//! Turns the supervisor's published views into bus events: a state change
//! is `runtime.health`, a new exit record `runtime.exit`, a new restart
//! `runtime.restart`, a registry change `models.changed`. The supervisor
//! publishes a view on every change at once (exits are noticed, not
//! polled), so these reach `/events` readers as they happen.

use super::Ctx;
use crate::protocol::events::{topic, HealthChange, RuntimeExit, RuntimeRestart};
use crate::protocol::status::{RuntimeView, SupervisorView};
use std::collections::HashMap;
use std::sync::Arc;

/// What was last seen of one runtime.
struct Seen {
    state: crate::protocol::status::State,
    exit_at: Option<String>,
    automatic: u64,
    manual: u64,
}

impl Seen {
    fn of(rt: &RuntimeView) -> Seen {
        Seen {
            state: rt.state,
            exit_at: rt.last_exit.as_ref().map(|e| e.at.clone()),
            automatic: rt.restarts_total.automatic,
            manual: rt.restarts_total.manual,
        }
    }
}

pub async fn publish_changes(ctx: Arc<Ctx>) {
    let mut views = ctx.supervisor.subscribe();
    let mut seen: HashMap<String, Seen> = HashMap::new();
    let first = views.borrow_and_update().clone();
    diff(&ctx, &mut seen, &first, true);
    while views.changed().await.is_ok() {
        let view = views.borrow_and_update().clone();
        diff(&ctx, &mut seen, &view, false);
    }
}

fn diff(ctx: &Ctx, seen: &mut HashMap<String, Seen>, view: &SupervisorView, first: bool) {
    let mut registry_changed = false;
    for rt in &view.runtimes {
        let now = Seen::of(rt);
        let Some(before) = seen.get(&rt.id) else {
            registry_changed |= !first;
            if !first {
                health(ctx, rt, None);
            }
            seen.insert(rt.id.clone(), now);
            continue;
        };
        if now.exit_at.is_some() && now.exit_at != before.exit_at {
            if let Some(exit) = &rt.last_exit {
                ctx.bus.publish(topic::RUNTIME_EXIT, &RuntimeExit { runtime: rt.id.clone(), exit: exit.clone() });
            }
        }
        for (kind, was, is) in [("automatic", before.automatic, now.automatic), ("manual", before.manual, now.manual)] {
            if is > was {
                let restart = RuntimeRestart {
                    runtime: rt.id.clone(),
                    kind: kind.to_string(),
                    generation: rt.generation,
                    restart_budget: rt.restart_budget.clone(),
                };
                ctx.bus.publish(topic::RUNTIME_RESTART, &restart);
            }
        }
        if now.state != before.state {
            health(ctx, rt, Some(before.state));
        }
        seen.insert(rt.id.clone(), now);
    }
    let before = seen.len();
    seen.retain(|id, _| view.runtime(id).is_some());
    registry_changed |= seen.len() != before;
    if registry_changed {
        let ids: Vec<&str> = view.runtimes.iter().map(|r| r.id.as_str()).collect();
        ctx.bus.publish(topic::MODELS_CHANGED, &serde_json::json!({"why": "registry", "runtimes": ids}));
    }
}

fn health(ctx: &Ctx, rt: &RuntimeView, previous: Option<crate::protocol::status::State>) {
    let change = HealthChange { runtime: rt.id.clone(), state: rt.state, previous, reason: rt.reason.clone() };
    ctx.bus.publish(topic::RUNTIME_HEALTH, &change);
}
