//! The model roster: which GGUF files `runtime weights` knows and where
//! their bytes may come from.
//!
//! Lookup order: `LLAMA_MODEL_SOURCES="repo::file,..."` picks the list (an
//! entry also present in the file keeps its checksum and mirrors); the file
//! is `$ARW_MODEL_SOURCES`, else `$XDG_CONFIG_HOME/arw/model_sources.json`,
//! else `~/.config/arw/model_sources.json`, else the embedded
//! `configs/runtime/model_sources.json`. Files are validated strictly: an
//! unknown key or a bad value is an error naming the key.

use crate::knobs::Knobs;
use serde::Deserialize;
use std::path::{Path, PathBuf};

const EMBEDDED: &str = include_str!("../../configs/runtime/model_sources.json");
const OVERRIDE: &str = "LLAMA_MODEL_SOURCES";

/// One model and where to get it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSource {
    /// `owner/name` on the hub.
    pub repo: String,
    /// Path of the file inside the repo.
    pub file: String,
    /// Branch, tag or commit; `main` unless set.
    pub revision: String,
    /// Lower-case hex; `None` means "trust the hub's LFS sha256".
    pub sha256: Option<String>,
    pub size: Option<u64>,
    /// Plain URLs serving the same bytes, tried after the hub.
    pub mirrors: Vec<String>,
}

impl ModelSource {
    /// `repo::file`, the spelling `LLAMA_MODEL_SOURCES` and `fetch MODEL` use.
    pub fn id(&self) -> String {
        format!("{}::{}", self.repo, self.file)
    }

    /// The file's name without directories: the name of its link.
    pub fn file_name(&self) -> &str {
        self.file.rsplit('/').next().unwrap_or(&self.file)
    }

    fn ad_hoc(repo: &str, file: &str) -> ModelSource {
        ModelSource {
            repo: repo.to_string(),
            file: file.to_string(),
            revision: "main".into(),
            sha256: None,
            size: None,
            mirrors: vec![],
        }
    }
}

/// The models in force for one request, and where the list came from.
#[derive(Debug, Clone)]
pub struct Roster {
    pub origin: String,
    pub models: Vec<ModelSource>,
}

/// A roster that could not be loaded; the message names the key at fault.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct SourcesError {
    pub origin: String,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    #[allow(dead_code)]
    comment: Option<String>,
    models: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    repo: String,
    file: String,
    #[serde(default)]
    revision: Option<String>,
    #[serde(default)]
    sha256: Option<String>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    mirrors: Vec<String>,
}

/// The built-in roster.
pub fn embedded() -> Roster {
    Roster {
        origin: "embedded default".into(),
        models: parse(EMBEDDED, "embedded model_sources.json").expect("embedded roster is valid"),
    }
}

/// Parses and validates a `model_sources.json` document.
pub fn parse(text: &str, origin: &str) -> Result<Vec<ModelSource>, SourcesError> {
    let err = |message: String| SourcesError { origin: origin.to_string(), message };
    // serde_json ends its messages with " at line L column C"; lead with it.
    let located = |e: serde_json::Error, key: Option<String>| {
        let text = e.to_string();
        let message = text.rsplit_once(" at line ").map(|(m, _)| m.to_string()).unwrap_or(text);
        let at = key.filter(|k| k != ".").map(|k| format!(" (key `{k}`)")).unwrap_or_default();
        err(format!(
            "line {} column {}: {message}{at}; keys per model are `repo`, `file`, `revision`, `sha256`, `size`, `mirrors`",
            e.line(),
            e.column()
        ))
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let doc: FileDoc = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let key = e.path().to_string();
        located(e.into_inner(), Some(key))
    })?;
    de.end().map_err(|e| located(e, None))?;
    if doc.models.is_empty() {
        return Err(err("`models` is empty; list at least one `{\"repo\": ..., \"file\": ...}`".into()));
    }
    let mut out: Vec<ModelSource> = Vec::with_capacity(doc.models.len());
    for (i, entry) in doc.models.into_iter().enumerate() {
        let key = |k: &str| format!("models[{i}].{k}");
        let model = validate(entry, &key).map_err(err)?;
        if out.iter().any(|m| m.repo == model.repo && m.file == model.file) {
            return Err(err(format!("`{}`: `{}` is listed twice; keep one entry", key("file"), model.id())));
        }
        out.push(model);
    }
    Ok(out)
}

fn validate(entry: Entry, key: &dyn Fn(&str) -> String) -> Result<ModelSource, String> {
    check_repo(&entry.repo).map_err(|m| format!("`{}`: {m}", key("repo")))?;
    check_file(&entry.file).map_err(|m| format!("`{}`: {m}", key("file")))?;
    let revision = match entry.revision {
        None => "main".to_string(),
        // It names `refs/<revision>` in the cache, so it must stay inside.
        Some(r) if !super::cache::is_relative_inside(&r) || r.contains("..") || r.chars().any(char::is_whitespace) => {
            return Err(format!("`{}`: `{}` is not a branch, tag or commit", key("revision"), super::hub::shown(&r)))
        }
        Some(r) if super::cache::is_commit(&r) => r.to_ascii_lowercase(),
        Some(r) => r,
    };
    let sha256 = match entry.sha256.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) if is_sha256(s) => Some(s.to_ascii_lowercase()),
        Some(s) => {
            return Err(format!(
                "`{}`: `{s}` is not 64 hex digits; leave it empty to trust the hub's LFS sha256",
                key("sha256")
            ))
        }
    };
    if entry.size == Some(0) {
        return Err(format!("`{}`: must be the file's size in bytes, not 0", key("size")));
    }
    for (j, url) in entry.mirrors.iter().enumerate() {
        check_mirror(url).map_err(|m| format!("`{}[{j}]`: {m}", key("mirrors")))?;
    }
    Ok(ModelSource { repo: entry.repo, file: entry.file, revision, sha256, size: entry.size, mirrors: entry.mirrors })
}

pub fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn check_repo(repo: &str) -> Result<(), String> {
    let ok_part = |p: &str| {
        !p.is_empty()
            && p.len() <= 96
            && !p.starts_with(['.', '-'])
            && !p.contains("..")
            && !p.contains("--")
            && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    match repo.split_once('/') {
        Some((owner, name)) if ok_part(owner) && ok_part(name) => Ok(()),
        _ => Err(format!("`{}` is not a hub repo id like `owner/name`", super::hub::shown(repo))),
    }
}

fn check_file(file: &str) -> Result<(), String> {
    if super::cache::is_relative_inside(file) {
        Ok(())
    } else {
        Err(format!("`{}` is not a relative path inside the repo", super::hub::shown(file)))
    }
}

/// Mirrors are plain HTTPS URLs; plain HTTP only on loopback (local mirrors, tests).
fn check_mirror(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        other => Err(format!("`{url}` uses `{other}`; mirrors must be https:// URLs (http:// only on loopback)")),
    }
}

/// The roster for a request with these knobs.
pub fn load(knobs: &Knobs, cwd: &Path) -> Result<Roster, SourcesError> {
    let mut roster = match sources_file(knobs, cwd)? {
        Some(path) => {
            let origin = path.display().to_string();
            // Regular file, size-capped, never blocking: a FIFO or `/dev/zero`
            // named by `ARW_MODEL_SOURCES` is an error, not a stuck daemon.
            let text = crate::registry::read_config_file(&path, crate::registry::CONFIG_CAP_BYTES).map_err(|e| {
                SourcesError {
                    origin: origin.clone(),
                    message: format!("cannot read the model roster: {e}; fix or unset `ARW_MODEL_SOURCES`"),
                }
            })?;
            Roster { models: parse(&text, &origin)?, origin }
        }
        None => embedded(),
    };
    if let Some(list) = knobs.non_empty(OVERRIDE) {
        let pairs = parse_override(&list)?;
        roster.models = pairs
            .into_iter()
            .map(|(repo, file)| {
                roster
                    .models
                    .iter()
                    .find(|m| m.repo == repo && m.file == file)
                    .cloned()
                    .unwrap_or_else(|| ModelSource::ad_hoc(&repo, &file))
            })
            .collect();
        roster.origin = OVERRIDE.into();
    }
    Ok(roster)
}

/// `$ARW_MODEL_SOURCES` (must exist), else the first user file that exists.
fn sources_file(knobs: &Knobs, cwd: &Path) -> Result<Option<PathBuf>, SourcesError> {
    if let Some(p) = knobs.non_empty("ARW_MODEL_SOURCES") {
        let path = cwd.join(p);
        // Anything that exists goes to the bounded reader, which says what
        // it is when it is not a regular file.
        if !path.exists() {
            return Err(SourcesError {
                origin: path.display().to_string(),
                message: "`ARW_MODEL_SOURCES` names a file that does not exist; fix or unset it".into(),
            });
        }
        return Ok(Some(path));
    }
    let xdg = knobs.non_empty("XDG_CONFIG_HOME").map(PathBuf::from).filter(|p| p.is_absolute());
    let home = Some(crate::paths::home_dir().join(".config"));
    Ok([xdg, home].into_iter().flatten().map(|d| d.join("arw/model_sources.json")).find(|p| p.is_file()))
}

/// `repo::file,repo2::file2` → pairs, validated like file entries.
pub fn parse_override(list: &str) -> Result<Vec<(String, String)>, SourcesError> {
    let err = |message: String| SourcesError { origin: OVERRIDE.into(), message };
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (repo, file) = split_id(item).map_err(err)?;
        out.push((repo, file));
    }
    if out.is_empty() {
        return Err(err("no `repo::file` entries; unset it or write e.g. `owner/name::model.gguf`".into()));
    }
    Ok(out)
}

/// `repo::file` → its parts, validated.
pub fn split_id(item: &str) -> Result<(String, String), String> {
    let Some((repo, file)) = item.split_once("::") else {
        return Err(format!("`{item}` is not `repo::file`"));
    };
    check_repo(repo).map_err(|m| format!("`{item}`: {m}"))?;
    check_file(file).map_err(|m| format!("`{item}`: {m}"))?;
    Ok((repo.to_string(), file.to_string()))
}

impl Roster {
    /// The models `sel` names: `repo::file` (listed or not), a file name, or
    /// a repo. `Err` lists what is known.
    pub fn select(&self, sel: &str) -> Result<Vec<ModelSource>, String> {
        if sel.contains("::") {
            let (repo, file) = split_id(sel)?;
            return Ok(vec![self
                .models
                .iter()
                .find(|m| m.repo == repo && m.file == file)
                .cloned()
                .unwrap_or_else(|| ModelSource::ad_hoc(&repo, &file))]);
        }
        let found: Vec<ModelSource> = self
            .models
            .iter()
            .filter(|m| {
                m.file == sel
                    || m.file_name() == sel
                    || m.repo.eq_ignore_ascii_case(sel)
                    || format!("{}/{}", m.repo, m.file) == sel
            })
            .cloned()
            .collect();
        if found.is_empty() {
            let known: Vec<String> = self.models.iter().map(ModelSource::id).collect();
            return Err(format!(
                "no model `{sel}` in the roster ({}); known: {}; pass `repo::file` for any other",
                self.origin,
                known.join(", ")
            ));
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded roster parses and names a TinyLlama Q4_K_M GGUF.
    #[test]
    fn embedded_roster_is_tinyllama() {
        let r = embedded();
        assert_eq!(r.models.len(), 1);
        let m = &r.models[0];
        assert!(m.file.to_lowercase().contains("tinyllama") && m.file.contains("Q4_K_M"));
        assert!(m.mirrors.iter().all(|u| u.starts_with("https://")));
    }

    /// An unknown key is an error with its line and the list of valid keys.
    #[test]
    fn unknown_key_is_named() {
        let text = "{\"models\": [\n {\"repo\": \"a/b\", \"file\": \"x.gguf\", \"checksum\": \"00\"}\n]}";
        let e = parse(text, "f.json").unwrap_err().to_string();
        assert!(e.starts_with("f.json: line 2 column"), "{e}");
        assert!(e.contains("unknown field `checksum`"), "{e}");
    }

    /// #11.19: a value of the wrong type names its key path, not only where it is.
    #[test]
    fn type_error_names_the_key_path() {
        let text = r#"{"models": [{"repo": "a/b", "file": "x.gguf", "mirrors": ["https://m/x", 7]}]}"#;
        let e = parse(text, "f.json").unwrap_err().to_string();
        assert!(e.contains("line 1 column") && e.contains("(key `models[0].mirrors[1]`)"), "{e}");
        let e = parse(r#"{"models": [{"repo": "a/b", "file": "x", "size": "big"}]}"#, "f").unwrap_err().to_string();
        assert!(e.contains("`models[0].size`"), "{e}");
        let e = parse(r#"{"models": []} x"#, "f").unwrap_err().to_string();
        assert!(e.contains("trailing characters") && !e.contains("(key"), "{e}");
    }

    /// Bad values name the key path.
    #[test]
    fn bad_values_name_the_key() {
        let cases = [
            (r#"{"repo":"nope","file":"x.gguf"}"#, "models[0].repo"),
            (r#"{"repo":"a/b","file":"../x.gguf"}"#, "models[0].file"),
            (r#"{"repo":"a/b","file":"/etc/x.gguf"}"#, "models[0].file"),
            (r#"{"repo":"a/b","file":"x\u0000.gguf"}"#, "models[0].file"),
            (r#"{"repo":"../b","file":"x.gguf"}"#, "models[0].repo"),
            (r#"{"repo":"a/b","file":"x","revision":"/tmp/x"}"#, "models[0].revision"),
            (r#"{"repo":"a/b","file":"x","revision":"a//b"}"#, "models[0].revision"),
            (r#"{"repo":"a/b","file":"x","sha256":"abc"}"#, "models[0].sha256"),
            (r#"{"repo":"a/b","file":"x","size":0}"#, "models[0].size"),
            (r#"{"repo":"a/b","file":"x","mirrors":["ftp://m/x"]}"#, "models[0].mirrors[0]"),
            (r#"{"repo":"a/b","file":"x","mirrors":["http://example.com/x"]}"#, "models[0].mirrors[0]"),
        ];
        for (entry, key) in cases {
            let text = format!("{{\"models\": [{entry}]}}");
            let e = parse(&text, "f").unwrap_err().to_string();
            assert!(e.contains(&format!("`{key}`")), "{entry}: {e}");
        }
        let e = parse(r#"{"models": []}"#, "f").unwrap_err().to_string();
        assert!(e.contains("`models` is empty"), "{e}");
    }

    /// `LLAMA_MODEL_SOURCES` replaces the list but keeps checksums of known entries.
    #[test]
    fn override_keeps_known_entries() {
        let mut env = std::collections::BTreeMap::new();
        let known = embedded().models[0].clone();
        env.insert(OVERRIDE.to_string(), format!("other/repo::m.gguf, {}", known.id()));
        let r = load(&Knobs::new(env), Path::new("/")).unwrap();
        assert_eq!(r.origin, OVERRIDE);
        assert_eq!(r.models[0].id(), "other/repo::m.gguf");
        assert_eq!(r.models[0].revision, "main");
        assert_eq!(r.models[1], known);
        let e = parse_override("just-a-file.gguf").unwrap_err().to_string();
        assert!(e.contains("LLAMA_MODEL_SOURCES") && e.contains("repo::file"), "{e}");
    }

    /// Selection by file name, repo, or an unlisted `repo::file`.
    #[test]
    fn select_by_name_repo_or_id() {
        let r = embedded();
        let m = &r.models[0];
        assert_eq!(r.select(&m.file).unwrap()[0], *m);
        assert_eq!(r.select(&m.repo).unwrap()[0], *m);
        assert_eq!(r.select("x/y::z.gguf").unwrap()[0].repo, "x/y");
        let e = r.select("nothing.gguf").unwrap_err();
        assert!(e.contains("known:") && e.contains(&m.id()), "{e}");
    }
}
