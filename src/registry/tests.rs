use super::*;
use serde::Deserialize;

/// A minimal valid runtime on lines 1-4, so appended lines start at 5.
macro_rules! base {
    () => {
        "[[runtime]]\nid = \"a\"\nadapter = \"stub\"\ncommand = \"x\"\n"
    };
}

/// The error line, its line number and its key path.
fn invalid(text: &str) -> (String, usize, String) {
    match parse(text, "test.toml") {
        Err(e @ RegistryError::Invalid { .. }) => {
            let RegistryError::Invalid { line, ref key, .. } = e else { unreachable!() };
            (e.to_string(), line, key.clone())
        }
        other => panic!("expected a validation error for {text:?}, got {other:?}"),
    }
}

#[test]
fn embedded_default_parses() {
    let reg = embedded_default();
    assert_eq!(reg.origin, "embedded default");
    assert_eq!(
        reg.daemon,
        DaemonSettings { idle_timeout_secs: 900, matrix_ttl_secs: 60, http_listen: None, admin_token_file: None }
    );
    assert_eq!(reg.runtimes.len(), 1);
    let llama = reg.get("llama").unwrap();
    assert_eq!((llama.adapter, llama.command.as_str()), (Adapter::LlamaCpp, "llama-server"));
    let args = ["--host", "127.0.0.1", "--port", "{port}", "--model", "${LLAMA_MODEL_PATH}"];
    assert_eq!(llama.args, args);
    assert!(!llama.auto_start, "a fresh install must not launch anything");
    assert_eq!((llama.accelerator, &llama.modalities[..]), (Accelerator::Cpu, &[Modality::Text][..]));
    assert!(llama.uses_port_placeholder() && llama.port.is_none());
    assert_eq!(llama.health, HealthSpec::default());
    assert_eq!(llama.restart, RestartPolicy::default());
}

#[test]
fn full_manifest_round_trips_every_field() {
    let text = r#"
[daemon]
idle_timeout_secs = 0
matrix_ttl_secs = 5

[[runtime]]
id = "qwen2.5-7b_q4"
name = "Qwen"
adapter = "llava"
command = "/opt/llama/llama-server"
args = ["-m", "${MODEL}", "--port", "{port}"]
env = { CUDA_VISIBLE_DEVICES = "0", "X.Y" = "z" }
cwd = "/srv"
endpoint = "http://[::1]:9000/"
port = 9000
accelerator = "gpu"
modalities = ["vision", "text", "audio"]
auto_start = false
startup_timeout_ms = 5000
health = { path = "/v1/health", interval_ms = 50, timeout_ms = 50, failure_threshold = 1 }
restart.max_restarts = 0
restart.window_secs = 1
restart.backoff_initial_ms = 7
restart.backoff_max_ms = 7
"#;
    let reg = parse(text, "full.toml").unwrap();
    assert_eq!(
        reg.daemon,
        DaemonSettings { idle_timeout_secs: 0, matrix_ttl_secs: 5, http_listen: None, admin_token_file: None }
    );
    let want = RuntimeSpec {
        id: "qwen2.5-7b_q4".into(),
        name: "Qwen".into(),
        adapter: Adapter::Llava,
        command: "/opt/llama/llama-server".into(),
        args: ["-m", "${MODEL}", "--port", "{port}"].map(String::from).to_vec(),
        env: [("CUDA_VISIBLE_DEVICES", "0"), ("X.Y", "z")].map(|(k, v)| (k.into(), v.into())).into(),
        cwd: Some("/srv".into()),
        host: "::1".into(),
        port: Some(9000),
        accelerator: Accelerator::Gpu,
        modalities: vec![Modality::Vision, Modality::Text, Modality::Audio],
        auto_start: false,
        startup_timeout_ms: 5000,
        health: HealthSpec { path: "/v1/health".into(), interval_ms: 50, timeout_ms: 50, failure_threshold: 1 },
        restart: RestartPolicy { max_restarts: 0, window_secs: 1, backoff_initial_ms: 7, backoff_max_ms: 7 },
    };
    assert_eq!(reg.runtimes, [want]);
    assert_eq!(reg.runtimes[0].endpoint(9000), "http://[::1]:9000");
}

#[test]
fn omitted_keys_take_documented_defaults() {
    let reg = parse(concat!(base!(), "health.path = \"/ready\"\n"), "t").unwrap();
    let a = &reg.runtimes[0];
    assert_eq!(
        reg.daemon,
        DaemonSettings { idle_timeout_secs: 900, matrix_ttl_secs: 60, http_listen: None, admin_token_file: None }
    );
    assert_eq!((a.name.as_str(), a.host.as_str(), a.port, a.auto_start), ("a", "127.0.0.1", None, true));
    assert_eq!((a.accelerator, &a.modalities[..]), (Accelerator::Cpu, &[Modality::Text][..]));
    assert_eq!(a.startup_timeout_ms, 120_000);
    assert_eq!(a.health, HealthSpec { path: "/ready".into(), ..HealthSpec::default() });
    assert_eq!(
        a.restart,
        RestartPolicy { max_restarts: 3, window_secs: 600, backoff_initial_ms: 1000, backoff_max_ms: 30_000 }
    );
    assert!(a.args.is_empty() && a.env.is_empty() && a.cwd.is_none() && !a.uses_port_placeholder());
    assert_eq!(a.endpoint(4242), "http://127.0.0.1:4242");
    assert!(parse("", "empty").unwrap().runtimes.is_empty());
}

#[test]
fn enums_serialize_as_their_keywords() {
    fn round_trip<T: Keyword + Serialize + for<'de> Deserialize<'de> + fmt::Debug + PartialEq>() {
        for &k in T::ALL {
            let value = toml::Value::try_from(k).unwrap();
            assert_eq!(value.as_str(), Some(k.as_str()));
            assert_eq!(value.try_into::<T>().unwrap(), k);
        }
    }
    round_trip::<Adapter>();
    round_trip::<Accelerator>();
    round_trip::<Modality>();
    assert_eq!(Adapter::LlamaCpp.as_str(), "llama.cpp");
}

#[rustfmt::skip]
const MALFORMED: &[(&str, &str, usize, &str)] = &[
    // (manifest, key path, line, message fragment)
    (concat!(base!(), "name = \"abc\n"), "runtime[0].name", 5, "syntax error"),
    ("[daemon\nidle_timeout_secs = 1\n", "daemon", 1, "syntax error"),
    (concat!(base!(), "id = \"b\"\n"), "runtime[0].id", 5, "duplicate key"),
    (concat!(base!(), "[[runtime]]\nid = 'b\n"), "runtime[1].id", 6, "syntax error"),
    ("colour = 1\n", "colour", 1, "unknown key `colour`"),
    (concat!(base!(), "colour = 1\n"), "runtime[0].colour", 5, "unknown key"),
    (concat!(base!(), "[runtime.health]\npath = \"/h\"\nprobe = 1\n"), "runtime[0].health.probe", 7, "unknown key"),
    (concat!(base!(), "health.probe = 1\n"), "runtime[0].health.probe", 5, "unknown key"),
    (concat!(base!(), "[runtime.restart]\nmax = 1\n"), "runtime[0].restart.max", 6, "unknown key"),
    ("[daemon]\nidle = 5\n", "daemon.idle", 2, "unknown key"),
    (concat!(base!(), "[runtime.restart.extra]\n"), "runtime[0].restart.extra", 5, "unknown key"),
    (concat!(base!(), "name = 5\n"), "runtime[0].name", 5, "expected a string, found an integer"),
    (concat!(base!(), "cwd = 1979-05-27\n"), "runtime[0].cwd", 5, "found a date-time"),
    (concat!(base!(), "startup_timeout_ms = \"5\"\n"), "runtime[0].startup_timeout_ms", 5, "expected an integer"),
    (concat!(base!(), "[runtime.health]\ninterval_ms = 2.5\n"), "runtime[0].health.interval_ms", 6, "found a float"),
    (concat!(base!(), "auto_start = \"yes\"\n"), "runtime[0].auto_start", 5, "expected a boolean"),
    (concat!(base!(), "args = \"--port\"\n"), "runtime[0].args", 5, "expected an array"),
    (concat!(base!(), "args = [\"a\",\n  1]\n"), "runtime[0].args[1]", 6, "expected a string"),
    (concat!(base!(), "health = 5\n"), "runtime[0].health", 5, "expected a table"),
    (concat!(base!(), "env = { A = 1 }\n"), "runtime[0].env.A", 5, "expected a string"),
    (concat!(base!(), "env = { \"A=B\" = \"1\" }\n"), "runtime[0].env.A=B", 5, "invalid variable name"),
    ("[runtime]\nid = \"a\"\n", "runtime", 1, "expected an array, found a table"),
    ("daemon = 1\n", "daemon", 1, "expected a table"),
    (concat!(base!(), base!()), "runtime[1].id", 6, "duplicate runtime id"),
    (concat!(base!(), "port = 0\n"), "runtime[0].port", 5, "0 is out of range"),
    (concat!(base!(), "port = 70000\n"), "runtime[0].port", 5, "out of range"),
    (concat!(base!(), "port = -1\n"), "runtime[0].port", 5, "out of range"),
    (concat!(base!(), "port = \"80\"\n"), "runtime[0].port", 5, "expected an integer"),
    ("[[runtime]]\nid = \"a\"\nadapter = \"stub\"\n", "runtime[0].command", 1, "missing required key `command`"),
    ("[[runtime]]\nid = \"a\"\nadapter = \"stub\"\ncommand = \" \"\n", "runtime[0].command", 4, "must not be empty"),
    ("[[runtime]]\nadapter = \"stub\"\ncommand = \"x\"\n", "runtime[0].id", 1, "missing required key `id`"),
    ("[[runtime]]\nid = \"a\"\ncommand = \"x\"\n", "runtime[0].adapter", 1, "missing required key `adapter`"),
    ("[[runtime]]\nid = \"a\"\nadapter = \"vllm\"\ncommand = \"x\"\n", "runtime[0].adapter", 3, "unknown value `vllm`"),
    (concat!(base!(), "accelerator = \"tpu\"\n"), "runtime[0].accelerator", 5, "unknown value"),
    (concat!(base!(), "modalities = [\"text\", \"smell\"]\n"), "runtime[0].modalities[1]", 5, "unknown value"),
    (concat!(base!(), "modalities = [\"text\", \"text\"]\n"), "runtime[0].modalities[1]", 5, "listed twice"),
    (concat!(base!(), "modalities = []\n"), "runtime[0].modalities", 5, "must not be empty"),
    ("[[runtime]]\nid = \"Llama!\"\nadapter = \"stub\"\ncommand = \"x\"\n", "runtime[0].id", 2, "invalid id"),
    (concat!(base!(), "[runtime.health]\npath = \"health\"\n"), "runtime[0].health.path", 6, "invalid health path"),
    (concat!(base!(), "health = { interval_ms = 0 }\n"), "runtime[0].health.interval_ms", 5, "out of range"),
    (concat!(base!(), "[runtime.health]\ninterval_ms = 500\ntimeout_ms = 600\n"), "runtime[0].health.timeout_ms", 7, "exceeds"),
    (concat!(base!(), "[runtime.health]\nfailure_threshold = 0\n"), "runtime[0].health.failure_threshold", 6, "out of range"),
    (concat!(base!(), "[runtime.restart]\nwindow_secs = 0\n"), "runtime[0].restart.window_secs", 6, "out of range"),
    (concat!(base!(), "[runtime.restart]\nbackoff_initial_ms = 5000\nbackoff_max_ms = 100\n"), "runtime[0].restart.backoff_max_ms", 7, "is below"),
    ("[daemon]\nmatrix_ttl_secs = 0\n", "daemon.matrix_ttl_secs", 2, "out of range"),
    (concat!(base!(), "endpoint = \"https://127.0.0.1:8080\"\n"), "runtime[0].endpoint", 5, "not http://"),
    (concat!(base!(), "endpoint = \"http://127.0.0.1:8080/v1\"\n"), "runtime[0].endpoint", 5, "has a path"),
    (concat!(base!(), "endpoint = \"http://127.0.0.1\"\n"), "runtime[0].endpoint", 5, "has no port"),
    (concat!(base!(), "endpoint = \"http://127.0.0.1:8080\"\nport = 9090\n"), "runtime[0].port", 6, "conflicts with endpoint"),
    (concat!(base!(), "host = \"localhost\"\nendpoint = \"http://127.0.0.1:8080\"\n"), "runtime[0].host", 5, "conflicts"),
    ("[[runtime]]\nid = \"a\"\nadapter = \"llama.cpp\"\ncommand = \"x\"\n", "runtime[0].port", 1, "no port is set"),
    (concat!(base!(), "args = [\"-m\", \"${MODEL\"]\n"), "runtime[0].args[1]", 5, "unterminated"),
    ("[[runtime]]\nid = \"a\"\nadapter = \"stub\"\ncommand = \"${BIN-DIR}/x\"\n", "runtime[0].command", 4, "invalid variable"),
    (concat!(base!(), "[[runtime]]\nid = \"b\"\nadapter = \"stub\"\ncommand = \"x\"\n[runtime.health]\ntimeout_ms = 5000\n"), "runtime[1].health.timeout_ms", 10, "exceeds"),
];

#[test]
fn malformed_manifests_give_one_line_with_file_line_and_key() {
    assert!(MALFORMED.len() >= 30);
    for (input, key, line, fragment) in MALFORMED {
        let (msg, got_line, got_key) = invalid(input);
        let context = format!("case {key}/{fragment}: {msg}");
        assert!(!msg.contains('\n'), "{context}: not one line");
        assert!(msg.starts_with(&format!("test.toml:{line}:")), "{context}: line {got_line}");
        assert!(got_key.contains(key), "{context}: key `{got_key}` lacks `{key}`");
        assert!(msg.contains(fragment), "{context}: message lacks {fragment:?}");
        let hint = msg.split_once(&format!("(key `{got_key}`); ")).map(|(_, hint)| hint);
        assert!(hint.is_some_and(|h| h.len() > 5), "{context}: no hint after the key");
    }
}

#[test]
fn messages_say_what_is_accepted() {
    let (msg, ..) = invalid(concat!(base!(), "accelerator = \"tpu\"\n"));
    assert_eq!(
        msg,
        "test.toml:5:15: unknown value `tpu` (key `runtime[0].accelerator`); expected one of: cpu, gpu, npu"
    );
    let (msg, ..) = invalid(concat!(base!(), base!()));
    assert_eq!(
        msg,
        "test.toml:6:6: duplicate runtime id (key `runtime[1].id`); ids must be unique; `a` is first defined at line 2"
    );
    let (msg, ..) = invalid(concat!(base!(), "[runtime.health]\ninterval_ms = 500\ntimeout_ms = 600\n"));
    assert_eq!(msg, "test.toml:7:14: timeout_ms (600) exceeds interval_ms (500) (key `runtime[0].health.timeout_ms`); probes must not overlap; keep timeout_ms <= interval_ms");
}

#[test]
fn config_path_precedence() {
    let dir = tempfile::tempdir().unwrap();
    let (xdg, home) = (dir.path().join("xdg"), dir.path().join("home"));
    let (xdg_file, home_file) = (xdg.join("arw/runtimes.toml"), home.join(".config/arw/runtimes.toml"));
    let env = |pairs: &[(&str, &Path)]| {
        let map: BTreeMap<String, PathBuf> = pairs.iter().map(|(k, v)| (k.to_string(), v.into())).collect();
        move |k: &str| map.get(k).map(|p| p.display().to_string())
    };
    let all = [("ARW_CONFIG", Path::new("/nope/arw.toml")), ("XDG_CONFIG_HOME", &xdg), ("HOME", &home)];

    // Nothing exists yet: only explicitly named files come back.
    assert_eq!(config_path(None, env(&all[1..])), None);
    assert_eq!(config_path(Some(Path::new("/flag.toml")), env(&all)), Some("/flag.toml".into()));
    assert_eq!(config_path(None, env(&all)), Some("/nope/arw.toml".into()));
    assert_eq!(config_path(None, env(&[("ARW_CONFIG", Path::new("")), ("HOME", &home)])), None);

    for file in [&home_file, &xdg_file] {
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, "").unwrap();
        assert_eq!(config_path(None, env(&all[1..])).as_ref(), Some(file));
    }
    // The XDG spec calls a relative XDG_CONFIG_HOME invalid.
    let relative = [("XDG_CONFIG_HOME", Path::new("rel")), ("HOME", &home)];
    assert_eq!(config_path(None, env(&relative)), Some(home_file));
}

#[test]
fn load_reports_missing_explicit_file_and_falls_back_to_default() {
    let err = load(Some(Path::new("/not/here.toml")), |_| None).unwrap_err().to_string();
    assert!(err.starts_with("/not/here.toml: cannot read runtime registry: "), "{err}");
    assert!(err.contains("os error 2") && !err.contains('\n'), "{err}");
    assert_eq!(load(None, |_| None).unwrap(), embedded_default());

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.toml");
    std::fs::write(&file, concat!(base!(), "port = 0\n")).unwrap();
    let err = load_file(&file).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}:5:8: ", file.display())), "{err}");
    std::fs::write(&file, base!()).unwrap();
    let via_env = load(None, |k| (k == "ARW_CONFIG").then(|| file.display().to_string()));
    assert_eq!(via_env.unwrap().origin, file.display().to_string());
}

#[test]
fn helpers() {
    assert!(valid_id("a") && valid_id("qwen2.5-7b_q4") && valid_id(&"a".repeat(64)));
    assert!(!valid_id("") && !valid_id("-a") && !valid_id("A") && !valid_id(&"a".repeat(65)));
    assert_eq!(parse_endpoint("http://localhost:80"), Ok(("localhost".into(), 80)));
    assert!(parse_endpoint("http://:80").is_err() && parse_endpoint("http://h:0").is_err());
    assert!(parse_endpoint("http://a b:80").is_err() && parse_endpoint("http://[::1]").is_err());
    assert!(check_placeholders("${A}-${_b1}{port}").is_ok());
    assert!(check_placeholders("${1}").is_err() && check_placeholders("${}").is_err());
    let secret = check_placeholders("--key=${ARW_ADMIN_TOKEN}").unwrap_err();
    assert!(secret.contains("never given to a runtime"), "{secret}");
    assert_eq!(line_col("ab\ncé\nx", 6), (2, 3));
    assert_eq!(syntax_key_path("[[r]]\n[[r]]\n[r.h]\nk = 1", 4), "r[1].h.k");
}

/// Exact messages for shapes the table above does not cover, recorded from
/// the serde_spanned-based tracker before toml_edit's spans replaced it.
#[rustfmt::skip]
const EXACT: &[(&str, &str)] = &[
    ("[[runtime]]\nid = \"a\"\n[[runtime]]\n[runtime.health]\nprobe=1\n",
     "test.toml:1:1: missing required key `adapter` (key `runtime[0].adapter`); add adapter = \"llama.cpp\" (or stub, process, llava)"),
    ("a = 1\na = 2\n",
     "test.toml:2:1: TOML syntax error: duplicate key `a` in document root (key `a`); each key may appear only once per table"),
    ("[daemon]\n[daemon]\n",
     "test.toml:2:1: TOML syntax error: invalid table header, duplicate key `daemon` in document root (key `daemon`); each key may appear only once per table"),
    ("[[runtime]]\nid=\"a\"\nadapter=\"stub\"\ncommand=\"x\"\nhealth = {}\n[runtime.health]\n",
     "test.toml:6:1: TOML syntax error: invalid table header, duplicate key `health` in table `runtime` (key `runtime[0].health`); each key may appear only once per table"),
    ("x = [1, \"a\"]\n",
     "test.toml:1:1: unknown key `x` (key `x`); expected one of: daemon, runtime"),
    ("x = \n",
     "test.toml:1:5: TOML syntax error: invalid string, expected `\"`, `'` (key `x`); close every quote and bracket; see https://toml.io for the syntax"),
    ("= 1\n",
     "test.toml:1:1: TOML syntax error: invalid key (key `(top level)`); close every quote and bracket; see https://toml.io for the syntax"),
    ("[[runtime]]\nid = \"a\"\nadapter = \"stub\"\ncommand = \"x\"\nenv.A = 1\n",
     "test.toml:5:9: expected a string, found an integer (key `runtime[0].env.A`); quote the value"),
    ("[[runtime]]\nid = \"a\"\nadapter = \"stub\"\ncommand = \"x\"\nrestart = { max_restarts = -1 }\n",
     "test.toml:5:28: -1 is out of range (key `runtime[0].restart.max_restarts`); use a whole number; 0 disables automatic restarts"),
    ("[[runtime]]\nid = \"a\"\nadapter = \"stub\"\ncommand = \"x\"\n[runtime.env]\nA = 1\n",
     "test.toml:6:5: expected a string, found an integer (key `runtime[0].env.A`); quote the value"),
    ("[[runtime]]\nid = \"a\"\nadapter = \"stub\"\ncommand = \"x\"\n[runtime.env]\n\"\" = \"1\"\n",
     "test.toml:6:1: invalid variable name (key `runtime[0].env.`); names must be non-empty, without '=' or NUL"),
    ("[[runtime]]\nid = \"a\"\nadapter = \"stub\"\ncommand = \"x\"\nmodalities = [[\"text\"]]\n",
     "test.toml:5:15: expected a string, found an array (key `runtime[0].modalities[0]`); expected one of: text, vision, audio"),
    ("[[runtime]]\nid = \"a\"\nadapter = \"stub\"\ncommand = \"x\"\nmodalities = [{a=1}]\n",
     "test.toml:5:15: expected a string, found a table (key `runtime[0].modalities[0]`); expected one of: text, vision, audio"),
    ("[[runtime]]\nid = \"a\"\nadapter = \"stub\"\ncommand = \"x\"\nadapter = \"x\"\n",
     "test.toml:5:1: TOML syntax error: duplicate key `adapter` in table `runtime` (key `runtime[0].adapter`); each key may appear only once per table"),
    ("runtime = [{id = \"a\", adapter = \"stub\", command = 1}]\n",
     "test.toml:1:51: expected a string, found an integer (key `runtime[0].command`); name the program to run, e.g. \"llama-server\""),
    ("runtime = [{id = \"a\", adapter = \"stub\"}]\n",
     "test.toml:1:12: missing required key `command` (key `runtime[0].command`); name the program to run, e.g. \"llama-server\""),
    ("runtime = [1]\n",
     "test.toml:1:12: expected a table, found an integer (key `runtime[0]`); declare each runtime in its own [[runtime]] section (double brackets)"),
    ("[[runtime]]\nid = \"a\"\nadapter = \"stub\"\ncommand = \"x\"\n[runtime.restart]\n[[runtime.restart.x]]\n",
     "test.toml:6:19: unknown key `x` (key `runtime[0].restart.x`); expected one of: max_restarts, window_secs, backoff_initial_ms, backoff_max_ms"),
    ("[[runtime]]\nid = \"a\"\nadapter = \"stub\"\ncommand = \"x\"\nhealth.timeout_ms = 5000\n",
     "test.toml:5:21: timeout_ms (5000) exceeds interval_ms (2000) (key `runtime[0].health.timeout_ms`); probes must not overlap; keep timeout_ms <= interval_ms"),
    ("[[runtime]]\nid = \"a\"\nadapter = \"stub\"\ncommand = \"x\"\nhealth.x.y = 5000\n",
     "test.toml:5:8: unknown key `x` (key `runtime[0].health.x`); expected one of: path, interval_ms, timeout_ms, failure_threshold"),
    ("[[runtime]]\nid = \"a\"\nadapter = \"stub\"\ncommand = \"x\"\nrestart.backoff_initial_ms = 99999999\n",
     "test.toml:5:30: backoff_max_ms (30000) is below backoff_initial_ms (99999999) (key `runtime[0].restart.backoff_initial_ms`); keep backoff_max_ms >= backoff_initial_ms"),
    ("[[runtime]]\n  id = \"é\"\nadapter = \"stub\"\ncommand = \"x\"\n",
     "test.toml:2:8: invalid id `é` (key `runtime[0].id`); use a-z, 0-9, '.', '_', '-', starting with a letter or digit, ≤ 64 chars"),
    ("[[runtime]]\nid = \"a\"\nadapter = \"stub\"\ncommand = \"x\"\nt = 07:32:00\n",
     "test.toml:5:1: unknown key `t` (key `runtime[0].t`); expected one of: id, name, adapter, command, args, env, cwd, host, port, endpoint, accelerator, modalities, auto_start, startup_timeout_ms, health, restart"),
    ("x = 1979-05-27T07:32:00Z\n",
     "test.toml:1:1: unknown key `x` (key `x`); expected one of: daemon, runtime"),
    ("[[runtime]]\nid = \"a\"\nadapter = \"stub\"\ncommand = \"x\"\nstartup_timeout_ms = 9223372036854775808\n",
     "test.toml:5:22: TOML syntax error: number too large to fit in target type (key `runtime[0].startup_timeout_ms`); close every quote and bracket; see https://toml.io for the syntax"),
    ("[daemon]\nidle_timeout_secs = inf\n",
     "test.toml:2:21: expected an integer, found a float (key `daemon.idle_timeout_secs`); use whole seconds; 0 keeps the daemon alive forever"),
];

#[test]
fn spans_from_toml_edit_match_the_old_tracker() {
    for (input, want) in EXACT {
        assert_eq!(parse(input, "test.toml").map(|_| ()).map_err(|e| e.to_string()), Err(want.to_string()));
    }
}

/// #11.17: two runtimes on one fixed address fail at load, naming both.
#[test]
fn duplicate_fixed_ports_are_rejected() {
    let runtime = |id: &str, address: &str| {
        format!("[[runtime]]\nid = \"{id}\"\nadapter = \"stub\"\ncommand = \"x\"\n{address}\n")
    };
    let (msg, ..) = invalid(&(runtime("a", "port = 8080") + &runtime("b", "port = 8080")));
    assert_eq!(
        msg,
        "test.toml:10:8: port 8080 of `b` is already taken by `a` at line 5 (key `runtime[1].port`); give each \
         runtime its own port, or leave `port` out and pass \"{port}\" in args so arw picks a free one at each start"
    );
    let (msg, line, key) =
        invalid(&(runtime("a", "port = 8080") + &runtime("c", "endpoint = \"http://localhost:8080\"")));
    assert!(msg.contains("port 8080 of `c` is already taken by `a` at line 5"), "{msg}");
    assert_eq!((line, key.as_str()), (10, "runtime[1].endpoint"));
    // Different addresses, or ports picked at start, do not collide.
    assert!(parse(&(runtime("a", "port = 8080") + &runtime("b", "port = 8080\nhost = \"127.0.0.2\"")), "t").is_ok());
    assert!(parse(&(runtime("a", "port = 8080") + &runtime("b", "port = 8081") + &runtime("c", "")), "t").is_ok());
}

#[test]
fn hosts_overlap_like_sockets_do() {
    for (a, b) in [
        ("127.0.0.1", "127.0.0.1"),
        ("0.0.0.0", "127.0.0.1"),
        ("::", "127.0.0.1"),
        ("localhost", "::1"),
        ("LocalHost", "127.0.0.1"),
        ("box", "box"),
        ("::1", "::"),
    ] {
        assert!(hosts_overlap(a, b) && hosts_overlap(b, a), "{a} {b}");
    }
    for (a, b) in [("127.0.0.1", "127.0.0.2"), ("0.0.0.0", "::1"), ("localhost", "10.0.0.1"), ("a", "b")] {
        assert!(!hosts_overlap(a, b) && !hosts_overlap(b, a), "{a} {b}");
    }
}

/// #11.19: a `cwd` that is missing or not a directory fails at load with its
/// position; text-only `parse` does not touch the filesystem.
#[test]
fn load_checks_cwd_is_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.toml");
    let missing = dir.path().join("gone");
    std::fs::write(&file, format!("{}cwd = {:?}\n", base!(), missing.display().to_string())).unwrap();
    let err = load_file(&file).unwrap_err().to_string();
    let want = format!(
        "{}:5:7: `cwd` `{}` does not exist (key `runtime[0].cwd`); create the directory, or point `cwd` at an existing one",
        file.display(),
        missing.display()
    );
    assert_eq!(err, want);
    std::fs::write(&file, format!("{}cwd = {:?}\n", base!(), file.display().to_string())).unwrap();
    assert!(load_file(&file).unwrap_err().to_string().contains("is not a directory (key `runtime[0].cwd`)"));
    std::fs::write(&file, format!("{}cwd = {:?}\n", base!(), dir.path().display().to_string())).unwrap();
    assert_eq!(load_file(&file).unwrap().runtimes[0].cwd.as_deref(), Some(dir.path()));
    assert!(parse(&format!("{}cwd = \"/no/such/dir\"\n", base!()), "t").is_ok());
}

#[test]
fn load_refuses_what_is_not_a_regular_file() {
    let err = load_file(Path::new("/dev/zero")).unwrap_err().to_string();
    assert_eq!(
        err,
        "/dev/zero: cannot read runtime registry: it is a character device, not a regular file; replace it with a \
         regular file, or name one with `--config` or `ARW_CONFIG`"
    );
}
