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

/// Starts a daemon inside namespace `ns` with no standard streams, so that the child
/// it forks keeps none of our pipes open; waits for the starter to exit.
pub fn start_daemon_in_ns(ns: &str, args: &[&str]) -> Result<()> {
    let status = Command::new("ip")
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
