//! The `teardown` binary: parse flags, run, map the outcome to an exit code.

use std::process::ExitCode;

use tcp_teardown::cli;

// Connections allocate and free many small objects (Zeek sessions, history,
// evidence, report records) on several threads; mimalloc's thread-local free
// lists do that in fewer instructions than glibc malloc (docs/performance.md).
// With the `override` feature it serves the C library's own allocations too.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match cli::run() {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`teardown ... | head`) is not an error.
            if err
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("teardown: {err:#}");
            ExitCode::from(cli::EXIT_TROUBLE)
        }
    }
}
