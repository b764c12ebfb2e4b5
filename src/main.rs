//! `clobchain`: the node, command-line client and load tester (being built; see README.md).

fn main() -> anyhow::Result<()> {
    let command = std::env::args().nth(1);
    match command.as_deref() {
        Some("--version") | Some("-V") => {
            println!("clobchain {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        _ => {
            eprintln!(
                "clobchain {}: only the matching engine exists so far; \
                 the node, client and load tester are not built yet (see README.md).",
                env!("CARGO_PKG_VERSION")
            );
            std::process::exit(2)
        }
    }
}
