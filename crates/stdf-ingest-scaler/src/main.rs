fn main() {
    eprintln!("stdf-ingest-scaler: not implemented yet");
    std::process::exit(2);
}
