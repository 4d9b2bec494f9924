//! The few POSIX calls std does not wrap: signals to process groups, session
//! setup, parent-death signals, SIGPIPE.

use std::io;
use std::os::fd::FromRawFd;

/// Long-running servers (the daemon, the stub) must never die because a
/// peer went away mid-write: the write fails with EPIPE and is handled.
pub fn ignore_sigpipe() {
    // SAFETY: setting a signal disposition to ignore is always sound.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Sends `signal` to every process in group `pgid`.
pub fn kill_group(pgid: u32, signal: i32) -> io::Result<()> {
    // SAFETY: plain syscall on integers.
    let rc = unsafe { libc::killpg(pgid as libc::pid_t, signal) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sends `signal` to one process.
pub fn kill(pid: u32, signal: i32) -> io::Result<()> {
    // SAFETY: plain syscall on integers.
    let rc = unsafe { libc::kill(pid as libc::pid_t, signal) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// True while a process with this pid exists (zombies included).
pub fn process_exists(pid: u32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Asks the kernel to SIGTERM the calling process when its parent thread dies.
/// Called in the child between fork and exec, so runtimes never outlive a
/// daemon that was killed with SIGKILL.
pub fn die_with_parent() -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: prctl with integer arguments; async-signal-safe.
        let rc = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong, 0, 0, 0) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Starts a new session so the daemon survives the terminal that spawned it.
pub fn new_session() -> io::Result<()> {
    // SAFETY: setsid in a freshly forked child; async-signal-safe.
    if unsafe { libc::setsid() } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Conventional name of a signal number, for exit causes.
pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => return format!("signal {sig}"),
    };
    name.to_string()
}

/// Points fd 1 at /dev/null (the daemon after its start-up report).
pub fn redirect_stdout_to_null() {
    use std::os::fd::AsRawFd;
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        // SAFETY: dup2 onto fd 1 with a valid descriptor we own.
        unsafe {
            libc::dup2(null.as_raw_fd(), 1);
        }
    }
}

/// The soft limit on open descriptors.
pub fn open_files_limit() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur
    } else {
        1024
    }
}

/// Raises the soft descriptor limit to the hard one (the daemon holds a
/// socket per client and a few files per runtime).
pub fn raise_open_files_limit() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain getrlimit/setrlimit on our own struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Our effective uid.
pub fn euid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// Takes an exclusive lock on `file`, giving up after `deadline`.
pub fn lock_with_deadline(file: std::fs::File, deadline: std::time::Duration) -> io::Result<std::fs::File> {
    let (tx, rx) = std::sync::mpsc::channel();
    // std has no timed lock; a thread blocks on it and we wait on the thread.
    std::thread::spawn(move || {
        let locked = file.lock().map(|()| file);
        let _ = tx.send(locked);
    });
    rx.recv_timeout(deadline)
        .unwrap_or_else(|_| Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "lock wait timed out")))
}

/// Waits up to `deadline` for process `pid` to exit: `Ok(true)` when it is
/// gone (or was already), `Ok(false)` on timeout, an error when pidfds are
/// not available here.
pub fn wait_pid_exit(pid: u32, deadline: std::time::Duration) -> io::Result<bool> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::ESRCH) { Ok(true) } else { Err(e) };
    }
    // SAFETY: fd was just returned to us and is closed once, below.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) };
    let mut pfd = libc::pollfd { fd: std::os::fd::AsRawFd::as_raw_fd(&fd), events: libc::POLLIN, revents: 0 };
    let end = std::time::Instant::now() + deadline;
    loop {
        let left = end.saturating_duration_since(std::time::Instant::now());
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(i32::MAX as u128) as i32) };
        if n > 0 {
            return Ok(true);
        }
        if n == 0 {
            return Ok(false);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Whether any process of group `pgid` is alive (zombies excluded), read
/// from `/proc`. Without `/proc` it falls back to `kill(-pgid, 0)`.
pub fn group_has_live_member(pgid: u32) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        // SAFETY: signal 0 to a group only checks.
        return unsafe { libc::killpg(pgid as libc::pid_t, 0) } == 0;
    };
    dir.flatten().filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok()).any(|pid| {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
        // After the command name (which may hold spaces and parentheses):
        // state, ppid, pgrp.
        let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
        fields.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid) && fields.first().is_some_and(|s| *s != "Z")
    })
}
