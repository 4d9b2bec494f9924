//! `arw events [--follow] [--topics …] [--after ID] [--json]`.

use super::Ctx;
use crate::cli::EventsArgs;
use crate::error::Exit;
use crate::protocol::events::{topic, Envelope, TopicFilter};
use crate::protocol::{Event, EventsRequest, Request};
use crate::render::out;
use crate::text as sanitize;
use anyhow::Result;
use serde_json::Value;

pub fn run(ctx: &Ctx, args: EventsArgs) -> Result<Exit> {
    // A bad pattern is this command's mistake: say so before connecting.
    TopicFilter::parse(&args.topics)
        .map_err(|message| crate::error::ArwError::Usage { message, hint: "see `arw events --help`".into() })?;
    let mut client = ctx.connect()?;
    let pid = client.welcome.pid;
    let req = EventsRequest { after: args.after, topics: args.topics.clone(), follow: args.follow };
    let result = client.stream(Request::Events(req), |event| {
        if let Event::Bus(envelope) = event {
            if args.json {
                out::println(&serde_json::to_string(&envelope)?)?;
            } else {
                out::println(&line(&envelope))?;
            }
        }
        Ok(true)
    });
    result.map(|()| Exit::Ok).map_err(|e| if args.follow { ctx.went_away(e, pid) } else { e })
}

/// `2026-12-01T23:11:16.607Z  1796166676604001  runtime.health  llama: starting → ready`
fn line(e: &Envelope) -> String {
    let data: Value = serde_json::from_str(e.data.get()).unwrap_or(Value::Null);
    let s = |v: &Value| sanitize::line(v.as_str().unwrap_or("?")).into_owned();
    let summary = match e.topic.as_str() {
        topic::RUNTIME_UPDATED => data["matrix"]["items"]
            .as_object()
            .map(|items| {
                items
                    .iter()
                    .map(|(node, item)| {
                        format!(
                            "node {} · {} · {}",
                            sanitize::line(node),
                            s(&item["status"]["severity_label"]),
                            s(&item["status"]["label"])
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default(),
        topic::RUNTIME_HEALTH => {
            let reason = data["reason"].as_str().map(|r| format!(" ({})", sanitize::line(r))).unwrap_or_default();
            match data["previous"].as_str() {
                Some(prev) => {
                    format!("{}: {} → {}{reason}", s(&data["runtime"]), sanitize::line(prev), s(&data["state"]))
                }
                None => format!("{}: {}{reason}", s(&data["runtime"]), s(&data["state"])),
            }
        }
        topic::RUNTIME_EXIT => format!("{}: {}", s(&data["runtime"]), s(&data["detail"])),
        topic::RUNTIME_RESTART => format!(
            "{}: {} restart, generation {}, {}/{} left in the window",
            s(&data["runtime"]),
            s(&data["kind"]),
            data["generation"],
            data["restart_budget"]["remaining"],
            data["restart_budget"]["max_restarts"]
        ),
        topic::EVENTS_RESET => s(&data["reason"]),
        _ => sanitize::line(&sanitize::clip(&data.to_string(), 160)).to_string(),
    };
    format!("{}  {}  {}  {summary}", sanitize::line(&e.time), e.id, sanitize::line(&e.topic))
}
