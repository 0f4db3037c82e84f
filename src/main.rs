//! The `coldplug` command: thin, everything is in the library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::run()
}
