//! Command-line and environment configuration shared by every mlfleet binary.
//!
//! [`CommonArgs`] is flattened into each binary's `run` subcommand. Every flag can also be
//! set through the environment variable listed in the binary CLI contract; an explicit
//! flag wins over the environment, and the environment wins over the default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

/// Output format of the process logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line (the default, for log shippers).
    #[default]
    Json,
    /// Human-readable text with ANSI colours disabled.
    Text,
}

/// Flags common to every mlfleet binary (admin server, gRPC, logs, leader election, TLS).
#[derive(Clone, Debug, PartialEq, Eq, Args)]
pub struct CommonArgs {
    /// Address of the admin HTTP server serving /metrics, /healthz and /readyz.
    #[arg(long, env = "MLFLEET_ADMIN_ADDR", default_value = "0.0.0.0:8080")]
    pub admin_addr: SocketAddr,

    /// Address the gRPC server listens on.
    #[arg(long, env = "MLFLEET_GRPC_ADDR", default_value = "0.0.0.0:9090")]
    pub grpc_addr: SocketAddr,

    /// Log output format.
    #[arg(long, env = "MLFLEET_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,

    /// Log filter in tracing EnvFilter syntax, e.g. `info,kube=warn`.
    #[arg(long, env = "MLFLEET_LOG", default_value = "info")]
    pub log_level: String,

    /// Run Lease-based leader election before reconciling (`--leader-elect=false` to disable).
    #[arg(
        long,
        env = "MLFLEET_LEADER_ELECT",
        default_value_t = true,
        num_args = 0..=1,
        default_missing_value = "true",
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new(),
    )]
    pub leader_elect: bool,

    /// Name of the coordination.k8s.io Lease used for leader election [default: binary name].
    #[arg(long, env = "MLFLEET_LEASE_NAME")]
    pub lease_name: Option<String>,

    /// Namespace of the leader-election Lease.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,

    /// Lease duration in seconds: a leader that stops renewing loses the Lease after this long.
    #[arg(
        long,
        env = "MLFLEET_LEASE_DURATION_SECONDS",
        default_value_t = 15,
        value_parser = clap::value_parser!(u64).range(2..=3600),
    )]
    pub lease_duration_seconds: u64,

    /// Identity written into the Lease holder field [default: hostname].
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,

    /// PEM certificate chain for the gRPC server (enables TLS; needs --tls-key).
    #[arg(long, env = "MLFLEET_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for the gRPC server certificate.
    #[arg(long, env = "MLFLEET_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// PEM CA bundle; when set, gRPC clients must present a certificate signed by it.
    #[arg(long, env = "MLFLEET_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
}

/// File paths of the gRPC server TLS material.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// Optional PEM CA bundle used to verify client certificates (mutual TLS).
    pub client_ca: Option<PathBuf>,
}

impl CommonArgs {
    /// The Lease name, falling back to the binary name when `--lease-name` is unset.
    pub fn lease_name_or(&self, binary: &str) -> String {
        self.lease_name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| binary.to_string())
    }

    /// The leader-election identity, falling back to the hostname when `--identity` is unset.
    pub fn identity_or_hostname(&self) -> String {
        self.identity
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(hostname)
    }

    /// The lease duration as a [`Duration`].
    pub fn lease_duration(&self) -> Duration {
        Duration::from_secs(self.lease_duration_seconds)
    }

    /// The TLS files for the gRPC server, if `--tls-cert` and `--tls-key` were given.
    pub fn tls_files(&self) -> Option<TlsFiles> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: self.tls_client_ca.clone(),
            }),
            _ => None,
        }
    }
}

/// The host name of this machine (`HOSTNAME`, then the kernel's host name), or a
/// process-unique fallback so two replicas never share an identity.
pub fn hostname() -> String {
    let from_env = std::env::var("HOSTNAME").ok();
    let from_kernel = || {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .ok()
    };
    from_env
        .or_else(from_kernel)
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("mlfleet-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        common: CommonArgs,
    }

    /// Env vars of the contract that, when set in the test environment, would change defaults.
    const CONTRACT_ENV: &[&str] = &[
        "MLFLEET_ADMIN_ADDR",
        "MLFLEET_GRPC_ADDR",
        "MLFLEET_LOG_FORMAT",
        "MLFLEET_LOG",
        "MLFLEET_LEADER_ELECT",
        "MLFLEET_LEASE_NAME",
        "POD_NAMESPACE",
        "MLFLEET_LEASE_DURATION_SECONDS",
        "POD_NAME",
        "MLFLEET_TLS_CERT",
        "MLFLEET_TLS_KEY",
        "MLFLEET_TLS_CLIENT_CA",
    ];

    fn contract_env_clear() -> bool {
        CONTRACT_ENV.iter().all(|k| std::env::var_os(k).is_none())
    }

    fn parse(args: &[&str]) -> Result<CommonArgs, clap::Error> {
        let mut full = vec!["bin"];
        full.extend_from_slice(args);
        Cli::try_parse_from(full).map(|c| c.common)
    }

    #[test]
    fn defaults_match_the_contract() {
        if !contract_env_clear() {
            eprintln!("skipping: contract env vars are set in this environment");
            return;
        }
        let a = parse(&[]).unwrap();
        assert_eq!(a.admin_addr, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(a.grpc_addr, "0.0.0.0:9090".parse().unwrap());
        assert_eq!(a.log_format, LogFormat::Json);
        assert_eq!(a.log_level, "info");
        assert!(a.leader_elect);
        assert_eq!(a.lease_name_or("training-operator"), "training-operator");
        assert_eq!(a.lease_namespace, "default");
        assert_eq!(a.lease_duration(), Duration::from_secs(15));
        assert!(!a.identity_or_hostname().is_empty());
        assert_eq!(a.tls_files(), None);
    }

    #[test]
    fn flags_override_defaults() {
        let a = parse(&[
            "--admin-addr=127.0.0.1:18080",
            "--grpc-addr",
            "127.0.0.1:19090",
            "--log-format",
            "text",
            "--log-level",
            "debug,kube=warn",
            "--leader-elect=false",
            "--lease-name",
            "my-lease",
            "--lease-namespace",
            "ml",
            "--lease-duration-seconds",
            "4",
            "--identity",
            "pod-a",
            "--tls-cert",
            "/c.pem",
            "--tls-key",
            "/k.pem",
            "--tls-client-ca",
            "/ca.pem",
        ])
        .unwrap();
        assert_eq!(a.admin_addr.port(), 18080);
        assert_eq!(a.grpc_addr.port(), 19090);
        assert_eq!(a.log_format, LogFormat::Text);
        assert_eq!(a.log_level, "debug,kube=warn");
        assert!(!a.leader_elect);
        assert_eq!(a.lease_name_or("x"), "my-lease");
        assert_eq!(a.lease_namespace, "ml");
        assert_eq!(a.lease_duration_seconds, 4);
        assert_eq!(a.identity_or_hostname(), "pod-a");
        assert_eq!(
            a.tls_files(),
            Some(TlsFiles {
                cert: "/c.pem".into(),
                key: "/k.pem".into(),
                client_ca: Some("/ca.pem".into()),
            })
        );
    }

    #[test]
    fn bare_leader_elect_flag_means_true() {
        let a = parse(&["--leader-elect"]).unwrap();
        assert!(a.leader_elect);
        let b = parse(&["--leader-elect", "no"]).unwrap();
        assert!(!b.leader_elect);
    }

    #[test]
    fn bad_values_are_rejected_with_errors() {
        assert!(parse(&["--admin-addr", "not-an-addr"]).is_err());
        assert!(parse(&["--log-format", "xml"]).is_err());
        assert!(parse(&["--lease-duration-seconds", "0"]).is_err());
        assert!(parse(&["--lease-duration-seconds", "ten"]).is_err());
        // A certificate without its key (and vice versa) is a usage error.
        assert!(parse(&["--tls-cert", "/c.pem"]).is_err());
        assert!(parse(&["--tls-key", "/k.pem"]).is_err());
        assert!(parse(&["--tls-client-ca", "/ca.pem"]).is_err());
    }

    #[test]
    fn every_flag_has_the_contract_env_var() {
        let cmd = Cli::command();
        let expected = [
            ("admin_addr", "MLFLEET_ADMIN_ADDR"),
            ("grpc_addr", "MLFLEET_GRPC_ADDR"),
            ("log_format", "MLFLEET_LOG_FORMAT"),
            ("log_level", "MLFLEET_LOG"),
            ("leader_elect", "MLFLEET_LEADER_ELECT"),
            ("lease_name", "MLFLEET_LEASE_NAME"),
            ("lease_namespace", "POD_NAMESPACE"),
            ("lease_duration_seconds", "MLFLEET_LEASE_DURATION_SECONDS"),
            ("identity", "POD_NAME"),
            ("tls_cert", "MLFLEET_TLS_CERT"),
            ("tls_key", "MLFLEET_TLS_KEY"),
            ("tls_client_ca", "MLFLEET_TLS_CLIENT_CA"),
        ];
        for (id, env) in expected {
            let arg = cmd
                .get_arguments()
                .find(|a| a.get_id() == id)
                .unwrap_or_else(|| panic!("missing flag {id}"));
            assert_eq!(arg.get_env().and_then(|e| e.to_str()), Some(env), "{id}");
        }
    }

    /// Re-runs this test binary with contract env vars set, so the parent's environment is
    /// never mutated; the child asserts on what clap read from the environment.
    #[test]
    fn env_vars_are_read() {
        if std::env::var_os("MLFLEET_CONFIG_ENV_CHILD").is_some() {
            let a = parse(&[]).unwrap();
            assert_eq!(a.admin_addr, "127.0.0.1:7001".parse().unwrap());
            assert_eq!(a.log_format, LogFormat::Text);
            assert!(!a.leader_elect);
            assert_eq!(a.lease_namespace, "team-a");
            assert_eq!(a.lease_duration_seconds, 6);
            assert_eq!(a.identity_or_hostname(), "pod-7");
            // An explicit flag still wins over the environment.
            let b = parse(&["--lease-namespace", "flag-ns"]).unwrap();
            assert_eq!(b.lease_namespace, "flag-ns");
            return;
        }
        let exe = std::env::current_exe().unwrap();
        let out = std::process::Command::new(exe)
            .args(["--exact", "config::tests::env_vars_are_read", "--nocapture"])
            .env("MLFLEET_CONFIG_ENV_CHILD", "1")
            .env("MLFLEET_ADMIN_ADDR", "127.0.0.1:7001")
            .env("MLFLEET_LOG_FORMAT", "text")
            .env("MLFLEET_LEADER_ELECT", "false")
            .env("POD_NAMESPACE", "team-a")
            .env("MLFLEET_LEASE_DURATION_SECONDS", "6")
            .env("POD_NAME", "pod-7")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "child failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Guard against the filter matching nothing (which would also exit 0).
        assert!(stdout.contains("1 passed"), "child ran no test: {stdout}");
    }
}
