//! The `xmpp` command-line tool.

fn main() {
    eprintln!("xmpp: no commands yet");
    std::process::exit(2);
}
