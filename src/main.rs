//! The `coldplug` command: thin, everything is in the library.

mod cli;
mod huge_pages;

#[global_allocator]
static ALLOC: huge_pages::HugePageHint = huge_pages::HugePageHint;

fn main() -> std::process::ExitCode {
    cli::run()
}
