fn main() {
    eprintln!("gpu-node-agent: not implemented yet");
    std::process::exit(2);
}
