//! Keeping secrets out of what arw writes down: log headers, generated
//! manifests.
//!
//! A variable is secret when its name contains `TOKEN`, `KEY`, `SECRET` or
//! `PASSWORD` (any case) and does not name a file or path (`*_FILE`,
//! `*_PATH`, `*_DIR`: `HF_TOKEN_PATH` is where a token lives, not the
//! token). Its value is shown as `***` wherever it appears. Command-line
//! flags named the same way (`--api-key VALUE`, `--hf-token=VALUE`) have
//! their value hidden too, whatever it is.

/// What replaces a secret.
pub const MASK: &str = "***";

/// Values shorter than this are not searched for: masking every `1` of a
/// header because `USE_KEY=1` would hide everything and protect nothing. A
/// secret-named env entry is hidden whatever its length.
const MIN_SECRET_LEN: usize = 4;

/// Whether a variable or flag name looks like it holds a secret.
/// Short flags whose value is a secret though the name does not say so
/// (llama-server's `-hft` is `--hf-token`).
const SECRET_SHORT_FLAGS: &[&str] = &["-hft"];

/// A command-line flag whose value is a secret: `--api-key`, `--hf-token`, `-hft`.
fn secret_flag(arg: &str) -> bool {
    (arg.starts_with("--") && is_secret_name(arg)) || SECRET_SHORT_FLAGS.contains(&arg)
}

pub fn is_secret_name(name: &str) -> bool {
    let upper = name.trim_start_matches('-').to_ascii_uppercase().replace('-', "_");
    let secret = ["TOKEN", "KEY", "SECRET", "PASSWORD"].iter().any(|w| upper.contains(w));
    let names_a_place = ["_FILE", "_PATH", "_DIR"].iter().any(|s| upper.ends_with(s));
    secret && !names_a_place
}

/// The secret values known for one piece of work, and how to hide them.
#[derive(Debug, Default, Clone)]
pub struct Redactor {
    /// Longest first, so a secret containing another is hidden whole.
    secrets: Vec<String>,
}

impl Redactor {
    /// Collects the values of the secret-named variables among `vars`.
    pub fn from_vars<'a>(vars: impl IntoIterator<Item = (&'a String, &'a String)>) -> Redactor {
        let mut r = Redactor::default();
        for (name, value) in vars {
            if is_secret_name(name) {
                r.add(value);
            }
        }
        r
    }

    /// Hides `value` from now on.
    pub fn add(&mut self, value: &str) {
        if value.len() >= MIN_SECRET_LEN && !self.secrets.iter().any(|s| s == value) {
            self.secrets.push(value.to_string());
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// Learns the values of secret-named flags (`--api-key X`,
    /// `--hf-token=X`) in a command line, to hide them wherever they show up.
    pub fn learn_flags(&mut self, args: &[String]) {
        let mut next_is_secret = false;
        for arg in args {
            if next_is_secret {
                self.add(arg);
                next_is_secret = false;
                continue;
            }
            match arg.split_once('=') {
                Some((flag, value)) if secret_flag(flag) => self.add(value),
                _ => next_is_secret = secret_flag(arg),
            }
        }
    }

    /// `text` with every known secret value replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            out = out.replace(secret.as_str(), MASK);
        }
        out
    }

    /// A command line for display: known secrets hidden, and the value of
    /// every secret-named flag (`--api-key X`, `--api-key=X`) hidden too.
    pub fn command_line(&self, command: &str, args: &[String]) -> String {
        let mut shown = vec![self.redact(command)];
        let mut hide_next = false;
        for arg in args {
            if hide_next {
                shown.push(MASK.to_string());
                hide_next = false;
                continue;
            }
            match arg.split_once('=') {
                Some((flag, _)) if secret_flag(flag) => {
                    shown.push(format!("{flag}={MASK}"));
                }
                _ => {
                    hide_next = secret_flag(arg);
                    shown.push(self.redact(arg));
                }
            }
        }
        shown.join(" ")
    }

    /// `NAME=value` pairs for display, secret-named values hidden.
    pub fn env_line<'a>(&self, env: impl IntoIterator<Item = (&'a String, &'a String)>) -> String {
        env.into_iter()
            .map(|(k, v)| if is_secret_name(k) { format!("{k}={MASK}") } else { format!("{k}={}", self.redact(v)) })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A TOML document (a generated manifest) with the values of the
/// secret-named variables in `vars` hidden wherever they appear, including
/// the document's own secret-named `env` entries.
pub fn manifest<'a>(text: &str, vars: impl IntoIterator<Item = (&'a String, &'a String)>) -> String {
    let mut r = Redactor::from_vars(vars);
    if let Ok(doc) = text.parse::<toml::Table>() {
        let runtimes = doc.get("runtime").and_then(|v| v.as_array()).cloned().unwrap_or_default();
        for rt in runtimes {
            let args: Vec<String> = rt
                .get("args")
                .and_then(|a| a.as_array())
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            r.learn_flags(&args);
            let env = rt.get("env").and_then(|e| e.as_table()).cloned().unwrap_or_default();
            for (k, v) in env {
                if let (true, Some(v)) = (is_secret_name(&k), v.as_str()) {
                    r.add(v);
                }
            }
        }
    }
    r.redact(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// The four words in any case make a name secret; a file or path name does not.
    #[test]
    fn secret_names() {
        for name in
            ["HF_TOKEN", "my_token", "OPENAI_API_KEY", "Db_Password", "CLIENT_SECRET", "--api-key", "--hf-token"]
        {
            assert!(is_secret_name(name), "{name}");
        }
        for name in ["PATH", "HF_TOKEN_PATH", "LLAMA_MODEL_PATH", "SSL_KEY_FILE", "--ssl-key-file", "HOME", "MODE"] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    /// Expanded secret values are hidden wherever they appear in a command
    /// line; secret-named flags hide their values; other values stay.
    #[test]
    fn command_line_hides_values() {
        let env = vars(&[("MY_TOKEN", "tok-123456"), ("LLAMA_MODEL_PATH", "/m/x.gguf"), ("USE_KEY", "1")]);
        let r = Redactor::from_vars(&env);
        let args: Vec<String> = [
            "--model",
            "/m/x.gguf",
            "--header",
            "Bearer tok-123456",
            "--api-key",
            "plain",
            "--hf-token=abcde",
            "-hft",
            "hf_short",
            "-t",
            "1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let line = r.command_line("/bin/server", &args);
        assert_eq!(
            line,
            "/bin/server --model /m/x.gguf --header Bearer *** --api-key *** --hf-token=*** -hft *** -t 1"
        );
        let mut learned = Redactor::default();
        learned.learn_flags(&args);
        assert_eq!(learned.redact("hf_short plain abcde"), "*** *** ***");
        assert!(!line.contains("tok-123456"));
        assert_eq!(r.env_line(&vars(&[("A", "1"), ("HF_TOKEN", "x")])), "A=1 HF_TOKEN=***");
    }

    /// A generated manifest loses its secret values, from the request's
    /// variables and from its own `env` table.
    #[test]
    fn manifest_is_redacted() {
        let text = "[[runtime]]\nid = \"x\"\nargs = [\"--key\", \"sk-live-999\"]\n[runtime.env]\nHF_TOKEN = \"hf_abcdef\"\nMODE = \"real\"\n";
        let out = manifest(text, &vars(&[("OPENAI_API_KEY", "sk-live-999")]));
        assert!(!out.contains("sk-live-999") && !out.contains("hf_abcdef"), "{out}");
        assert!(out.contains("MODE = \"real\"") && out.contains("HF_TOKEN = \"***\""), "{out}");
    }
}
