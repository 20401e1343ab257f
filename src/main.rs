//! The `trm-gpu` command line.
#[cfg(not(target_arch = "wasm32"))]
mod cli;

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    // Exit quietly when stdout is a pipe that closed (`trm-gpu bench | head`), as Unix tools do; Rust's default
    // ignores SIGPIPE and then panics in println!. Files are written atomically, so nothing is left half-written.
    #[cfg(unix)]
    // SAFETY: called first, before any thread starts; restores the default disposition of one signal.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    if let Err(e) = cli::main() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

#[cfg(target_arch = "wasm32")]
fn main() {}
