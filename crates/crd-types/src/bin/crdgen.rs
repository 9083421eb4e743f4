//! Writes the CRD manifests of every mlfleet kind to `crds/` and `charts/mlfleet/crds/`
//! (or checks them with `--check`, or prints them with `--stdout`).

use std::path::PathBuf;
use std::process::ExitCode;

use crd_types::generate::{self, REGENERATE_COMMAND};

const USAGE: &str = "usage: crdgen [--check | --stdout] [--root <repo root>]

Writes crds/<plural>.<group>.yaml and charts/mlfleet/crds/<plural>.<group>.yaml.
  --check   compare instead of writing; exit 1 when a file differs
  --stdout  print every manifest as one multi-document YAML stream
  --root    repository root (default: the checkout this binary was built from)";

enum Mode {
    Write,
    Check,
    Stdout,
}

fn main() -> ExitCode {
    let mut mode = Mode::Write;
    let mut root = generate::repo_root();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--check" => mode = Mode::Check,
            "--stdout" => mode = Mode::Stdout,
            "--root" => match args.next() {
                Some(r) => root = PathBuf::from(r),
                None => {
                    eprintln!("--root needs a value\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("unknown argument {other:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    match run(mode, &root) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("crdgen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(mode: Mode, root: &std::path::Path) -> Result<ExitCode, generate::GenerateError> {
    match mode {
        Mode::Stdout => {
            for (_, yaml) in generate::render_all()? {
                print!("---\n{yaml}");
            }
        }
        Mode::Write => {
            for path in generate::write_all(root)? {
                println!("wrote {}", path.display());
            }
        }
        Mode::Check => {
            let drifts = generate::check_all(root)?;
            if !drifts.is_empty() {
                for d in &drifts {
                    eprintln!("{d}");
                }
                eprintln!("CRD manifests are out of date; run `{REGENERATE_COMMAND}`");
                return Ok(ExitCode::FAILURE);
            }
            println!("CRD manifests are up to date");
        }
    }
    Ok(ExitCode::SUCCESS)
}
