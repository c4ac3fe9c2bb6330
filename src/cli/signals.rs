//! Ctrl-C and SIGTERM. The first stops the reading: the analysis finishes
//! with what was read and the report is written, marked interrupted, as
//! tcpdump and tshark print what they have. The second aborts at once,
//! removing the report's temporary file first.

use std::ffi::CString;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

/// The temporary file being written, for the second signal to remove (a
/// leaked `CString`, so the handler reads it without allocating).
static TEMP_FILE: AtomicPtr<std::ffi::c_char> = AtomicPtr::new(std::ptr::null_mut());

/// Exit status of a run the second signal ended: 128 + SIGINT, as a shell
/// reports a command stopped by Ctrl-C.
const ABORTED: i32 = super::EXIT_INTERRUPTED as i32;

/// Installs the handlers; the flag they set is the analysis' interrupt.
#[cfg(unix)]
pub(super) fn install() -> Arc<AtomicBool> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        let seen = Arc::clone(&flag);
        // Registered first, so it sees the flag as the earlier signal left it.
        // SAFETY: the action only loads atomics and calls unlink(2) and
        // _exit(2), both async-signal-safe; it allocates nothing.
        let second = unsafe {
            signal_hook::low_level::register(sig, move || {
                if seen.load(Ordering::SeqCst) {
                    let temp = TEMP_FILE.load(Ordering::SeqCst);
                    if !temp.is_null() {
                        // A leaked, NUL-terminated CString (`temp_file`).
                        let path = std::ffi::CStr::from_ptr(temp);
                        let _ = rustix::fs::unlink(path);
                    }
                    signal_hook::low_level::exit(ABORTED);
                }
            })
        };
        let first = signal_hook::flag::register(sig, Arc::clone(&flag));
        if second.is_err() || first.is_err() {
            // Without handlers the default action stays: the run ends at the
            // first signal, and its temporary file with it.
            break;
        }
    }
    flag
}

#[cfg(not(unix))]
pub(super) fn install() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

/// Notes `path` as the file a second signal must remove (`None`: none).
/// The path's bytes are leaked, never freed: the handler may be reading the
/// previous one at any moment, and a run writes at most three files.
pub(super) fn temp_file(path: Option<&Path>) {
    let new = path
        .and_then(|p| CString::new(p.as_os_str().as_encoded_bytes()).ok())
        .map_or(std::ptr::null_mut(), CString::into_raw);
    TEMP_FILE.store(new, Ordering::SeqCst);
}
