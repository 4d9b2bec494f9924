//! The manifest's rules: which sections and keys exist, what each accepts,
//! and what must hold across runtimes (unique ids, one runtime per port).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::checks::{check_placeholders, hosts_overlap, parse_endpoint, valid_host, valid_id};
use super::table::{Doc, Res, Table};
use super::tree::{line_col, Node, Value};
use super::{Accelerator, Adapter, DaemonSettings, HealthSpec, Modality, Registry, RestartPolicy, RuntimeSpec};

const RUNTIME_KEYS: &str = "id name adapter command args env cwd host port endpoint accelerator \
    modalities auto_start startup_timeout_ms health restart";

const ID_HINT: &str = "use a-z, 0-9, '.', '_', '-', starting with a letter or digit, ≤ 64 chars";
const PORT_HINT: &str = "use a port between 1 and 65535";
const ENDPOINT_HINT: &str = "write it as http://host:port with no path, e.g. http://127.0.0.1:8080";

impl Doc<'_> {
    pub(super) fn registry(&self, root: &Node) -> Res<Registry> {
        let top = Table::new(self, root, String::new(), "daemon runtime", "")?;
        let (mut idle_timeout_secs, mut matrix_ttl_secs) = (900, 60);
        let (mut http_listen, mut admin_token_file) = (None, None);
        if let Some(d) = top.table("daemon", "idle_timeout_secs matrix_ttl_secs http_listen admin_token_file")? {
            let idle_hint = "use whole seconds; 0 keeps the daemon alive forever";
            let idle = d.uint("idle_timeout_secs", .., idle_hint)?;
            let ttl = d.uint("matrix_ttl_secs", 1.., "use whole seconds, at least 1")?;
            idle_timeout_secs = idle.unwrap_or(idle_timeout_secs);
            matrix_ttl_secs = ttl.unwrap_or(matrix_ttl_secs);
            let listen_hint = "write it as ADDRESS:PORT, e.g. \"127.0.0.1:8091\"";
            http_listen = d.string("http_listen", listen_hint)?;
            if let Some(addr) = &http_listen {
                if let Err(why) = crate::daemon::http::listen::parse_addr(addr) {
                    return Err(d.fail("http_listen", why, listen_hint));
                }
            }
            admin_token_file = d
                .string(
                    "admin_token_file",
                    "a file holding the token, e.g. \"/etc/arw/admin-token\" (relative: beside this manifest)",
                )?
                .map(|p| PathBuf::from(self.beside_manifest(&p)));
        }
        let mut runtimes: Vec<RuntimeSpec> = Vec::new();
        let mut id_offsets = BTreeMap::new();
        let mut port_offsets = BTreeMap::new();
        let hint = "declare each runtime in its own [[runtime]] section (double brackets)";
        for (node, path) in top.array("runtime", hint)?.unwrap_or_default() {
            let f = Table::new(self, node, path, RUNTIME_KEYS, hint)?;
            let spec = self.runtime(&f)?;
            if let Some(&first) = id_offsets.get(&spec.id) {
                let line = line_col(self.text, first).0;
                let hint = format!("ids must be unique; `{}` is first defined at line {line}", spec.id);
                return Err(f.fail("id", "duplicate runtime id", hint));
            }
            id_offsets.insert(spec.id.clone(), f.span_of("id").start);
            if let Some(port) = spec.port {
                let key = if f.get("port").is_some() { "port" } else { "endpoint" };
                let taken = |r: &&RuntimeSpec| r.port == Some(port) && hosts_overlap(&r.host, &spec.host);
                if let Some(first) = runtimes.iter().find(taken) {
                    let line = line_col(self.text, port_offsets[&first.id]).0;
                    let (id, other) = (&spec.id, &first.id);
                    let message = format!("port {port} of `{id}` is already taken by `{other}` at line {line}");
                    let hint = "give each runtime its own port, or leave `port` out and pass \"{port}\" in args \
                        so arw picks a free one at each start";
                    return Err(f.fail(key, message, hint));
                }
                port_offsets.insert(spec.id.clone(), f.span_of(key).start);
            }
            runtimes.push(spec);
        }
        let daemon = DaemonSettings { idle_timeout_secs, matrix_ttl_secs, http_listen, admin_token_file };
        let origin = self.origin.to_owned();
        Ok(Registry { daemon, runtimes, origin })
    }

    fn runtime(&self, f: &Table) -> Res<RuntimeSpec> {
        let id = f.required("id", ID_HINT)?;
        if !valid_id(&id) {
            return Err(f.fail("id", format!("invalid id `{id}`"), ID_HINT));
        }
        let name = f.string("name", "a display name, e.g. \"llama.cpp server\"")?;
        let adapter_hint = "add adapter = \"llama.cpp\" (or stub, process, llava)";
        let missing_adapter = || f.fail("adapter", "missing required key `adapter`", adapter_hint);
        let adapter = f.keyword("adapter")?.ok_or_else(missing_adapter)?;
        let command = f.required("command", "name the program to run, e.g. \"llama-server\"")?;
        if let Err(problem) = check_placeholders(&command) {
            return Err(f.fail("command", problem, "write variables as ${NAME}"));
        }
        let args = self.args(f)?;
        let env = self.env(f)?;
        let cwd = f.string("cwd", "a directory, e.g. \"/srv/models\"")?.map(|c| self.beside_manifest(&c));
        // `./server` runs from `cwd` when there is one, as in a shell there;
        // without one it means next to the manifest.
        let command = match &cwd {
            _ if !command.contains('/') || Path::new(&command).is_absolute() || command.starts_with("${") => command,
            Some(dir) => Path::new(dir).join(&command).display().to_string(),
            None => self.beside_manifest(&command),
        };
        if let Some(dir) = cwd.as_deref().filter(|_| self.check_host) {
            self.check_cwd(f, Path::new(dir))?;
        }
        let (host, port) = self.address(f)?;
        let needs_port = matches!(adapter, Adapter::LlamaCpp | Adapter::Llava);
        if port.is_none() && needs_port && !args.iter().any(|a| a.contains("{port}")) {
            let message = "no port is set and args do not contain {port}";
            let hint = "set `port`, or pass \"{port}\" in args so the server listens where arw looks";
            return Err(f.fail("port", message, hint));
        }
        let startup_hint = "use whole milliseconds, at least 1 (large models load for minutes)";
        let startup_timeout_ms = f.uint("startup_timeout_ms", 1.., startup_hint)?;
        Ok(RuntimeSpec {
            name: name.unwrap_or_else(|| id.clone()),
            id,
            adapter,
            command,
            args,
            env,
            cwd: cwd.map(PathBuf::from),
            host,
            port,
            accelerator: f.keyword("accelerator")?.unwrap_or(Accelerator::Cpu),
            modalities: self.modalities(f)?,
            auto_start: f.boolean("auto_start")?.unwrap_or(true),
            startup_timeout_ms: startup_timeout_ms.unwrap_or(120_000),
            health: self.health(f)?,
            restart: self.restart(f)?,
        })
    }

    /// A relative path in a manifest file means one next to that file (the
    /// daemon itself runs in `/`, whichever shell started it).
    fn beside_manifest(&self, path: &str) -> String {
        match self.base {
            Some(base) if Path::new(path).is_relative() && !path.starts_with("${") => {
                base.join(path).display().to_string()
            }
            _ => path.to_string(),
        }
    }

    /// The supervisor does not expand `cwd`, so the path checked here is the
    /// one the child gets.
    fn check_cwd(&self, f: &Table, dir: &Path) -> Res<()> {
        let shown = dir.display();
        let problem = match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => return Ok(()),
            Ok(_) => format!("`cwd` `{shown}` is not a directory"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => format!("`cwd` `{shown}` does not exist"),
            Err(e) => format!("`cwd` `{shown}` cannot be checked: {e}"),
        };
        Err(f.fail("cwd", problem, "create the directory, or point `cwd` at an existing one"))
    }

    fn args(&self, f: &Table) -> Res<Vec<String>> {
        let hint = "a list of strings, e.g. [\"--port\", \"{port}\"]";
        let mut args = Vec::new();
        for (node, path) in f.array("args", hint)?.unwrap_or_default() {
            let Value::String(arg) = &node.value else {
                return Err(self.type_error(node, &path, "a string", hint));
            };
            if let Err(problem) = check_placeholders(arg) {
                return Err(self.err(&node.span, &path, problem, "write variables as ${NAME}"));
            }
            args.push(arg.clone());
        }
        Ok(args)
    }

    /// Not a [`Table`]: any variable name is allowed.
    fn env(&self, f: &Table) -> Res<BTreeMap<String, String>> {
        let mut env = BTreeMap::new();
        let Some(node) = f.get("env") else {
            return Ok(env);
        };
        let Value::Table(entries) = &node.value else {
            let hint = "write it as env = { NAME = \"value\" }";
            return Err(self.type_error(node, &f.key("env"), "a table", hint));
        };
        for (k, v) in entries {
            let path = f.key(&format!("env.{}", k.name));
            if k.name.is_empty() || k.name.contains(['=', '\0']) {
                let hint = "names must be non-empty, without '=' or NUL";
                return Err(self.err(&k.span, &path, "invalid variable name", hint));
            }
            let Value::String(val) = &v.value else {
                return Err(self.type_error(v, &path, "a string", "quote the value"));
            };
            if let Err(problem) = check_placeholders(val) {
                return Err(self.err(&v.span, &path, problem, "write variables as ${NAME}"));
            }
            env.insert(k.name.clone(), val.clone());
        }
        Ok(env)
    }

    /// `endpoint` is another spelling of `host` + `port`; both may be given
    /// only if they agree.
    fn address(&self, f: &Table) -> Res<(String, Option<u16>)> {
        let host_hint = "a host name or IP address, e.g. \"127.0.0.1\"";
        let host = f.string("host", host_hint)?;
        if let Some(h) = host.as_ref().filter(|h| !valid_host(h)) {
            return Err(f.fail("host", format!("invalid host `{h}`"), host_hint));
        }
        let port = f.uint("port", 1..=65535, PORT_HINT)?.map(|p| p as u16);
        let Some(url) = f.string("endpoint", ENDPOINT_HINT)? else {
            return Ok((host.unwrap_or_else(|| "127.0.0.1".into()), port));
        };
        let bad_url = |problem| f.fail("endpoint", problem, ENDPOINT_HINT);
        let (url_host, url_port) = parse_endpoint(&url).map_err(bad_url)?;
        let conflicts = [("host", host.is_some_and(|h| h != url_host)), ("port", port.is_some_and(|p| p != url_port))];
        if let Some((key, _)) = conflicts.into_iter().find(|(_, conflict)| *conflict) {
            let hint = "give either endpoint or host/port, or make them agree";
            return Err(f.fail(key, format!("conflicts with endpoint `{url}`"), hint));
        }
        Ok((url_host, Some(url_port)))
    }

    fn modalities(&self, f: &Table) -> Res<Vec<Modality>> {
        let hint = "a non-empty list drawn from: text, vision, audio";
        let Some(items) = f.array("modalities", hint)? else {
            return Ok(vec![Modality::Text]);
        };
        let mut modalities = Vec::new();
        for (node, path) in items {
            let modality = self.keyword(node, &path)?;
            if modalities.contains(&modality) {
                return Err(self.err(&node.span, &path, "modality listed twice", "list each once"));
            }
            modalities.push(modality);
        }
        if modalities.is_empty() {
            return Err(f.fail("modalities", "must not be empty", hint));
        }
        Ok(modalities)
    }

    fn health(&self, runtime: &Table) -> Res<HealthSpec> {
        let mut h = HealthSpec::default();
        let keys = "path interval_ms timeout_ms failure_threshold";
        let Some(f) = runtime.table("health", keys)? else {
            return Ok(h);
        };
        let path_hint = "an HTTP path starting with '/', e.g. \"/health\"";
        if let Some(path) = f.string("path", path_hint)? {
            if !path.starts_with('/') || path.contains(char::is_whitespace) {
                return Err(f.fail("path", format!("invalid health path `{path}`"), path_hint));
            }
            h.path = path;
        }
        let interval = f.uint("interval_ms", 50.., "use whole milliseconds, at least 50")?;
        let timeout = f.uint("timeout_ms", 10.., "use whole milliseconds, at least 10")?;
        let threshold_hint = "use a whole number of probes, at least 1";
        let threshold = f.uint("failure_threshold", 1..=u32::MAX as u64, threshold_hint)?;
        h.interval_ms = interval.unwrap_or(h.interval_ms);
        h.timeout_ms = timeout.unwrap_or(h.timeout_ms);
        h.failure_threshold = threshold.map_or(h.failure_threshold, |t| t as u32);
        if h.timeout_ms > h.interval_ms {
            // Blame the value the user wrote; a default is not their mistake.
            let key = timeout.map_or("interval_ms", |_| "timeout_ms");
            let (timeout, interval) = (h.timeout_ms, h.interval_ms);
            let message = format!("timeout_ms ({timeout}) exceeds interval_ms ({interval})");
            let hint = "probes must not overlap; keep timeout_ms <= interval_ms";
            return Err(f.fail(key, message, hint));
        }
        Ok(h)
    }

    fn restart(&self, runtime: &Table) -> Res<RestartPolicy> {
        let mut r = RestartPolicy::default();
        let keys = "max_restarts window_secs backoff_initial_ms backoff_max_ms";
        let Some(f) = runtime.table("restart", keys)? else {
            return Ok(r);
        };
        let max_hint = "use a whole number; 0 disables automatic restarts";
        let max = f.uint("max_restarts", ..=u32::MAX as u64, max_hint)?;
        let window = f.uint("window_secs", 1.., "use whole seconds, at least 1")?;
        let initial = f.uint("backoff_initial_ms", .., "use whole milliseconds")?;
        let ceiling = f.uint("backoff_max_ms", .., "use whole milliseconds")?;
        r.max_restarts = max.map_or(r.max_restarts, |n| n as u32);
        r.window_secs = window.unwrap_or(r.window_secs);
        r.backoff_initial_ms = initial.unwrap_or(r.backoff_initial_ms);
        r.backoff_max_ms = ceiling.unwrap_or(r.backoff_max_ms);
        if r.backoff_max_ms < r.backoff_initial_ms {
            let key = ceiling.map_or("backoff_initial_ms", |_| "backoff_max_ms");
            let (max, initial) = (r.backoff_max_ms, r.backoff_initial_ms);
            let message = format!("backoff_max_ms ({max}) is below backoff_initial_ms ({initial})");
            return Err(f.fail(key, message, "keep backoff_max_ms >= backoff_initial_ms"));
        }
        Ok(r)
    }
}
