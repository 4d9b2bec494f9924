//! `arw chat --runtime ID "prompt"`.

use super::Ctx;
use crate::cli::ChatArgs;
use crate::error::Exit;
use crate::protocol::{ChatRequest, Event, Request, Response};
use anyhow::{bail, Result};
use serde_json::json;
use std::io::Write;

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
    let print_deltas = args.stream && !args.json;
    let request = Request::Chat(ChatRequest { runtime: args.runtime.clone(), body });
    let response = client.request_with_events(request, |event| {
        if let (Event::ChatDelta(piece), true) = (event, print_deltas) {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(piece.as_bytes());
            let _ = out.flush();
        }
    })?;
    let Response::Chat(reply) = response else { bail!("the daemon answered `chat` with something else") };
    if args.json {
        crate::render::print_json(&reply.body)?;
    } else if print_deltas {
        println!();
    } else if let Some(text) = reply.text() {
        println!("{text}");
    }
    if reply.status != 200 {
        let message = reply.body["error"]["message"].as_str().map(str::to_string).unwrap_or(reply.body.to_string());
        bail!("runtime `{}` answered HTTP {}: {message}", args.runtime, reply.status);
    }
    Ok(Exit::Ok)
}
