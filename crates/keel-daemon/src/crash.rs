//! What a crash does: a panic on any thread or task (the VRRP thread, a
//! socket reader, the LVS worker, the services) sends the prepared
//! hand-over ([`keel_linux::emergency`]: priority 0 for every MASTER
//! instance, VIP deletions) and ends the process with [`EXIT_PANIC`], so the
//! peer takes over in Skew_Time instead of Master_Down_Interval and the
//! VIPs are not left on both nodes. Fatal signals do the same from the
//! signal handler `keel_linux::emergency::install` sets up.
//!
//! A half-dead daemon is worse than a dead one: a socket reader that
//! panicked would silently leave its instance deaf (and soon MASTER), a
//! dead LVS worker would freeze the checks. Hence the whole process goes,
//! and the service manager restarts it. That includes a panicking health
//! probe task, which keel-check's runner alone would count as a failed check.

/// Exit status after a panic (`EX_SOFTWARE`).
pub const EXIT_PANIC: i32 = 70;

/// Installs the panic hook. The standard hook still prints the message,
/// after the hand-over went out (every millisecond counts at the peer).
pub fn install_panic_hook() {
    let print = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let sent = keel_linux::emergency::fire();
        print(info);
        eprintln!("keel: fatal panic; {sent} hand-over packets sent, exiting");
        keel_linux::emergency::exit_now(EXIT_PANIC);
    }));
}

/// Fault injection for the crash tests, compiled into debug builds only:
/// `KEEL_FAULT_INJECT=panic-vrrp|panic-reader|panic-lvs|panic-main|segv|abort`,
/// read once at start, fires on the next SIGUSR1.
#[cfg(debug_assertions)]
pub mod fault {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Fault {
        PanicVrrp,
        PanicReader,
        PanicLvs,
        PanicMain,
        Segv,
        Abort,
    }

    static FAULT: OnceLock<Option<Fault>> = OnceLock::new();
    static TRIGGERED: AtomicBool = AtomicBool::new(false);

    /// Reads `KEEL_FAULT_INJECT`.
    pub fn init() {
        FAULT.get_or_init(|| {
            let f = match std::env::var("KEEL_FAULT_INJECT").ok()?.as_str() {
                "panic-vrrp" => Fault::PanicVrrp,
                "panic-reader" => Fault::PanicReader,
                "panic-lvs" => Fault::PanicLvs,
                "panic-main" => Fault::PanicMain,
                "segv" => Fault::Segv,
                "abort" => Fault::Abort,
                other => {
                    tracing::warn!("KEEL_FAULT_INJECT={other} unknown");
                    return None;
                }
            };
            tracing::warn!("fault injection armed: {f:?} on SIGUSR1");
            Some(f)
        });
    }

    fn armed() -> Option<Fault> {
        FAULT.get().copied().flatten()
    }

    /// SIGUSR1 reached the services: fire the main-thread faults, arm the
    /// others.
    pub fn on_sigusr1() {
        match armed() {
            Some(Fault::PanicMain) => panic!("injected fault: panic-main"),
            Some(Fault::Segv) => {
                let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSEGV);
            }
            Some(Fault::Abort) => std::process::abort(),
            Some(_) => TRIGGERED.store(true, Ordering::SeqCst),
            None => {}
        }
    }

    /// Whether `f` is armed and was triggered: the caller panics.
    pub fn due(f: Fault) -> bool {
        armed() == Some(f) && TRIGGERED.load(Ordering::SeqCst)
    }
}
