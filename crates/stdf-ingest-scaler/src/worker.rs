//! The parser worker (`stdf-ingest-scaler worker`): claims a file over StdfWork,
//! parses it with the STDF codec, writes the tables, reports, and repeats.
//!
//! Output objects are written create-only: a file retried after a worker died
//! mid-upload keeps the tables the first attempt finished (they are byte-identical,
//! the conversion is deterministic) and writes only the missing ones, so no output
//! object is ever written twice, and each single put is atomic (a local file is
//! written to a temporary name and renamed), so none is left half-written.

use std::path::{Path as FsPath, PathBuf};
use std::time::{Duration, Instant};

use mlfleet_proto::ingest::v1 as ingest;
use mlfleet_proto::ingest::v1::stdf_work_client::StdfWorkClient;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use tonic::transport::Channel;

use crate::location::{Location, S3Settings};

/// Worker settings.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// `namespace/name` of the STDFParserJob to work on.
    pub job: String,
    pub worker_id: String,
    pub s3: S3Settings,
    /// Local scratch folder for downloads and conversions.
    pub scratch: PathBuf,
    /// Exit once the scaler says a Batch job is done (otherwise keep polling).
    pub exit_when_done: bool,
    /// Stop after this many files (0: no limit); for tests and benchmarks.
    pub max_files: u64,
}

/// Why a file could not be parsed.
#[derive(Debug, thiserror::Error)]
pub enum ParseFailure {
    /// The file is bad: quarantine.
    #[error("corrupt STDF: {0}")]
    Corrupt(String),
    /// Anything else: retry.
    #[error("{0}")]
    Transient(String),
}

/// Worker errors that stop the loop.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("scaler call failed: {0}")]
    Rpc(#[from] tonic::Status),
    #[error("invalid job {0:?}: use namespace/name")]
    Job(String),
}

/// What one run of the loop did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerSummary {
    pub parsed: u64,
    pub failed: u64,
}

fn classify(e: stdf::StdfError) -> ParseFailure {
    use std::io::ErrorKind;
    match e {
        stdf::StdfError::Io { ref source, .. }
            if !matches!(
                source.kind(),
                ErrorKind::InvalidData | ErrorKind::UnexpectedEof
            ) =>
        {
            ParseFailure::Transient(e.to_string())
        }
        stdf::StdfError::Output { .. } | stdf::StdfError::Export { .. } => {
            ParseFailure::Transient(e.to_string())
        }
        other => ParseFailure::Corrupt(other.to_string()),
    }
}

fn transient(e: impl std::fmt::Display) -> ParseFailure {
    ParseFailure::Transient(e.to_string())
}

/// Copy the source object to a local file (a `file://` source is read in place).
async fn fetch(uri: &str, s3: &S3Settings, scratch: &FsPath) -> Result<PathBuf, ParseFailure> {
    if let Some(path) = uri.strip_prefix("file://") {
        return Ok(PathBuf::from(path));
    }
    let (bucket_uri, key) = match Location::parse(uri).map_err(transient)? {
        Location::S3 { bucket, prefix } => (format!("s3://{bucket}"), Path::from(prefix.as_str())),
        Location::File { .. } => unreachable!("file:// handled above"),
    };
    let store = Location::parse(&bucket_uri)
        .map_err(transient)?
        .open(s3)
        .map_err(transient)?;
    let bytes = store
        .get(&key)
        .await
        .map_err(transient)?
        .bytes()
        .await
        .map_err(transient)?;
    let local = scratch.join("input.stdf");
    tokio::fs::write(&local, &bytes).await.map_err(transient)?;
    Ok(local)
}

/// Upload every produced file create-only; returns output bytes.
async fn publish(
    files: &[PathBuf],
    output_uri: &str,
    s3: &S3Settings,
) -> Result<u64, ParseFailure> {
    let loc = Location::parse(output_uri).map_err(transient)?;
    let store = loc.open(s3).map_err(transient)?;
    let prefix = loc.prefix();
    let mut total = 0;
    for f in files {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("table");
        let body = tokio::fs::read(f).await.map_err(transient)?;
        total += body.len() as u64;
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match store
            .put_opts(&prefix.clone().join(name), PutPayload::from(body), opts)
            .await
        {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => {}
            Err(e) => return Err(transient(e)),
        }
    }
    Ok(total)
}

fn options(lease: &ingest::FileLease) -> stdf::ConvertOptions {
    let format = match ingest::OutputFormat::try_from(lease.output_format) {
        Ok(ingest::OutputFormat::Csv) => stdf::Format::Csv,
        _ => stdf::Format::Parquet,
    };
    let layout = match ingest::OutputLayout::try_from(lease.output_layout) {
        Ok(ingest::OutputLayout::Records) => stdf::Layout::Records,
        Ok(ingest::OutputLayout::Measurements) => stdf::Layout::Measurements,
        _ => stdf::Layout::Both,
    };
    stdf::ConvertOptions {
        format,
        layout,
        ..stdf::ConvertOptions::default()
    }
}

/// Parse one leased file; returns the stats to report.
pub async fn process(
    lease: &ingest::FileLease,
    cfg: &WorkerConfig,
) -> Result<ingest::FileStats, ParseFailure> {
    let started = Instant::now();
    let scratch = cfg.scratch.join(crate::journal::file_id(&lease.lease_id));
    let _ = tokio::fs::remove_dir_all(&scratch).await;
    tokio::fs::create_dir_all(&scratch)
        .await
        .map_err(transient)?;
    let result = async {
        let input = fetch(&lease.file_uri, &cfg.s3, &scratch).await?;
        let out_dir = scratch.join("out");
        let opts = options(lease);
        let stats =
            tokio::task::spawn_blocking(move || stdf::convert_path(&input, &out_dir, &opts))
                .await
                .map_err(transient)?
                .map_err(classify)?;
        let output_bytes = publish(&stats.files, &lease.output_uri, &cfg.s3).await?;
        Ok(ingest::FileStats {
            records: stats.records.values().sum(),
            rows_per_table: stats.rows.clone().into_iter().collect(),
            input_bytes: stats.bytes_in,
            output_bytes,
            duration: Some(prost_types::Duration {
                seconds: started.elapsed().as_secs() as i64,
                nanos: started.elapsed().subsec_nanos() as i32,
            }),
            output_uri: lease.output_uri.clone(),
        })
    }
    .await;
    let _ = tokio::fs::remove_dir_all(&scratch).await;
    result
}

fn to_std(d: Option<&prost_types::Duration>, default: Duration) -> Duration {
    d.map(|d| Duration::new(d.seconds.max(0) as u64, d.nanos.max(0) as u32))
        .filter(|d| !d.is_zero())
        .unwrap_or(default)
}

/// Whether a failed call is worth repeating: the scaler restarting, or not yet serving
/// the job again after a restart.
fn retryable(s: &tonic::Status) -> bool {
    use tonic::Code;
    matches!(
        s.code(),
        Code::Unavailable
            | Code::NotFound
            | Code::Unknown
            | Code::DeadlineExceeded
            | Code::Cancelled
    )
}

/// Repeat `call` while the scaler is unreachable or restarting, up to `patience`.
async fn patiently<T, F, Fut>(patience: Duration, mut call: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    let deadline = Instant::now() + patience;
    let mut delay = Duration::from_millis(200);
    loop {
        match call().await {
            Err(s) if retryable(&s) && Instant::now() + delay < deadline => {
                tracing::warn!(code = ?s.code(), error = %s.message(), "scaler unavailable; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}

/// How long a worker waits for a restarting scaler before giving up.
const PATIENCE: Duration = Duration::from_secs(300);

/// Claim and parse files until the job is done (or forever in Continuous mode).
pub async fn run(
    client: StdfWorkClient<Channel>,
    cfg: WorkerConfig,
) -> Result<WorkerSummary, WorkerError> {
    let (namespace, name) = cfg
        .job
        .split_once('/')
        .ok_or_else(|| WorkerError::Job(cfg.job.clone()))?;
    let job = ingest::JobRef {
        namespace: namespace.into(),
        name: name.into(),
    };
    let mut summary = WorkerSummary::default();
    loop {
        if cfg.max_files > 0 && summary.parsed + summary.failed >= cfg.max_files {
            return Ok(summary);
        }
        let claim = ingest::ClaimFileRequest {
            worker_id: cfg.worker_id.clone(),
            job: Some(job.clone()),
        };
        let resp = patiently(PATIENCE, || {
            let mut c = client.clone();
            let req = claim.clone();
            async move { c.claim_file(req).await }
        })
        .await?
        .into_inner();
        let lease = match resp.outcome {
            Some(ingest::claim_file_response::Outcome::Lease(l)) => l,
            Some(ingest::claim_file_response::Outcome::NoWork(w)) => {
                if cfg.exit_when_done && w.reason == ingest::NoWorkReason::JobDone as i32 {
                    tracing::info!(
                        parsed = summary.parsed,
                        failed = summary.failed,
                        "job done; worker exits"
                    );
                    return Ok(summary);
                }
                tokio::time::sleep(to_std(w.retry_after.as_ref(), Duration::from_secs(1))).await;
                continue;
            }
            None => {
                return Err(WorkerError::Rpc(tonic::Status::internal(
                    "empty claim response",
                )));
            }
        };
        tracing::info!(file = %lease.file_uri, attempt = lease.attempt, "claimed");
        let beat = spawn_heartbeat(client.clone(), &lease, &cfg.worker_id);
        let outcome = process(&lease, &cfg).await;
        beat.abort();
        match outcome {
            Ok(stats) => {
                let req = ingest::CompleteFileRequest {
                    lease_id: lease.lease_id.clone(),
                    worker_id: cfg.worker_id.clone(),
                    stats: Some(stats),
                };
                patiently(PATIENCE, || {
                    let mut c = client.clone();
                    let req = req.clone();
                    async move { c.complete_file(req).await }
                })
                .await?;
                summary.parsed += 1;
                tracing::info!(file = %lease.file_uri, "parsed");
            }
            Err(f) => {
                let class = match f {
                    ParseFailure::Corrupt(_) => ingest::ErrorClass::Corrupt,
                    ParseFailure::Transient(_) => ingest::ErrorClass::Transient,
                };
                tracing::warn!(file = %lease.file_uri, error = %f, "parse failed");
                let req = ingest::FailFileRequest {
                    lease_id: lease.lease_id.clone(),
                    worker_id: cfg.worker_id.clone(),
                    error_class: class as i32,
                    message: f.to_string(),
                };
                patiently(PATIENCE, || {
                    let mut c = client.clone();
                    let req = req.clone();
                    async move { c.fail_file(req).await }
                })
                .await?;
                summary.failed += 1;
            }
        }
    }
}

fn spawn_heartbeat(
    mut client: StdfWorkClient<Channel>,
    lease: &ingest::FileLease,
    worker: &str,
) -> tokio::task::JoinHandle<()> {
    let every = to_std(lease.heartbeat_interval.as_ref(), Duration::from_secs(10));
    let req = ingest::HeartbeatRequest {
        lease_id: lease.lease_id.clone(),
        worker_id: worker.to_string(),
    };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = client.heartbeat(req.clone()).await {
                tracing::warn!(error = %e, "heartbeat failed");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_errors_are_corrupt_io_errors_transient() {
        let corrupt = classify(stdf::StdfError::Empty);
        assert!(matches!(corrupt, ParseFailure::Corrupt(_)));
        let io = stdf::StdfError::Io {
            offset: 0,
            source: std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied"),
        };
        assert!(matches!(classify(io), ParseFailure::Transient(_)));
        let bad_gzip = stdf::StdfError::Io {
            offset: 0,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "corrupt deflate stream"),
        };
        assert!(matches!(classify(bad_gzip), ParseFailure::Corrupt(_)));
    }
}
