//! The `mailhooks` binary: parse the command line, set up logging, hand over to the
//! library.

fn main() {
    let cli = mailhooks::cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    std::process::exit(mailhooks::cli::run(cli));
}
