//! Running external commands (ip, iptables, apt-get, cargo, daemons) with errors that
//! name the command that failed and show what it printed.

use anyhow::{bail, Context, Result};
use std::process::{Command, Output, Stdio};

/// Runs `program args...` and fails with its stderr if it exits non-zero.
pub fn run(program: &str, args: &[&str]) -> Result<()> {
    output(program, args).map(|_| ())
}

/// Runs `program args...`, fails if it exits non-zero, and returns its stdout.
pub fn output(program: &str, args: &[&str]) -> Result<String> {
    let out = capture(program, args)?;
    if !out.status.success() {
        bail!(
            "`{} {}` failed ({}): {}",
            program,
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `program args...` and returns whatever happened, success or not.
pub fn capture(program: &str, args: &[&str]) -> Result<Output> {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| {
            format!("could not start `{program}`: is it installed? (`cargo xtask setup`)")
        })
}

/// Runs `program args...` with its output going to ours (for long builds), failing
/// if it exits non-zero.
pub fn run_visible(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("could not start {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}

/// Runs `args` inside network namespace `ns` (`ip netns exec ns ...`).
pub fn in_ns(ns: &str, args: &[&str]) -> Result<()> {
    let mut full = vec!["netns", "exec", ns];
    full.extend_from_slice(args);
    run("ip", &full)
}

/// Starts a daemon inside namespace `ns` with no standard streams and none of our
/// other descriptors, so that the child it forks keeps none of our pipes open, nor
/// the lab lock of `flock /tmp/scanner-lab.lock cargo xtask lab up` (held by a
/// daemon, the lock would never be free again); waits for the starter to exit.
pub fn start_daemon_in_ns(ns: &str, args: &[&str]) -> Result<()> {
    let status = without_inherited_descriptors("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .with_context(|| format!("could not start {args:?} in {ns}"))?;
    if !status.success() {
        bail!("`{}` in {ns} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// A command for `program` that gets none of our descriptors but the standard
/// streams, even those we inherited without close-on-exec (flock's lock).
fn without_inherited_descriptors(program: &str) -> Command {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(program);
    // SAFETY: close_range(2) is async-signal-safe and touches no memory; it runs in
    // the child between fork and exec, and only marks descriptors close-on-exec
    // (std's own error pipe already is).
    unsafe {
        command.pre_exec(|| {
            libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            Ok(())
        });
    }
    command
}

/// What [`measured_in_ns`] saw of one run.
#[derive(Debug)]
pub struct Measured {
    pub stdout: String,
    pub seconds: f64,
    /// Stopped at the time limit.
    pub stopped: bool,
    /// Whether it exited with status 0.
    pub success: bool,
    /// Peak resident memory, in bytes.
    pub peak_bytes: u64,
    /// CPU time the process used, user and system.
    pub cpu_seconds: f64,
}

/// Runs `program args...` in namespace `ns` (`ip netns exec` execs it, so the child
/// is the program itself), stopping it with SIGKILL after `limit`; its stdout, wall
/// time and peak memory.
pub fn measured_in_ns(
    ns: &str,
    program: &str,
    args: &[String],
    limit: std::time::Duration,
) -> Result<Measured> {
    use std::io::Read;
    let started = std::time::Instant::now();
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, program])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("could not start `{program}` in {ns}"))?;
    let pid = child.id() as libc::pid_t;
    let mut stdout = child.stdout.take().context("stdout")?;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let mut stopped = false;
    // SAFETY: wait4 and kill on our own child's pid, with valid out-pointers.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut status = 0;
    loop {
        let done = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if done == pid {
            break;
        }
        if done < 0 {
            bail!(
                "waiting for `{program}`: {}",
                std::io::Error::last_os_error()
            );
        }
        if started.elapsed() > limit && !stopped {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            stopped = true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The child was reaped by wait4 above; std's handle has nothing left to wait for.
    drop(child);
    Ok(Measured {
        stdout: reader.join().unwrap_or_default(),
        seconds: started.elapsed().as_secs_f64(),
        stopped,
        success: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        peak_bytes: usage.ru_maxrss as u64 * 1024,
        cpu_seconds: seconds_of(usage.ru_utime) + seconds_of(usage.ru_stime),
    })
}

fn seconds_of(time: libc::timeval) -> f64 {
    time.tv_sec as f64 + time.tv_usec as f64 / 1e6
}

/// CPU time the whole machine has spent busy so far (every CPU: user, system,
/// interrupts, softirqs), in seconds: what a run costs wherever the kernel charges it.
pub fn machine_busy_seconds() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let line = stat.lines().next().context("empty /proc/stat")?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal …
    let busy: u64 = ticks.iter().take(8).sum::<u64>()
        - ticks.get(3).copied().unwrap_or(0)
        - ticks.get(4).copied().unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok(busy as f64 / hz)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemons_get_none_of_our_descriptors() {
        let file = std::fs::File::open("/dev/null").unwrap();
        // F_DUPFD leaves the copy without close-on-exec, as flock(1) leaves its lock;
        // a high number no child opens of its own.
        // SAFETY: a copy of a descriptor we own; closed below.
        let inherited =
            unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&file), libc::F_DUPFD, 500) };
        assert!(inherited >= 500);
        let listed = |mut command: Command| {
            let out = command.args(["/proc/self/fd"]).output().unwrap();
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .any(|fd| fd == inherited.to_string())
        };
        assert!(listed(Command::new("ls")), "the plain child inherits it");
        assert!(!listed(without_inherited_descriptors("ls")));
        // SAFETY: our own copy.
        unsafe { libc::close(inherited) };
    }
}
