//! Guards: one tiny process per runtime that takes the runtime's whole
//! process group down when the daemon dies, however it dies.
//!
//! `PR_SET_PDEATHSIG` reaches only the daemon's direct child: in
//! `sh -c "sleep 312 & exec llama-server …"` the `sleep` would outlive a
//! SIGKILLed daemon. So next to each runtime the daemon forks a guard that
//! joins the runtime's process group and blocks reading the "lifeline", a
//! pipe whose only write end the daemon holds. When the daemon dies the
//! kernel closes that end, the read returns, and the guard sends SIGTERM
//! then (after [`GRACE_MS`]) SIGKILL to the group — itself included.
//!
//! The guard is a fork that never execs, so it runs only async-signal-safe
//! calls (`setpgid`, `signal`, `close_range`, `read`, `killpg`, `_exit`)
//! and first closes every inherited descriptor but the lifeline: it must
//! not keep the daemon's socket, lock or logs open. It ignores SIGTERM so a
//! group stop by the daemon leaves it guarding until the SIGKILL that
//! follows every runtime exit. The runtime itself stays the daemon's direct
//! child, so its pid, exit status and OOM kills are seen as before; the
//! guard shows up in `ps` as `arw-guard` in the runtime's group.
//! A process that leaves the group on purpose (`setsid`, `setpgid`) is
//! beyond any group kill, the guard's included.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::Stdio;
use std::sync::OnceLock;

/// How long the group gets between SIGTERM and SIGKILL once the daemon is gone.
const GRACE_MS: i64 = 500;

/// Read and write ends of the lifeline, both close-on-exec so no runtime
/// inherits them.
static LIFELINE: OnceLock<Option<(OwnedFd, OwnedFd)>> = OnceLock::new();

fn lifeline_read_end() -> io::Result<RawFd> {
    let ends = LIFELINE.get_or_init(|| {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two descriptors we then own.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return None;
        }
        // SAFETY: both descriptors were just created and are owned by nobody else.
        Some(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
    });
    ends.as_ref().map(|(read, _)| read.as_raw_fd()).ok_or_else(io::Error::last_os_error)
}

/// Forks the guard of process group `pgid`. The returned child must be
/// waited for (it exits when the group is killed).
pub fn spawn(pgid: u32) -> io::Result<tokio::process::Child> {
    let read = lifeline_read_end()?;
    let pgid = pgid as libc::pid_t;
    // Never executed: the guard lives and dies inside `pre_exec`.
    let mut cmd = tokio::process::Command::new("/bin/true");
    cmd.env_clear().stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).kill_on_drop(false);
    // SAFETY: the closure only makes async-signal-safe system calls and
    // never returns after it has closed std's error pipe.
    unsafe {
        cmd.pre_exec(move || {
            // Before joining the group: a group SIGTERM must never run the
            // daemon's inherited handlers in here.
            for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT, libc::SIGPIPE] {
                libc::signal(sig, libc::SIG_IGN);
            }
            if libc::setpgid(0, pgid) != 0 {
                return Err(io::Error::last_os_error());
            }
            libc::prctl(libc::PR_SET_NAME, c"arw-guard".as_ptr() as libc::c_ulong, 0, 0, 0);
            close_all_but(read);
            let mut byte = 0u8;
            loop {
                let n = libc::read(read, (&mut byte as *mut u8).cast(), 1);
                if n < 0 && *libc::__errno_location() == libc::EINTR {
                    continue;
                }
                break;
            }
            libc::killpg(pgid, libc::SIGTERM);
            let pause = libc::timespec { tv_sec: 0, tv_nsec: GRACE_MS * 1_000_000 };
            libc::nanosleep(&pause, std::ptr::null_mut());
            libc::killpg(pgid, libc::SIGKILL);
            libc::_exit(0)
        });
    }
    cmd.spawn()
}

/// Closes every descriptor from 3 up except `keep`.
///
/// # Safety
/// Only for a freshly forked child that owns nothing it still needs.
unsafe fn close_all_but(keep: RawFd) {
    let close_range = |first: u32, last: u32| libc::syscall(libc::SYS_close_range, first, last, 0u32) == 0;
    let keep = keep as u32;
    let low = keep <= 3 || close_range(3, keep - 1);
    let high = close_range(keep + 1, u32::MAX);
    if !(low && high) {
        // Kernels before 5.9: close one by one.
        for fd in 3..65_536 {
            if fd != keep as i32 {
                libc::close(fd);
            }
        }
    }
}
