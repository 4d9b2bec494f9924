use super::*;
use crate::protocol::status::ExitCause;

fn exit(cause: ExitCause, at: SystemTime) -> ExitRecord {
    ExitRecord {
        at: crate::time::rfc3339(at),
        cause,
        code: Some(3),
        signal: None,
        detail: "exited with code 3".into(),
        stderr_tail: vec!["boom".into()],
        error_line: Some("boom: cannot load model".into()),
    }
}

fn runtime(id: &str) -> Vec<(String, u64)> {
    vec![(id.to_string(), 600)]
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

fn close(j: &Journal) {
    block_on(j.close());
}

/// What one daemon journaled, the next one restores: the restarts in the
/// window (with their kinds, to the millisecond), totals, last exit and
/// generation; a process still running when its daemon vanished becomes
/// `daemon_lost`.
#[test]
fn a_second_daemon_restores_the_first_ones_state() {
    let dir = tempfile::tempdir().unwrap();
    let (j, restored) = open(dir.path(), &Settings::default(), &runtime("a"));
    assert!(j.problem().is_none(), "{:?}", j.problem());
    assert!(restored.runtimes.is_empty());
    let t0 = SystemTime::now() - Duration::from_secs(30);
    let old = SystemTime::now() - Duration::from_secs(3600);
    let sink = j.sink();
    sink.send(Record::Restart { id: "a".into(), kind: RestartKind::Automatic, at: old, detail: "old".into() });
    sink.send(Record::Start { id: "a".into(), generation: 1, pid: 42, at: t0 });
    sink.send(Record::exit("a", 1, &exit(ExitCause::Exited, t0)));
    sink.send(Record::Restart { id: "a".into(), kind: RestartKind::Automatic, at: t0, detail: "1 of 3".into() });
    sink.send(Record::Restart { id: "a".into(), kind: RestartKind::Manual, at: t0, detail: "restore".into() });
    sink.send(Record::Start { id: "a".into(), generation: 2, pid: 43, at: t0 });
    close(&j);
    drop(j);

    let (j, restored) = open(dir.path(), &Settings::default(), &runtime("a"));
    let a = &restored.runtimes["a"];
    assert_eq!(a.generation, 2);
    assert!(a.ever_started);
    assert_eq!((a.totals.automatic, a.totals.manual), (2, 1));
    let t0_ms = time(ms(t0));
    assert_eq!(a.restarts, vec![(t0_ms, RestartKind::Automatic), (t0_ms, RestartKind::Manual)], "only the window");
    let lost = a.last_exit.as_ref().unwrap();
    assert_eq!(lost.cause, ExitCause::DaemonLost, "generation 2 was running: {lost:?}");
    assert!(lost.detail.contains("pid 43"), "{}", lost.detail);
    let h = block_on(j.history("a", 0)).unwrap();
    let kinds: Vec<&str> = h.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["restart", "start", "exit", "restart", "restore", "start", "exit"]);
    assert_eq!(h.events[2].cause.as_deref(), Some("exited"));
    assert_eq!(h.events[6].cause.as_deref(), Some("daemon_lost"));
    close(&j);
    drop(j);

    // Lost once is recorded once.
    let (j, restored) = open(dir.path(), &Settings::default(), &runtime("a"));
    assert_eq!(block_on(j.history("a", 0)).unwrap().total, 7);
    assert_eq!(restored.runtimes["a"].last_exit.as_ref().unwrap().cause, ExitCause::DaemonLost);
}

/// A file that is not a database is moved aside, never deleted, and a new
/// journal takes over; the detail line names both.
#[test]
fn a_damaged_file_is_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(state_dir(dir.path())).unwrap();
    std::fs::write(db_path(dir.path()), vec![0x42u8; 8192]).unwrap();
    let (j, _) = open(dir.path(), &Settings::default(), &runtime("a"));
    let problem = j.problem().unwrap();
    assert!(problem.contains("was damaged") && problem.contains("arw.db.corrupt-"), "{problem}");
    assert_ne!(j.place(), "memory");
    let moved: Vec<_> = std::fs::read_dir(state_dir(dir.path()))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("arw.db.corrupt-"))
        .collect();
    assert_eq!(moved.len(), 1);
    assert_eq!(std::fs::read(moved[0].path()).unwrap(), vec![0x42u8; 8192], "kept as it was");
}

/// A schema from a newer arw is left untouched; the daemon runs in memory.
#[test]
fn a_newer_schema_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (j, _) = open(dir.path(), &Settings::default(), &runtime("a"));
    close(&j);
    drop(j);
    let conn = Connection::open(db_path(dir.path())).unwrap();
    conn.pragma_update(None, "user_version", schema::VERSION + 7).unwrap();
    drop(conn);
    let (j, _) = open(dir.path(), &Settings::default(), &runtime("a"));
    assert_eq!(j.place(), "memory");
    let problem = j.problem().unwrap();
    assert!(problem.contains("newer than this arw knows") && problem.contains("left untouched"), "{problem}");
    let conn = Connection::open(db_path(dir.path())).unwrap();
    let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(v, schema::VERSION + 7);
}

/// A symlink or a directory at `arw.db` is refused, not followed: memory.
#[test]
fn planted_links_and_directories_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let state = state_dir(dir.path());
    std::fs::create_dir_all(&state).unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "keep").unwrap();
    std::os::unix::fs::symlink(&victim, db_path(dir.path())).unwrap();
    let (j, _) = open(dir.path(), &Settings::default(), &runtime("a"));
    assert_eq!(j.place(), "memory");
    assert!(j.problem().unwrap().contains("symbolic link"), "{:?}", j.problem());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    std::fs::remove_file(db_path(dir.path())).unwrap();
    std::fs::create_dir(db_path(dir.path())).unwrap();
    let (j, _) = open(dir.path(), &Settings::default(), &runtime("a"));
    assert_eq!(j.place(), "memory");
    // In memory, history still works for this daemon's life.
    j.sink().send(Record::Start { id: "a".into(), generation: 1, pid: 1, at: SystemTime::now() });
    assert_eq!(block_on(j.history("a", 0)).unwrap().total, 1);
}

/// Retention keeps the newest `max_rows` events per runtime and drops
/// those older than `max_age`.
#[test]
fn retention_bounds_rows_and_age() {
    let mut conn = open_memory();
    let now = SystemTime::now();
    let mut records = Vec::new();
    for i in 0..1000u64 {
        let at = now - Duration::from_secs(1000 - i);
        records.push(Record::Start { id: "a".into(), generation: i, pid: 1, at });
    }
    records.push(Record::Start { id: "b".into(), generation: 1, pid: 1, at: now - Duration::from_secs(40 * 86_400) });
    store::write(&mut conn, &records).unwrap();
    let rule = Retention { max_age: Duration::from_secs(30 * 86_400), max_rows: 100 };
    store::prune(&conn, &rule, &["a".into(), "b".into()], now).unwrap();
    let (total_a, events) = store::history(&conn, "a", 1, 10).unwrap();
    assert_eq!(total_a, 100);
    assert_eq!(events[0].generation, Some(999), "the newest are kept");
    assert_eq!(store::history(&conn, "b", 0, 10).unwrap().0, 0, "older than 30 days");
}

/// Bad knobs are refused with their name; good ones are read.
#[test]
fn settings_from_the_environment() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    };
    assert!(Settings::from(env(&[("ARW_JOURNAL", "off")])).unwrap().off);
    let s = Settings::from(env(&[("ARW_JOURNAL_MAX_ROWS", "500"), ("ARW_JOURNAL_MAX_AGE_DAYS", "2")])).unwrap();
    assert_eq!(s.retention, Retention { max_age: Duration::from_secs(2 * 86_400), max_rows: 500 });
    assert!(Settings::from(env(&[("ARW_JOURNAL", "maybe")])).unwrap_err().contains("ARW_JOURNAL=maybe"));
    assert!(Settings::from(env(&[("ARW_JOURNAL_MAX_ROWS", "0")])).unwrap_err().contains("ARW_JOURNAL_MAX_ROWS"));
}

/// Benchmark (bench/journal runs it): 1 000 restarts/s — a start, an exit
/// and a restart record each — into a journal file for 5 s, then as fast as
/// the sender can. Prints the sender's cost per record, the writer's lag
/// and CPU; fails only if records were dropped.
#[test]
#[ignore = "a benchmark: cargo test --lib journal::tests::writer_throughput -- --ignored --nocapture"]
fn writer_throughput() {
    fn writer_cpu_ms() -> f64 {
        let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if comm.trim() == "arw-journal" {
                let stat = std::fs::read_to_string(task.path().join("stat")).unwrap();
                let f: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
                return (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / tick * 1000.0;
            }
        }
        0.0
    }
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<(String, u64)> = (0..12).map(|i| (format!("flood{i}"), 1)).collect();
    let (j, _) = open(dir.path(), &Settings::default(), &ids);
    let sink = j.sink();
    let mut send_ns = Vec::new();
    let restart = |n: u64, send_ns: &mut Vec<u128>| {
        let id = format!("flood{}", n % 12);
        let now = SystemTime::now();
        for r in [
            Record::Start { id: id.clone(), generation: n, pid: 1000 + n as u32, at: now },
            Record::exit(&id, n, &exit(ExitCause::Exited, now)),
            Record::Restart { id, kind: RestartKind::Automatic, at: now, detail: "automatic restart".into() },
        ] {
            let t = std::time::Instant::now();
            sink.send(r);
            send_ns.push(t.elapsed().as_nanos());
        }
    };
    let cpu0 = writer_cpu_ms();
    let start = std::time::Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(5) {
        // 1 000 restarts per second, paced per millisecond.
        let due = (start.elapsed().as_micros() / 1000) as u64;
        while n < due {
            restart(n, &mut send_ns);
            n += 1;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let t = std::time::Instant::now();
    let h = block_on(j.history("flood0", 1)).unwrap();
    let lag = t.elapsed();
    let cpu = writer_cpu_ms() - cpu0;
    send_ns.sort();
    let p = |q: f64| send_ns[((send_ns.len() as f64 * q) as usize).min(send_ns.len() - 1)];
    println!(
        "paced: {n} restarts ({} records) in {:.1} s; send p50 {} ns p99 {} ns max {} ns; writer lag at the end {:.1} ms; writer CPU {:.0} ms ({:.1}% of one core)",
        n * 3,
        start.elapsed().as_secs_f64(),
        p(0.5),
        p(0.99),
        send_ns.last().unwrap(),
        lag.as_secs_f64() * 1000.0,
        cpu,
        cpu / start.elapsed().as_secs_f64() / 10.0
    );
    assert!(h.total > 0);
    assert!(j.problem().is_none(), "nothing dropped at 1 000 restarts/s: {:?}", j.problem());
    let burst = std::time::Instant::now();
    let before = n;
    while burst.elapsed() < Duration::from_secs(2) {
        restart(n, &mut Vec::new());
        n += 1;
    }
    let sent = burst.elapsed();
    block_on(j.history("flood0", 1)).unwrap();
    let dropped = j.shared.dropped.load(Ordering::Relaxed);
    let written = (n - before) * 3 - dropped;
    println!(
        "burst: {} records sent in {:.2} s; {dropped} dropped at the {QUEUE}-record queue bound; {written} written in {:.2} s = {:.0} records/s",
        (n - before) * 3,
        sent.as_secs_f64(),
        burst.elapsed().as_secs_f64(),
        written as f64 / burst.elapsed().as_secs_f64()
    );
}
