//! The checklist printed when arw may not (or cannot) download: how to get
//! a token, the exact command, the mirrors, and where `LLAMA_MODEL_PATH`
//! should point. It says whether a token was found, never what it is.

use super::sources::ModelSource;
use super::WeightsEnv;
use crate::protocol::Checklist;

/// Why the checklist is shown.
pub enum Reason {
    /// No `LLAMA_ALLOW_DOWNLOADS=1` / `--allow-downloads`.
    NoOptIn,
    /// `HF_HUB_OFFLINE` is set.
    Offline,
    /// The hub refused without (or with a bad) token.
    Token,
}

pub fn build(env: &WeightsEnv, models: &[ModelSource], selector: Option<&str>, reason: Reason) -> Checklist {
    let first = models.first();
    let reason_text = match reason {
        Reason::NoOptIn => {
            "downloads are off: nothing was downloaded (opt in with `--allow-downloads` or `LLAMA_ALLOW_DOWNLOADS=1`)"
                .to_string()
        }
        Reason::Offline => "`HF_HUB_OFFLINE` is set: arw does not use the network".to_string(),
        Reason::Token => "the hub asked for a token this request did not have (or refused the one it had)".to_string(),
    };
    let token_found = env.token.is_some();
    let tokens_url = if env.endpoint == super::DEFAULT_ENDPOINT {
        "https://huggingface.co/settings/tokens".to_string()
    } else {
        format!("{}/settings/tokens", env.endpoint)
    };
    let mut command = String::from("arw runtime weights fetch");
    if let Some(sel) = selector {
        command.push(' ');
        command.push_str(&shell_word(sel));
    }
    command.push_str(" --allow-downloads");
    let model_path = first.map(|m| env.link_dir.join(m.file_name()).display().to_string()).unwrap_or_default();
    let mut steps = Vec::new();
    match (&reason, token_found) {
        (Reason::Token, true) => steps.push(format!(
            "the token from {} was not accepted: create a new read token at {tokens_url} (and accept the model's terms on its page if it is gated)",
            env.token_source.as_deref().unwrap_or("the environment")
        )),
        (_, true) => steps.push(format!(
            "a token is set ({}); public models need none, gated ones need it",
            env.token_source.as_deref().unwrap_or("the environment")
        )),
        (_, false) => {
            steps.push(format!(
                "get a read token at {tokens_url} (public models work without one; gated ones need it)"
            ));
            steps.push("export HF_TOKEN=hf_...   (or `huggingface-cli login`, which writes $HF_HOME/token)".into());
        }
    }
    if let Reason::Offline = reason {
        steps.push("unset HF_HUB_OFFLINE".into());
    }
    steps.push(format!("run: {command}   (or: LLAMA_ALLOW_DOWNLOADS=1 arw runtime weights)"));
    steps.push(format!("point llama-server at it: export LLAMA_MODEL_PATH={model_path}"));
    Checklist {
        reason: reason_text,
        token_found,
        steps,
        command,
        mirrors: models.iter().flat_map(|m| m.mirrors.iter().cloned()).collect(),
        model_path,
    }
}

/// Quotes `s` for a POSIX shell when it needs it.
fn shell_word(s: &str) -> String {
    if s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:@".contains(&b)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knobs::Knobs;
    use std::collections::BTreeMap;
    use std::path::Path;

    /// The checklist names the command, the mirrors and the path, and says a
    /// token exists without showing it.
    #[test]
    fn checklist_never_shows_the_token() {
        let mut map = BTreeMap::new();
        map.insert("HF_TOKEN".to_string(), "hf_do_not_print".to_string());
        let env =
            WeightsEnv::resolve(&Knobs::new(map), Path::new("/"), Some("/models"), false, Path::new("/c")).unwrap();
        let roster = super::super::sources::embedded();
        let c = build(&env, &roster.models, None, Reason::NoOptIn);
        let text = format!("{c:?}");
        assert!(!text.contains("hf_do_not_print"), "{text}");
        assert!(c.token_found);
        assert_eq!(c.command, "arw runtime weights fetch --allow-downloads");
        assert_eq!(c.mirrors, roster.models[0].mirrors);
        assert!(c.model_path.starts_with("/models/"));
        assert!(c.steps.iter().any(|s| s.contains("HF_TOKEN")));
    }
}
