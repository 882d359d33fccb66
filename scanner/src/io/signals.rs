//! Stop signals: Ctrl-C (SIGINT) and SIGTERM both ask a scan to stop cleanly (resume
//! state and logs written, outputs flushed) instead of killing it where it stands;
//! the exit status then says which came, as a shell reports a process a signal
//! killed (130 for SIGINT, 143 for SIGTERM).
//!
//! On Windows, Ctrl-C stands for SIGINT and Ctrl-Break for SIGTERM.
//!
//! This module only listens; what stopping means is each scan's business.

use anyhow::{Context, Result};
#[cfg(unix)]
use tokio::signal::unix::{signal, Signal, SignalKind};
#[cfg(windows)]
use tokio::signal::windows::{ctrl_break, ctrl_c, CtrlBreak, CtrlC};

/// Which signal asked the scan to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGINT: Ctrl-C at a terminal.
    Interrupt,
    /// SIGTERM: `kill`, a service manager, a timeout.
    Terminate,
}

impl StopSignal {
    /// The exit status of a scan this signal stopped: 128 + the signal's number.
    pub fn exit_code(self) -> i32 {
        128 + match self {
            StopSignal::Interrupt => libc::SIGINT,
            StopSignal::Terminate => libc::SIGTERM,
        }
    }

    /// How a user would name it.
    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "interrupted (SIGINT)",
            StopSignal::Terminate => "terminated (SIGTERM)",
        }
    }
}

/// SIGINT and SIGTERM, caught from the moment this is made (inside a tokio runtime)
/// until it is dropped; one that comes before [`StopSignals::recv`] is asked is kept.
#[cfg(unix)]
pub struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
}

/// Ctrl-C and Ctrl-Break, as [`StopSignals`] elsewhere.
#[cfg(windows)]
pub struct StopSignals {
    interrupt: CtrlC,
    terminate: CtrlBreak,
}

#[cfg(windows)]
impl StopSignals {
    pub fn listen() -> Result<Self> {
        Ok(Self {
            interrupt: ctrl_c().context("catching Ctrl-C")?,
            terminate: ctrl_break().context("catching Ctrl-Break")?,
        })
    }
}

#[cfg(unix)]
impl StopSignals {
    pub fn listen() -> Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("catching SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("catching SIGTERM")?,
        })
    }
}

impl StopSignals {
    /// Waits for the next stop signal.
    pub async fn recv(&mut self) -> StopSignal {
        tokio::select! {
            _ = self.interrupt.recv() => StopSignal::Interrupt,
            _ = self.terminate.recv() => StopSignal::Terminate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_the_shells() {
        assert_eq!(StopSignal::Interrupt.exit_code(), 130);
        assert_eq!(StopSignal::Terminate.exit_code(), 143);
    }

    #[test]
    fn both_signals_are_caught_and_told_apart() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut stop = StopSignals::listen().unwrap();
            for (signo, expected) in [
                (libc::SIGTERM, StopSignal::Terminate),
                (libc::SIGINT, StopSignal::Interrupt),
            ] {
                // SAFETY: raise(3) sends a signal to this process, which catches it.
                assert_eq!(unsafe { libc::raise(signo) }, 0);
                let got = tokio::time::timeout(std::time::Duration::from_secs(5), stop.recv())
                    .await
                    .expect("the signal was not seen");
                assert_eq!(got, expected);
            }
        });
    }
}
