//! `arw chat --runtime ID "prompt"`.

use super::Ctx;
use crate::cli::ChatArgs;
use crate::error::{ArwError, Exit};
use crate::protocol::{ChatRequest, ErrorKind, Event, Request, Response};
use crate::render::out;
use crate::text as sanitize;
use anyhow::{bail, Result};
use serde_json::json;

pub fn run(ctx: &Ctx, args: ChatArgs) -> Result<Exit> {
    let mut messages = Vec::new();
    if let Some(system) = &args.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.push(json!({"role": "user", "content": args.prompt}));
    let mut body = json!({"messages": messages, "stream": args.stream});
    if let Some(n) = args.max_tokens {
        body["max_tokens"] = json!(n);
    }
    let mut client = ctx.connect()?;
    let pid = client.welcome.pid;
    let print_deltas = args.stream && !args.json;
    let request = Request::Chat(ChatRequest { runtime: args.runtime.clone(), body });
    // The first failed write ends the printing; the reply still arrives and
    // the failure is reported after it.
    let mut write_failed = None;
    let response = client.request_with_events(request, |event| {
        if let (Event::ChatDelta(piece), true, None) = (event, print_deltas, &write_failed) {
            write_failed = out::print(&sanitize::text(&piece)).err();
        }
    });
    let response = response.map_err(|e| ctx.went_away(e, pid))?;
    if let Some(e) = write_failed {
        return Err(e.into());
    }
    let Response::Chat(reply) = response else { bail!("the daemon answered `chat` with something else") };
    if reply.status != 200 {
        let message = reply.body["error"]["message"].as_str().map(str::to_string).unwrap_or(reply.body.to_string());
        return Err(upstream(&args.runtime, format!("answered HTTP {}: {message}", reply.status)));
    }
    if args.json {
        crate::render::print_json(&reply.body)?;
    } else if print_deltas {
        out::println("")?;
    } else {
        let Some(text) = reply.text() else {
            return Err(upstream(
                &args.runtime,
                format!("answered without a message: {}", quote(&reply.body.to_string())),
            ));
        };
        out::println(&sanitize::text(text))?;
    }
    Ok(Exit::Ok)
}

fn upstream(runtime: &str, what: String) -> anyhow::Error {
    ArwError::Remote {
        kind: ErrorKind::Upstream,
        message: format!("runtime `{runtime}` {what}"),
        hint: Some(format!("see `arw daemon logs --runtime {runtime}`")),
    }
    .into()
}

/// The start of an unexpected body, enough to recognise it.
fn quote(body: &str) -> String {
    format!("`{}`", sanitize::clip(&sanitize::line(body.trim()), 120))
}
