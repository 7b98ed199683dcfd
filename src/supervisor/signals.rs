//! Signal handling with signal-hook on a dedicated thread: SIGTERM/SIGINT
//! become [`Event::Stop`], SIGHUP [`Event::Reload`], and SIGCHLD reaps
//! zombies right there (no async runtime needed to stay clean).

use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};

use super::error::SupervisorError;
use super::events::{Event, EventSender};
use super::reaper::reap_zombies;

/// The installed handlers; dropping it stops the signal thread.
pub struct SignalListener {
    handle: Handle,
}

impl SignalListener {
    /// Installs the handlers and starts the thread. Call early: until this
    /// runs, SIGTERM to PID 1 is ignored by the kernel.
    pub fn install(events: EventSender) -> Result<Self, SupervisorError> {
        let mut signals =
            Signals::new([SIGTERM, SIGINT, SIGHUP, SIGCHLD]).map_err(SupervisorError::Signals)?;
        let handle = signals.handle();
        // Children that exited before the handler existed.
        reap_zombies();
        std::thread::Builder::new()
            .name("moat-signals".into())
            .spawn(move || {
                for signal in signals.forever() {
                    let event = match signal {
                        SIGCHLD => {
                            reap_zombies();
                            continue;
                        }
                        SIGTERM => Event::Stop("SIGTERM"),
                        SIGINT => Event::Stop("SIGINT"),
                        SIGHUP => Event::Reload("SIGHUP".into()),
                        _ => continue,
                    };
                    if events.send(event).is_err() {
                        break;
                    }
                }
            })
            .map_err(SupervisorError::Signals)?;
        Ok(SignalListener { handle })
    }
}

impl Drop for SignalListener {
    fn drop(&mut self) {
        self.handle.close();
    }
}
